"""The classifier: greyscale in [0,1] -> backbone -> activation (the Grad-CAM layer) -> GAP -> ONE linear.

Every architecture has the same head, which is what makes the exported Grad-CAM sidecar exact:
with ``logit_c = sum_k W[c,k] mean(A^k) + b_c`` the gradient d logit_c / d A^k_ij is
``W[c,k] / (h*w)`` everywhere, so Grad-CAM is a 1x1 convolution of the features.

The model takes ``[N, 1, H, W]`` in [0, 1] and itself repeats grey to three channels and applies
the ImageNet normalisation (what torchvision-layout weights files expect), in training and in the
exported graph alike, so no caller can normalise differently.

The Grad-CAM layer is ``CxrNet.act``, a hookable module whose output is the last feature block's
output after its activation. For DenseNet121 it is the ReLU torchvision's forward applies after
``norm5`` (post-ReLU features); for ResNets a ReLU on ``layer4``, whose last block already ends
in one (so it changes nothing); for MobileNetV3, whose last block ends in its own Hardswish, an
identity (the features after the Hardswish, which may be slightly negative: Grad-CAM's ReLU
comes after the weighted sum either way). Which trunk each ``--arch`` is, and its ``act``,
is the registry of ``archs.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .archs import architecture

# ImageNet statistics: the convention of every torchvision-layout weights file a user may have.
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


class CxrNet(nn.Module):
    """Backbone + activation + global average pooling + one linear layer, over normalised grey input.

    Parameter names follow torchvision's (``features.*`` and ``classifier.*``), so weights files
    in torchvision's layout load with few renames (see ``weights.py``).
    """

    # buffers (``register_buffer``), declared so that they type as tensors
    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, arch: str, labels: Sequence[str], drop_rate: float = 0.0, aux_outputs: int = 0) -> None:
        super().__init__()
        spec = architecture(arch)  # ValueError for an unknown arch
        self.arch = arch
        self.labels = tuple(labels)
        self.features, width = spec.build()
        # the Grad-CAM target layer: its output is the ``features`` output of the exported graph
        self.act: nn.Module = nn.ReLU() if spec.activation == "relu" else nn.Identity()
        self.dropout = nn.Dropout(drop_rate) if drop_rate > 0 else nn.Identity()
        self.classifier = nn.Linear(width, len(self.labels))
        # training-only head for the auxiliary targets (``--aux-weight``); never exported
        self.aux_head: nn.Linear | None = nn.Linear(width, aux_outputs) if aux_outputs else None
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1), persistent=False)
        nn.init.zeros_(self.classifier.bias)
        self.channels_last = False

    def set_channels_last(self, enabled: bool) -> None:
        """Keep weights and activations channels-last (fast with bf16 on CPU) or contiguous."""
        self.channels_last = enabled
        self.to(memory_format=torch.channels_last if enabled else torch.contiguous_format)

    @property
    def num_features(self) -> int:
        return self.classifier.in_features

    def feature_maps(self, image: torch.Tensor) -> torch.Tensor:
        """``[N,1,H,W]`` in [0,1] -> the Grad-CAM layer's activations ``[N,C,h,w]`` (post-activation)."""
        x = (image.expand(-1, 3, -1, -1) - self.mean) / self.std
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.act(self.features(x))

    def head(self, features: torch.Tensor) -> torch.Tensor:
        """Activations -> logits: global average pooling and the one linear layer."""
        return self.classifier(self.dropout(features.mean(dim=(2, 3))))

    def forward(self, image: torch.Tensor, with_aux: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Logits ``[N, L]`` (the loss applies the sigmoid); with ``with_aux`` also the auxiliary
        head's logits ``[N, A]`` from the same pooled features (a keyword of ``forward`` rather than
        a second method, so a DDP wrapper sees the call)."""
        if not with_aux:
            return self.head(self.feature_maps(image))
        if self.aux_head is None:
            raise ValueError("this model has no auxiliary head")
        pooled = self.dropout(self.feature_maps(image).mean(dim=(2, 3)))
        return self.classifier(pooled), self.aux_head(pooled)


def build_model(arch: str, labels: Sequence[str], drop_rate: float = 0.0, aux_outputs: int = 0) -> CxrNet:
    """A randomly initialised classifier for ``labels`` (with a training-only head of
    ``aux_outputs`` auxiliary targets when non-zero)."""
    return CxrNet(arch, labels, drop_rate, aux_outputs)
