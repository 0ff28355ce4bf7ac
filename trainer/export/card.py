"""The model card's fields that the trainer knows: input, normalisation, training record.

``pair.export_pair`` adds ``model_id`` and validates the whole card (``ModelCard.from_dict``).
"""

from __future__ import annotations

import datetime as _dt
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from viewer.core.model_card import SCHEMA_VERSION, InputSpec

from .. import __version__
from ..models.network import MEAN, STD

SOURCE_TREE = Path(__file__).resolve().parents[2]  # the checkout holding trainer/ and viewer/


def git_commit() -> str:
    """The commit of the trainer's source tree ("unknown" outside a git checkout), "+dirty"
    when the trainer or viewer.core has uncommitted changes."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=SOURCE_TREE, capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "trainer", "viewer/core"], cwd=SOURCE_TREE,
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "") if commit else "unknown"


def input_fields(size: int) -> dict[str, Any]:
    """The card's ``input`` object: the square size and the preprocessing choices."""
    spec = InputSpec(height=size, width=size)
    return {
        "height": size, "width": size, "channels": 1, "value_range": [0.0, 1.0],
        "windowing": spec.windowing, "resize": spec.resize, "colour": spec.colour,
        "photometric": spec.photometric,
    }


def normalization_fields() -> dict[str, Any]:
    """Informative: what the graph does to the [0,1] grey input before the backbone."""
    return {"repeat_to_channels": 3, "mean": list(MEAN), "std": list(STD),
            "note": "applied inside the classifier graph; callers pass [0,1] grey"}


def card_fields(
    *,
    name: str,
    arch: str,
    labels: Sequence[str],
    size: int,
    thresholds: dict[str, Any],
    calibration: dict[str, Any],
    metrics: dict[str, Any],
    training: dict[str, Any],
    ood: dict[str, Any],
) -> dict[str, Any]:
    """Every card field except ``model_id``; ``training`` gets the trainer version, commit, date."""
    record = {
        "trainer_version": __version__,
        "git_commit": git_commit(),
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        **training,
    }
    return {
        "schema_version": SCHEMA_VERSION,
        "name": name,
        "arch": arch,
        "labels": list(labels),
        "input": input_fields(size),
        "normalization": normalization_fields(),
        "thresholds": thresholds,
        "calibration": calibration,
        "metrics": metrics,
        "training": record,
        "ood": ood,
        "intended_use": "Research and education only. Not for diagnostic use.",
    }
