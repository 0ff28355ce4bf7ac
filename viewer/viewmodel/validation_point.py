"""What a finding's flag is worth at the current operating point, from the card's validation figures.

At the card's own threshold the card's ``thresholds.per_label`` entry says it (validation
sensitivity and specificity, the positives and negatives they rest on, the prevalence and its
source); where the sensitivity control has moved the threshold to a point of the label's
validation ROC (``thresholds.roc``), the curve says it. The expected positive predictive value
follows from them by Bayes' rule at the label's prevalence. A card that lacks a figure (an older
card, a threshold off the curve) gets no number for it, never a guessed one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from viewer.core.model_card import ModelCard

# float32 thresholds (the operating point's) against the card's 6-decimal values
SAME_THRESHOLD = 1e-6


@dataclass(frozen=True)
class ValidationPoint:
    """A label's validation figures at one threshold."""

    sensitivity: float
    specificity: float
    positives: int | None  # validation positives the figures rest on (None: not recorded)
    negatives: int | None
    prevalence: float | None  # for the predictive value (None: not recorded)
    prevalence_source: str | None

    @property
    def ppv(self) -> float | None:
        """Expected positive predictive value at ``prevalence``: sens p / (sens p + (1 - spec)(1 - p))."""
        if self.prevalence is None:
            return None
        p = self.prevalence
        flagged = self.sensitivity * p + (1.0 - self.specificity) * (1.0 - p)
        return self.sensitivity * p / flagged if flagged > 0 else None

    def text(self) -> str:
        """One line for the findings panel."""
        counts = (f"{self.positives} positives" if self.positives is not None else "positives not recorded")
        if self.negatives is not None:
            counts += f", {self.negatives} negatives"
        line = (f"Validation at this operating point: sensitivity {self.sensitivity:.2f}, "
                f"specificity {self.specificity:.2f} ({counts})")
        ppv = self.ppv
        if ppv is not None and self.prevalence is not None:
            source = f", {self.prevalence_source}" if self.prevalence_source else ""
            line += f"; expected PPV {ppv:.2f} at prevalence {100 * self.prevalence:.1f}%{source}"
        return line + "."


def validation_point(card: ModelCard | None, label: str, threshold: float) -> ValidationPoint | None:
    """``label``'s validation figures at ``threshold`` from ``card``, or None where the card
    cannot say them."""
    if card is None or label not in card.labels:
        return None
    entry = _mapping(_mapping(card.thresholds.get("per_label")).get(label))
    rates = None
    if abs(threshold - card.threshold_values()[label]) <= SAME_THRESHOLD:
        sensitivity, specificity = _rate(entry.get("val_sensitivity")), _rate(entry.get("val_specificity"))
        if sensitivity is not None and specificity is not None:
            rates = (sensitivity, specificity)
    if rates is None:
        rates = roc_rates(_mapping(card.thresholds.get("roc")).get(label), threshold)
    if rates is None:
        return None
    prevalence = _rate(entry.get("prevalence"))
    if prevalence is not None and not 0.0 < prevalence < 1.0:
        prevalence = None
    source = entry.get("prevalence_source")
    return ValidationPoint(
        rates[0], rates[1], _count(entry.get("val_positives"), _split_positives(card, label)),
        _count(entry.get("val_negatives")), prevalence,
        source if prevalence is not None and isinstance(source, str) else None)


def roc_rates(curve: Any, threshold: float) -> tuple[float, float] | None:
    """(sensitivity, specificity) of the validation ROC point at ``threshold`` (a point of the
    curve, as the operating point's moved thresholds are); None off the curve or without one."""
    if not isinstance(curve, dict):
        return None
    try:
        cuts = np.asarray(curve["threshold"], np.float64)
        tpr = np.asarray(curve["tpr"], np.float64)
        fpr = np.asarray(curve["fpr"], np.float64)
    except (KeyError, TypeError, ValueError):
        return None
    if cuts.ndim != 1 or cuts.shape != tpr.shape or cuts.shape != fpr.shape:
        return None
    at = np.flatnonzero(np.abs(cuts - threshold) <= SAME_THRESHOLD)
    if at.size == 0:
        return None
    i = int(at[0])
    sensitivity, false_positive_rate = _rate(float(tpr[i])), _rate(float(fpr[i]))
    if sensitivity is None or false_positive_rate is None:
        return None
    return sensitivity, 1.0 - false_positive_rate


def _split_positives(card: ModelCard, label: str) -> int | None:
    """The validation split's positives of ``label`` as the card's ``metrics.split`` records them
    (older cards have no count in ``per_label``)."""
    split = _mapping(_mapping(card.metrics).get("split"))
    return _count(_mapping(_mapping(split.get("positives")).get("val")).get(label))


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _rate(value: Any) -> float | None:
    """``value`` as a rate in [0, 1], or None for anything else (bools and NaN included)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) \
            and 0.0 <= float(value) <= 1.0:
        return float(value)
    return None


def _count(*values: Any) -> int | None:
    """The first value that is a count (a non-negative integer), else None."""
    for value in values:
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
    return None
