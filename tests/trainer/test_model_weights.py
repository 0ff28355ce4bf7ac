"""trainer.models: the arch registry, GAP + one linear head on every arch, and --weights files."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import pytest
import torch
import torchvision

from trainer.config import ARCHS, TrainConfig, check_config
from trainer.errors import TrainerError
from trainer.models import archs
from trainer.models.network import build_model
from trainer.models.weights import load_weights, normalise_key
from viewer.core.nih import NIH_LABELS


@pytest.mark.parametrize(("arch", "channels"), [("tiny", 32), ("densenet121", 1024), ("resnet18", 512),
        ("resnet50", 2048), ("mobilenet_v3_large", 960), ("mobilenet_v3_small", 576), ("mobilenet_v2", 1280),
        ("vgg16", 512)])
def test_every_arch_ends_in_gap_and_one_linear_layer(arch: str, channels: int) -> None:
    torch.manual_seed(0)
    net = build_model(arch, NIH_LABELS).eval()
    images = torch.rand(2, 1, 64, 64)
    with torch.no_grad():
        features = net.feature_maps(images)
        logits = net(images)
    assert features.shape[:2] == (2, channels) and logits.shape == (2, 14)
    # the only modules after the Grad-CAM layer: the one linear layer (and dropout)
    assert [name for name, m in net.named_children()] == ["features", "act", "dropout", "classifier"]
    assert isinstance(net.classifier, torch.nn.Linear)
    expected = features.mean(dim=(2, 3)) @ net.classifier.weight.T + net.classifier.bias
    torch.testing.assert_close(logits, expected, rtol=1e-5, atol=1e-5)


def test_the_command_line_offers_exactly_the_registered_archs() -> None:
    assert ARCHS == tuple(archs.ARCHITECTURES) == (
        "densenet121", "resnet18", "resnet50", "mobilenet_v3_large", "mobilenet_v3_small", "mobilenet_v2", "vgg16",
        "tiny")
    with pytest.raises(TrainerError, match="--arch must be one of densenet121, resnet18"):
        check_config(TrainConfig(data="d", out="o", arch="vgg19"))
    with pytest.raises(ValueError, match="unknown arch 'vgg19'"):
        build_model("vgg19", NIH_LABELS)


def test_a_registered_arch_is_built_with_its_grad_cam_layer(monkeypatch: pytest.MonkeyPatch) -> None:
    """The plug-in point: a builder registered by name is what ``CxrNet`` puts the head on."""
    monkeypatch.setattr(archs, "ARCHITECTURES", dict(archs.ARCHITECTURES))

    @archs.register("two_convs", activation="identity")
    def two_convs() -> tuple[torch.nn.Module, int]:
        return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, stride=2), torch.nn.Conv2d(4, 6, 3, stride=2)), 6

    net = build_model("two_convs", NIH_LABELS)
    assert isinstance(net.act, torch.nn.Identity) and net.classifier.in_features == 6
    assert net(torch.rand(1, 1, 32, 32)).shape == (1, 14)
    with pytest.raises(ValueError, match="registered twice"):
        archs.register("two_convs")(two_convs)
    with pytest.raises(ValueError, match="activation must be one of relu, identity"):
        archs.register("other", activation="gelu")


@pytest.mark.parametrize("arch", ["densenet121", "resnet18", "tiny"])
def test_the_grad_cam_layer_is_post_relu(arch: str) -> None:
    net = build_model(arch, NIH_LABELS).eval()
    assert isinstance(net.act, torch.nn.ReLU)
    with torch.no_grad():
        assert float(net.feature_maps(torch.rand(2, 1, 64, 64)).min()) >= 0.0


@pytest.mark.parametrize("arch", ["mobilenet_v3_large", "mobilenet_v3_small"])
def test_mobilenet_grad_cam_layer_is_the_last_block_after_its_hardswish(arch: str) -> None:
    torch.manual_seed(0)
    net = build_model(arch, NIH_LABELS).eval()
    last = net.features[-1]
    assert isinstance(last[-1], torch.nn.Hardswish) and isinstance(net.act, torch.nn.Identity)
    seen = {}
    last.register_forward_hook(lambda module, args, output: seen.setdefault("block", output))
    net.act.register_forward_hook(lambda module, args, output: seen.setdefault("act", output))
    with torch.no_grad():
        features = net.feature_maps(torch.rand(2, 1, 64, 64))
    assert torch.equal(seen["act"], seen["block"]) and torch.equal(features, seen["block"])
    assert float(features.min()) >= -3 / 8  # Hardswish's least value: no ReLU was added after it


def test_mobilenet_v2_grad_cam_layer_is_the_last_block_after_its_relu6() -> None:
    """An identity after the Conv-BN-ReLU6 block: the Grad-CAM layer is the block's own output."""
    torch.manual_seed(0)
    net = build_model("mobilenet_v2", NIH_LABELS).eval()
    last = net.features[-1]
    assert isinstance(last[-1], torch.nn.ReLU6) and isinstance(net.act, torch.nn.Identity)
    seen = {}
    last.register_forward_hook(lambda module, args, output: seen.setdefault("block", output))
    net.act.register_forward_hook(lambda module, args, output: seen.setdefault("act", output))
    with torch.no_grad():
        features = net.feature_maps(torch.rand(2, 1, 64, 64))
    assert torch.equal(seen["act"], seen["block"]) and torch.equal(features, seen["block"])
    assert features.shape == (2, 1280, 2, 2)  # stride 32
    assert 0.0 <= float(features.min()) and float(features.max()) <= 6.0


def test_vgg16_trunk_is_torchvision_features_up_to_the_last_relu() -> None:
    """torchvision's layers and names without the final MaxPool: the Grad-CAM map is features.29's
    output (stride 16, 4x4 at 64 px; 14x14 at 224), post-ReLU, followed by GAP + one linear."""
    torch.manual_seed(0)
    net = build_model("vgg16", NIH_LABELS).eval()
    reference = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["D"])  # vgg16().features
    assert isinstance(reference[30], torch.nn.MaxPool2d) and len(net.features) == 30
    assert [type(m) for m in net.features] == [type(m) for m in reference][:30]
    assert {k: v.shape for k, v in net.features.state_dict().items()} == {
        k: v.shape for k, v in reference.state_dict().items()}
    assert isinstance(net.features[29], torch.nn.ReLU) and isinstance(net.act, torch.nn.ReLU)
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in net.modules())
    # torchvision's initialisation: He normal by fan-out, zero biases (the last conv: fan-out 512*9)
    conv = net.features[28]
    assert float(conv.bias.detach().abs().max()) == 0.0
    assert float(conv.weight.detach().std()) == pytest.approx((2 / (512 * 9)) ** 0.5, rel=0.02)
    with torch.no_grad():
        features = net.feature_maps(torch.rand(2, 1, 64, 64))
    assert features.shape == (2, 512, 4, 4) and float(features.min()) >= 0.0


def test_grey_input_is_normalised_inside_the_model() -> None:
    net = build_model("tiny", NIH_LABELS).eval()
    grey = torch.rand(1, 1, 64, 64)
    rgb = (grey.expand(-1, 3, -1, -1) - net.mean) / net.std
    with torch.no_grad():
        torch.testing.assert_close(net.feature_maps(grey), net.act(net.features(rgb)))


def save(state: dict, path: Path) -> Path:
    torch.save(state, path)
    return path


@pytest.fixture(scope="module")
def densenet_state() -> OrderedDict:
    torch.manual_seed(1)
    return torchvision.models.densenet121(weights=None).state_dict()  # ImageNet layout: 1000 outputs


def assert_backbone_loaded(net: torch.nn.Module, state: dict, rename=lambda k: k) -> None:
    own = net.state_dict()
    for key, value in state.items():
        name = rename(key)
        if name.startswith("classifier"):
            continue
        assert torch.equal(own[name], value), name


def test_torchvision_densenet_file_loads_and_its_1000_class_head_is_left(densenet_state: OrderedDict,
                                                                         tmp_path: Path) -> None:
    net = build_model("densenet121", NIH_LABELS)
    head_before = net.classifier.weight.clone()
    report = load_weights(net, save(densenet_state, tmp_path / "imagenet.pth"))
    assert_backbone_loaded(net, densenet_state)
    assert not report.head_loaded and torch.equal(net.classifier.weight, head_before)
    assert report.backbone == len([k for k in densenet_state if not k.startswith("classifier")])


def test_chexnet_style_file_with_module_prefix_and_old_keys(densenet_state: OrderedDict, tmp_path: Path) -> None:
    """``module.densenet121.`` wrappers, pre-0.3 ``norm.1`` names and a 14-output ``classifier.0``."""
    def old_name(key: str) -> str:
        for part in ("norm1", "relu1", "conv1", "norm2", "relu2", "conv2"):
            key = key.replace(f".{part}.", f".{part[:-1]}.{part[-1]}.")
        return key

    torch.manual_seed(2)
    head_w, head_b = torch.randn(14, 1024), torch.randn(14)
    state = {f"module.densenet121.{old_name(k)}": v for k, v in densenet_state.items()
             if not k.startswith("classifier") and not k.endswith("num_batches_tracked")}
    assert "module.densenet121.features.denseblock1.denselayer1.norm.1.weight" in state
    state["module.densenet121.classifier.0.weight"] = head_w
    state["module.densenet121.classifier.0.bias"] = head_b
    path = save({"epoch": 3, "state_dict": state}, tmp_path / "chexnet.pth.tar")
    net = build_model("densenet121", NIH_LABELS)
    report = load_weights(net, path)
    assert_backbone_loaded(net, {k: v for k, v in densenet_state.items() if not k.endswith("num_batches_tracked")})
    assert report.head_loaded
    assert torch.equal(net.classifier.weight, head_w) and torch.equal(net.classifier.bias, head_b)


def test_normalise_key_examples() -> None:
    assert normalise_key("module.module.features.conv0.weight") == "features.conv0.weight"
    expected = "features.denseblock2.denselayer3.conv2.weight"
    assert normalise_key("features.denseblock2.denselayer3.conv.2.weight") == expected
    assert normalise_key("densenet121.classifier.0.bias") == "densenet121.classifier.bias"


@pytest.mark.parametrize("arch", ["mobilenet_v3_large", "mobilenet_v3_small"])
def test_torchvision_mobilenet_file_loads_and_its_two_layer_head_is_left(arch: str, tmp_path: Path) -> None:
    torch.manual_seed(4)
    state = getattr(torchvision.models, arch)(weights=None).state_dict()  # classifier.0 and classifier.3
    net = build_model(arch, NIH_LABELS)
    head_before = net.classifier.weight.clone()
    report = load_weights(net, save({"module." + k: v for k, v in state.items()}, tmp_path / f"{arch}.pth"))
    assert_backbone_loaded(net, state)
    assert not report.head_loaded and torch.equal(net.classifier.weight, head_before)
    assert set(report.ignored) >= {"module.classifier.3.weight", "module.classifier.3.bias"}


def vgg16_file_state() -> OrderedDict:
    """A file in torchvision's vgg16 layout: its names and shapes (taken from the model built on the
    meta device), random values. The classifier's tensors are cut to 16 rows and columns: the real
    ones (25088x4096, 4096x4096, 4096x1000) take seconds and 0.5 GB to make and write, and the
    loader reads only their names and that their shapes are not the new head's."""
    with torch.device("meta"):
        layout = torchvision.models.vgg16(weights=None).state_dict()
    assert [k for k in layout if k.startswith("classifier")] == [
        f"classifier.{i}.{p}" for i in (0, 3, 6) for p in ("weight", "bias")]
    generator = torch.Generator().manual_seed(5)
    return OrderedDict(
        (k, torch.randn([min(d, 16) for d in v.shape] if k.startswith("classifier") else v.shape, generator=generator))
        for k, v in layout.items())


@pytest.mark.parametrize("arch", ["mobilenet_v2", "vgg16"])
def test_torchvision_mobilenet_v2_and_vgg16_files_load_and_their_heads_are_left(
        arch: str, tmp_path: Path) -> None:
    torch.manual_seed(6)
    state = vgg16_file_state() if arch == "vgg16" else torchvision.models.mobilenet_v2(weights=None).state_dict()
    net = build_model(arch, NIH_LABELS)
    head_before = net.classifier.weight.clone()
    report = load_weights(net, save(state, tmp_path / f"{arch}.pth"))
    assert_backbone_loaded(net, state)
    assert report.backbone == len([k for k in state if not k.startswith("classifier")])
    assert not report.head_loaded and torch.equal(net.classifier.weight, head_before)
    # mobilenet_v2's head is classifier.1 (after a dropout); vgg16's classifier.0 takes the name of
    # the new head, but not its shape, and classifier.3 and .6 have no place
    left = {"classifier.1.weight", "classifier.1.bias"} if arch == "mobilenet_v2" else {
        f"classifier.{i}.{p}" for i in (3, 6) for p in ("weight", "bias")}
    assert set(report.ignored) >= left


def test_torchvision_resnet_names_map_to_the_trunk(tmp_path: Path) -> None:
    torch.manual_seed(3)
    state = torchvision.models.resnet18(weights=None, num_classes=14).state_dict()
    net = build_model("resnet18", NIH_LABELS)
    report = load_weights(net, save(state, tmp_path / "resnet18.pth"))
    assert report.head_loaded
    assert torch.equal(net.state_dict()["features.layer4.1.conv2.weight"], state["layer4.1.conv2.weight"])
    assert torch.equal(net.classifier.weight, state["fc.weight"])


def test_own_checkpoint_loads(tmp_path: Path) -> None:
    source = build_model("tiny", NIH_LABELS)
    path = save({"format": "cxr-train-checkpoint-v1", "model": source.state_dict()}, tmp_path / "model.pt")
    net = build_model("tiny", NIH_LABELS)
    assert load_weights(net, path).head_loaded
    for key, value in source.state_dict().items():
        assert torch.equal(net.state_dict()[key], value)


@pytest.mark.parametrize(
    ("file_arch", "arch", "message"),
    [
        ("resnet18", "densenet121", "do not fit --arch densenet121"),
        ("resnet50", "resnet18", "do not fit --arch resnet18"),
        ("resnet34", "resnet18", "file tensors have no place in it"),  # same names, more blocks
        ("densenet121", "mobilenet_v3_large", "do not fit --arch mobilenet_v3_large"),
        ("mobilenet_v3_large", "densenet121", "do not fit --arch densenet121"),
        ("mobilenet_v3_small", "mobilenet_v3_large", "do not fit --arch mobilenet_v3_large"),
        ("mobilenet_v3_large", "mobilenet_v3_small", "do not fit --arch mobilenet_v3_small"),
        ("mobilenet_v2", "mobilenet_v3_small", "do not fit --arch mobilenet_v3_small"),
        ("mobilenet_v3_small", "mobilenet_v2", "do not fit --arch mobilenet_v2"),
        ("vgg16_bn", "vgg16", "do not fit --arch vgg16"),  # the same features, but with BatchNorm layers
    ],
)
def test_weights_of_another_arch_are_refused(tmp_path: Path, file_arch: str, arch: str, message: str) -> None:
    if file_arch == "vgg16_bn":  # its features as torchvision names them (the whole network: a 0.5 GB file)
        layers = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["D"], batch_norm=True)
        state = {f"features.{k}": v for k, v in layers.state_dict().items()}
    else:
        state = getattr(torchvision.models, file_arch)(weights=None).state_dict()
    net = build_model(arch, NIH_LABELS)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with pytest.raises(TrainerError, match=message):
        load_weights(net, save(state, tmp_path / f"{file_arch}.pth"))
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())  # nothing half-loaded


def test_unreadable_weights_files(tmp_path: Path) -> None:
    net = build_model("tiny", NIH_LABELS)
    garbage = tmp_path / "weights.pth"
    garbage.write_bytes(b"this is not a torch file")
    with pytest.raises(TrainerError, match="not a PyTorch weights file"):
        load_weights(net, garbage)
    with pytest.raises(TrainerError, match="weights file not found"):
        load_weights(net, tmp_path / "missing.pth")
    with pytest.raises(TrainerError, match="no state dict of tensors"):
        load_weights(net, save({"epoch": 1, "note": "nothing"}, tmp_path / "empty.pth"))
