"""Mixed precision for the training step: autocast, and a gradient scaler where fp16 needs one.

``--precision``:

* ``auto`` (default): on CUDA bf16 where the GPU has it (Ampere and later), else fp16; on the
  CPU full precision.
* ``bf16``: autocast to bfloat16. Same exponent range as fp32, so no scaler. On a CPU with AMX
  or AVX-512 BF16 it is the fast way to train there (with channels-last, 3-4x fp32).
* ``fp16``: autocast to float16 with a ``GradScaler`` (small gradients would underflow in fp16
  without it). On the CPU it falls back to full precision, saying so once in the log.
* ``fp32``: full precision.

Only the forward pass runs in the lower precision; the weights, the loss, the optimizer and
validation stay fp32.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..config import PRECISIONS

log = logging.getLogger(__name__)


@dataclass
class StepPrecision:
    """How one training step computes: the autocast dtype (None: fp32) and the gradient scaler."""

    device_type: str
    dtype: torch.dtype | None = None
    scaler: torch.amp.GradScaler | None = None

    @property
    def name(self) -> str:
        return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.dtype]

    @property
    def mixed(self) -> bool:
        return self.dtype is not None

    def autocast(self) -> AbstractContextManager[Any]:
        """The forward pass's context: autocast to ``dtype``, or nothing."""
        return torch.autocast(self.device_type, dtype=self.dtype or torch.float32, enabled=self.mixed)

    def step(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer, parameters: Iterable[nn.Parameter],
             grad_clip: float = 0.0) -> bool:
        """Backward pass and optimizer step; ``False`` when the scaler skipped the step because
        the fp16 gradients overflowed (the scale is lowered and the next step tries again)."""
        optimizer.zero_grad(set_to_none=True)
        if self.scaler is None:
            loss.backward()
            if grad_clip > 0:
                nn.utils.clip_grad_norm_(parameters, grad_clip)
            optimizer.step()
            return True
        self.scaler.scale(loss).backward()
        if grad_clip > 0:
            self.scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
            nn.utils.clip_grad_norm_(parameters, grad_clip)
        scale = self.scaler.get_scale()
        self.scaler.step(optimizer)
        self.scaler.update()
        return self.scaler.get_scale() >= scale  # the scale drops only when the step was skipped

    def state_dict(self) -> dict[str, Any] | None:
        return self.scaler.state_dict() if self.scaler is not None else None

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        if self.scaler is not None and state:
            self.scaler.load_state_dict(state)


def choose_precision(name: str, device: torch.device, *, fp16_on_cpu: bool = False) -> StepPrecision:
    """The step precision ``--precision name`` means on ``device``.

    ``fp16_on_cpu`` runs fp16 autocast and the scaler on the CPU too: only for testing that code
    path on a machine without a GPU (torch supports both on the CPU, slowly).
    """
    if name not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {name!r}")
    cuda = device.type == "cuda"
    if name == "auto":
        if not cuda:
            return StepPrecision(device.type)
        name = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if name == "fp32":
        return StepPrecision(device.type)
    if name == "bf16":
        return StepPrecision(device.type, torch.bfloat16)
    if not cuda and not fp16_on_cpu:
        log.info("--precision fp16 needs a GPU: training in full precision (fp32) on the CPU "
                 "(bf16 is the fast choice on CPUs with AMX or AVX-512 BF16)")
        return StepPrecision(device.type)
    return StepPrecision(device.type, torch.float16, torch.amp.GradScaler(device.type))
