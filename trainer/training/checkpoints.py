"""Checkpoint files: written whole or not at all, read back only if they are this trainer's.

A checkpoint is a dict of plain values and tensors (``torch.save``; read with
``weights_only=True``, so a file can never run code): the header of ``checkpoint_header``
(format, trainer version, configuration, arch, labels, input size, split hash, epoch) and the
model's state dict, plus, in ``last.pt``, everything a resumed run needs (``Trainer.save``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import torch

from viewer.core.errors import one_line

from .. import __version__
from ..config import TrainConfig
from ..errors import TrainerError

CHECKPOINT_FORMAT = "cxr-train-checkpoint-v1"


def checkpoint_header(config: TrainConfig, arch: str, labels: tuple[str, ...] | list[str], split_hash: str,
                      epoch: int) -> dict[str, Any]:
    """What every checkpoint file carries besides tensors: config, arch, labels, split."""
    return {
        "format": CHECKPOINT_FORMAT,
        "trainer_version": __version__,
        "config": config.to_dict(),
        "arch": arch,
        "labels": list(labels),
        "size": config.size,
        "split_hash": split_hash,
        "epoch": epoch,
    }


def plain_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A detached copy, without the ``module.`` prefix and counter an ``AveragedModel`` adds."""
    return {k.removeprefix("module."): v.detach().cpu().clone(memory_format=torch.contiguous_format)
            for k, v in state.items() if k != "n_averaged"}


def atomic_save(state: dict[str, Any], path: Path) -> None:
    """Write ``path`` whole or not at all: into ``NAME.tmp``, flushed to disk, then renamed.

    A run killed while writing (or a disk that fills up) leaves the previous checkpoint intact.
    """
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        with open(tmp, "wb") as handle:
            torch.save(state, handle)
            handle.flush()
            os.fsync(handle.fileno())
    except (OSError, RuntimeError) as exc:  # torch reports a full disk as a RuntimeError
        tmp.unlink(missing_ok=True)
        free = shutil.disk_usage(path.parent).free
        raise TrainerError(f"{path}: could not be written "
                           f"({one_line(exc, 200)}; {free / 1e6:.1f} MB free on its disk); "
                           "the previous checkpoint is kept: free some space and continue with --resume") from None
    tmp.replace(path)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """A checkpoint written by this trainer, or ``TrainerError`` saying what the file is not."""
    path = Path(path)
    if not path.is_file():
        raise TrainerError(f"{path}: checkpoint not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError, RuntimeError (not a zip), EOFError
        raise TrainerError(f"{path}: not a readable checkpoint ({one_line(exc, 200)})") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise TrainerError(f"{path}: not a cxr-train checkpoint (use a .pt file from a run's checkpoints folder)")
    return state
