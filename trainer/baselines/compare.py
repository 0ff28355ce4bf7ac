"""Every column of the comparison measured the same way: the network's probabilities and each
baseline's scores on the same test images, by ``trainer.evaluation.metrics.evaluate_scores``
(AUROC per finding with a patient-bootstrap 95% interval, the mean over findings, PR-AUC).

The same seed and the same patients give every column the same bootstrap draws, so the
intervals are comparable column to column. A finding a baseline could not train (no positives
among its training images) is left out of that column's measures and named in
``not_evaluable``; its mean is then over fewer findings, which the table says.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..evaluation.metrics import evaluate_scores


@dataclass
class Column:
    """One column of the table: who scored (``model`` on ``features``), the test scores [N, L]
    (NaN where not evaluable) and why findings were not evaluable."""

    key: str
    title: str
    model: str
    features: str
    scores: np.ndarray
    not_evaluable: Mapping[str, str] = field(default_factory=dict)


def measure_column(column: Column, targets: np.ndarray, labels: Sequence[str], groups: Sequence[int],
                   resamples: int, seed: int) -> dict[str, Any]:
    """``evaluate_scores`` of the column's evaluable findings, as JSON; the others' AUROC is None
    and ``not_evaluable`` says why."""
    keep = [j for j, label in enumerate(labels) if label not in column.not_evaluable]
    report = evaluate_scores(targets[:, keep], column.scores[:, keep], [labels[j] for j in keep], resamples, seed,
                             groups=groups).to_dict() if keep else {
        "auroc": {}, "mean_auroc": None, "mean_auroc_ci95": None, "labels_with_auroc": 0,
        "average_precision": {}, "mean_average_precision": None, "n_images": len(targets)}
    report["auroc"] = {label: report["auroc"].get(label) for label in labels}  # the card's order, all findings
    report["average_precision"] = {label: report["average_precision"].get(label) for label in labels}
    return {"key": column.key, "title": column.title, "model": column.model, "features": column.features,
            "not_evaluable": dict(column.not_evaluable), "report": report}


def measure_columns(columns: Sequence[Column], targets: np.ndarray, labels: Sequence[str],
                    groups: Sequence[int], resamples: int = 1000, seed: int = 0) -> list[dict[str, Any]]:
    """``measure_column`` of each column, in order."""
    return [measure_column(c, targets, labels, groups, resamples, seed) for c in columns]


def json_scores(scores: np.ndarray) -> list[list[float | None]]:
    """Scores as JSON lists, None for NaN (JSON has no NaN)."""
    return [[None if np.isnan(v) else float(v) for v in row] for row in np.asarray(scores, np.float64)]
