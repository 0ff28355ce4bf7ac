"""Each label's operating point, chosen on validation: Youden's J, and the validation ROC in the card.

``choose_thresholds`` gives the card's ``thresholds`` object (rule, a value per label, how each
was found, and each label's validation ROC, along which the viewer's sensitivity control moves).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .metrics import known_rows

THRESHOLD_RULE = (
    "Youden's J (max sensitivity + specificity - 1) on the validation split's calibrated "
    "probabilities; flag when probability >= threshold (threshold halfway between the cut score "
    "and the next lower one); 0.5 where validation has no positives or no negatives"
)


def youden_threshold(y_true: np.ndarray, y_prob: np.ndarray) -> tuple[float, float, float] | None:
    """(threshold, sensitivity, specificity) maximising Youden's J; None with one class only
    (rows of unknown target, NaN, left out)."""
    known_true, y_prob = known_rows(y_true, y_prob)
    y_true = known_true > 0.5
    n_pos, n_neg = int(y_true.sum()), int((~y_true).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(-np.asarray(y_prob, np.float64), kind="mergesort")
    prob, positive = np.asarray(y_prob, np.float64)[order], y_true[order]
    last_of_group = np.flatnonzero(np.r_[prob[1:] != prob[:-1], True])  # flag all >= prob[i]
    tp = np.cumsum(positive)[last_of_group]
    fp = np.cumsum(~positive)[last_of_group]
    j = tp / n_pos - fp / n_neg
    best = int(np.argmax(j))
    cut = prob[last_of_group[best]]
    lower = prob[last_of_group[best + 1]] if best + 1 < len(last_of_group) else cut
    threshold = float(np.clip((cut + lower) / 2, 0.0, 1.0))
    return threshold, float(tp[best] / n_pos), float(1 - fp[best] / n_neg)


@dataclass(frozen=True)
class Thresholds:
    """Each label's threshold, the rule that chose it and how it was found for each label, and the
    validation ROC curves; ``to_card`` is the card's ``thresholds`` object."""

    rule: str
    values: dict[str, float]
    per_label: dict[str, dict[str, Any]]  # {"rule": "youden", "val_sensitivity", ...} or the fallback's
    roc: dict[str, dict[str, list[float]]]  # label -> {"threshold", "tpr", "fpr"}

    def to_card(self) -> dict[str, Any]:
        return {"rule": self.rule, "values": self.values, "per_label": self.per_label, "roc": self.roc}


def choose_thresholds(targets: np.ndarray, probabilities: np.ndarray, labels: Sequence[str]) -> Thresholds:
    """Each label's Youden threshold on validation (0.5 where validation has one class only)."""
    values: dict[str, float] = {}
    per_label: dict[str, dict[str, Any]] = {}
    for j, label in enumerate(labels):
        found = youden_threshold(targets[:, j], probabilities[:, j])
        if found is None:
            values[label] = 0.5
            per_label[label] = {"rule": "fallback 0.5 (validation has one class only)"}
        else:
            threshold, sensitivity, specificity = found
            values[label] = round(threshold, 6)
            per_label[label] = {"rule": "youden", "val_sensitivity": round(sensitivity, 4),
                                "val_specificity": round(specificity, 4)}
    return Thresholds(THRESHOLD_RULE, values, per_label, validation_roc(targets, probabilities, labels))


ROC_FULL_UP_TO = 2000  # validation images; above this the curves are thinned (card size)


def validation_roc(targets: np.ndarray, probabilities: np.ndarray, labels: Sequence[str]) -> dict[str, Any]:
    """Each label's validation ROC (``threshold``, ``tpr``, ``fpr`` lists, thresholds descending,
    without scikit-learn's first, infinite threshold): the viewer's sensitivity control moves
    along it. Labels with one class only in validation have none."""
    from sklearn.metrics import roc_curve

    curves: dict[str, Any] = {}
    thin = len(targets) > ROC_FULL_UP_TO
    for j, label in enumerate(labels):
        known_true, probs = known_rows(targets[:, j], probabilities[:, j])
        y = known_true > 0.5
        if y.all() or not y.any():
            continue
        fpr, tpr, thresholds = roc_curve(y, probs, drop_intermediate=thin)
        finite = np.isfinite(thresholds)
        curves[label] = {
            "threshold": [round(float(t), 6) for t in thresholds[finite]],
            "tpr": [round(float(t), 6) for t in tpr[finite]],
            "fpr": [round(float(f), 6) for f in fpr[finite]],
        }
    return curves
