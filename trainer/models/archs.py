"""The architectures ``--arch`` names: each one's convolutional trunk and its Grad-CAM layer.

This registry is where a new architecture plugs in: a function decorated with
``@register(NAME, activation)`` that builds the trunk with random weights (nothing is ever
downloaded) and returns it with its output width C. ``CxrNet`` (``network.py``) puts the same
head on every trunk: ``act`` (the Grad-CAM layer), global average pooling and one linear layer,
which is what makes the exported Grad-CAM sidecar exact. A trunk must therefore map the
normalised 3-channel image to one feature map [N, C, h, w]; ``activation`` says what ``act`` is:
``"relu"`` when the trunk's last block ends before its activation (DenseNet's ``norm5``) or in a
ReLU (a second one changes nothing), ``"identity"`` when it ends in an activation of its own
(MobileNetV3's Hardswish, MobileNetV2's ReLU6). Name the trunk's parameters as torchvision
does, so that weights files in torchvision's layout load (``weights.py``). The command line lists
and checks ``--arch`` from this registry without importing torch, so each builder imports
torchvision itself.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn

Builder = Callable[[], "tuple[nn.Module, int]"]
ACTIVATIONS = ("relu", "identity")


@dataclass(frozen=True)
class Architecture:
    """One ``--arch``: how to build its trunk, and what its Grad-CAM layer is."""

    name: str
    build: Builder  # () -> (trunk with random weights, its output channels)
    activation: str  # one of ACTIVATIONS: ``CxrNet.act``


ARCHITECTURES: dict[str, Architecture] = {}  # in the order the command line's help lists them


def register(name: str, activation: str = "relu") -> Callable[[Builder], Builder]:
    """Add the decorated trunk builder to ``ARCHITECTURES`` as ``--arch name``."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, not {activation!r}")

    def add(build: Builder) -> Builder:
        if name in ARCHITECTURES:
            raise ValueError(f"architecture {name!r} is registered twice")
        ARCHITECTURES[name] = Architecture(name, build, activation)
        return build

    return add


def architecture(name: str) -> Architecture:
    """The registered architecture ``name``; ``ValueError`` for an unknown one."""
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise ValueError(f"unknown arch {name!r}") from None


def build_backbone(arch: str) -> tuple[nn.Module, int]:
    """The convolutional trunk of ``arch`` (random weights) and its width."""
    return architecture(arch).build()


@register("densenet121")
def _densenet121() -> tuple[nn.Module, int]:
    # torchvision's DenseNet ends its ``features`` with norm5 (BatchNorm); its forward applies
    # the ReLU afterwards, which here is ``CxrNet.act``: the Grad-CAM layer is post-ReLU.
    import torchvision

    net = torchvision.models.densenet121(weights=None)
    return net.features, net.classifier.in_features


def _resnet(name: str) -> tuple[nn.Module, int]:
    import torchvision
    from torch import nn

    net = getattr(torchvision.models, name)(weights=None)
    trunk = nn.Sequential(OrderedDict(
        (key, getattr(net, key))
        for key in ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4")
    ))
    return trunk, net.fc.in_features


@register("resnet18")
def _resnet18() -> tuple[nn.Module, int]:
    return _resnet("resnet18")


@register("resnet50")
def _resnet50() -> tuple[nn.Module, int]:
    return _resnet("resnet50")


def _mobilenet_v3(name: str) -> tuple[nn.Module, int]:
    # ``features`` ends with a 1x1 Conv-BN-Hardswish block (960 channels large, 576 small);
    # torchvision's two-layer classifier after it is replaced by the one linear layer.
    import torchvision

    net = getattr(torchvision.models, name)(weights=None)
    return net.features, net.features[-1].out_channels


@register("mobilenet_v3_large", activation="identity")
def _mobilenet_v3_large() -> tuple[nn.Module, int]:
    return _mobilenet_v3("mobilenet_v3_large")


@register("mobilenet_v3_small", activation="identity")
def _mobilenet_v3_small() -> tuple[nn.Module, int]:
    return _mobilenet_v3("mobilenet_v3_small")


@register("mobilenet_v2", activation="identity")
def _mobilenet_v2() -> tuple[nn.Module, int]:
    # ``features`` ends with a 1x1 Conv-BN-ReLU6 block (1280 channels), an activation of its own:
    # ``act`` is an identity, so the Grad-CAM layer is that block's output. A ReLU there would
    # compute the same numbers (ReLU6 is never negative) but name a layer that is not the block.
    # torchvision's classifier (dropout, one linear layer) is replaced by this project's head.
    import torchvision

    net = torchvision.models.mobilenet_v2(weights=None)
    return net.features, net.last_channel


@register("vgg16")
def _vgg16() -> tuple[nn.Module, int]:
    # torchvision's ``features`` without their last MaxPool (index 30): the trunk ends in the last
    # conv's ReLU (features.29, the layer Grad-CAM on VGG usually takes), so the map is 14x14 at
    # 224 px rather than the pooled 7x7. The pool has no parameters, and the layers keep
    # torchvision's indices as names (features.0 ... features.28), so its weights files load.
    # torchvision's AdaptiveAvgPool to 7x7 and three linear layers are replaced by this project's
    # GAP + one linear layer. The trunk ends in a ReLU, so ``act`` is a ReLU as for ResNets (a
    # second one changes nothing). No BatchNorm anywhere: see docs/trainer.md for what that means.
    import torchvision
    from torch import nn

    # the layers vgg16() builds, made without its classifier: 120M parameters (1 s and 0.5 GB to
    # initialise), all thrown away
    features = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["D"], batch_norm=False)
    for module in features.modules():  # torchvision's VGG initialisation of these layers
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    last_conv = 28  # then features.29 (ReLU) and features.30 (MaxPool), which is left out
    return features[:last_conv + 2], features[last_conv].out_channels


@register("tiny")
def _tiny() -> tuple[nn.Module, int]:
    """Three strided convolutions: for tests and smoke runs only (64 px -> 8x8x32 features)."""
    from torch import nn

    layers: OrderedDict[str, nn.Module] = OrderedDict()
    channels = (3, 8, 16, 32)
    for i, (cin, cout) in enumerate(zip(channels, channels[1:])):
        layers[f"conv{i}"] = nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False)
        layers[f"norm{i}"] = nn.BatchNorm2d(cout)
        if i < len(channels) - 2:
            layers[f"relu{i}"] = nn.ReLU()
    return nn.Sequential(layers), channels[-1]
