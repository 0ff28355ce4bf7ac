"""Where a run computes: the device of ``--device`` and the loader processes of ``--workers``."""

from __future__ import annotations

import os

import torch

from ..errors import TrainerError


def resolve_device(name: str) -> torch.device:
    """``auto`` is CUDA when torch sees a GPU, else the CPU; ``cuda`` without one is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise TrainerError("--device cuda, but torch sees no CUDA GPU here (use --device cpu or auto)")
    return torch.device(name)


def resolve_workers(workers: int, device: torch.device, processes_per_machine: int = 1) -> int:
    """``--workers`` as a number: -1 (auto) feeds a GPU from several processes (its share of the
    cores, at most 8); on the CPU the training itself needs the cores, and the cached images
    need little work to augment, so none."""
    if workers >= 0:
        return workers
    if device.type != "cuda":
        return 0
    return max(1, min(8, (os.cpu_count() or 2) // max(1, processes_per_machine) - 1))
