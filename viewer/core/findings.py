"""What the model says about an image (``Findings``) and the one rule for "flagged".

A finding is flagged when its probability is ``>=`` its threshold, compared at the precision of
the probabilities: a threshold is first converted to the probabilities' float type. The viewer's
probabilities are float32 and a card's threshold of 0.7 becomes float32 0.7 (just below 0.7), so
a probability the model gives as exactly that value is flagged, as the card means; the trainer's
float64 probabilities meet float64 thresholds. ``flagged`` is the rule for single values or one
label's column, ``flags_at`` for every label at once (thresholds in label order or by label).

Numpy only: the viewer (``inference``, batch, the UI) and the trainer share this module without
the trainer needing ONNX Runtime for it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

Thresholds = np.ndarray | Sequence[float] | Mapping[str, float]


def _as_probabilities(probabilities: Any) -> np.ndarray:
    values = np.asarray(probabilities)
    return values if np.issubdtype(values.dtype, np.floating) else values.astype(np.float64)


def flagged(probability: Any, threshold: Any) -> np.ndarray:
    """``probability >= threshold`` (elementwise, broadcast), at the probabilities' precision."""
    values = _as_probabilities(probability)
    return values >= np.asarray(threshold, values.dtype)


def threshold_array(thresholds: Thresholds, labels: Sequence[str], dtype: Any = np.float32) -> np.ndarray:
    """``thresholds`` as an array [L] in the order of ``labels``: from an array in label order, or
    a mapping label -> value (which must have every label; extra keys are ignored).

    Raises ``KeyError`` naming the labels without a threshold, ``ValueError`` for a wrong length.
    """
    if isinstance(thresholds, Mapping):
        missing = [label for label in labels if label not in thresholds]
        if missing:
            raise KeyError(f"no threshold for {', '.join(missing)}")
        return np.array([float(thresholds[label]) for label in labels], dtype)
    values = np.asarray(thresholds, dtype)
    if values.shape != (len(labels),):
        raise ValueError(f"expected {len(labels)} thresholds in label order, got shape {values.shape}")
    return values


def flags_at(probabilities: Any, thresholds: Thresholds, labels: Sequence[str] | None = None) -> np.ndarray:
    """Flags (bool, the shape of ``probabilities``: [L] or [N, L]) of every label at ``thresholds``.

    ``thresholds`` is an array in label order, or a mapping label -> value, which needs
    ``labels`` (the order of the probabilities' last axis).
    """
    values = _as_probabilities(probabilities)
    if values.ndim == 0:
        raise ValueError("flags_at needs probabilities with a label axis ([L] or [N, L])")
    if labels is not None:
        if len(labels) != values.shape[-1]:
            raise ValueError(f"{len(labels)} labels for probabilities of shape {values.shape}")
        limits = threshold_array(thresholds, labels, values.dtype)
    elif isinstance(thresholds, Mapping):
        raise TypeError("thresholds by label need the labels in the probabilities' order")
    else:
        limits = np.asarray(thresholds, values.dtype)
        if limits.shape != values.shape[-1:]:
            raise ValueError(f"expected {values.shape[-1]} thresholds in label order, got shape {limits.shape}")
    return flagged(values, limits)


def read_only(array: Any) -> np.ndarray:
    """A contiguous read-only array: findings are shared between threads and caches."""
    frozen: np.ndarray = np.ascontiguousarray(array)
    frozen.setflags(write=False)
    return frozen


@dataclass(frozen=True)
class Findings:
    """What the model says about one image. Arrays are read-only; index them by ``labels``.

    ``heatmaps`` are raw Grad-CAM maps [L, h, w] at feature resolution (not normalised);
    ``ood_score`` is NaN when the card has no OOD check.
    """

    labels: tuple[str, ...]
    probabilities: np.ndarray  # [L] float32
    thresholds: np.ndarray  # [L] float32
    flags: np.ndarray  # [L] bool: flags_at(probabilities, thresholds)
    heatmaps: np.ndarray  # [L, h, w] float32
    ood_score: float
    ood_flag: bool
    notes: tuple[str, ...] = field(default=())

    def index(self, label: str) -> int:
        try:
            return self.labels.index(label)
        except ValueError:
            raise KeyError(f"'{label}' is not one of this model's labels ({', '.join(self.labels)})") from None

    def probability(self, label: str) -> float:
        return float(self.probabilities[self.index(label)])

    def flagged(self) -> tuple[str, ...]:
        """Labels at or above their threshold, in label order."""
        return tuple(label for label, flag in zip(self.labels, self.flags) if flag)

    def at_thresholds(self, thresholds: Thresholds) -> Findings:
        """The same findings flagged at other operating points (nothing is recomputed).

        ``thresholds`` as for ``flags_at``; they are kept as float32, as the card's are.
        """
        values = threshold_array(thresholds, self.labels, np.float32)
        return replace(self, thresholds=read_only(values), flags=read_only(flags_at(self.probabilities, values)))
