"""The held-out comparison: the original pair against the recalibrated one on images neither was
fitted on, each change with a paired patient-bootstrap 95% interval.

Measures, per label and as the mean over labels: the expected calibration error (10 equal-width
bins, as ``metrics.calibration_error``), the Brier score (mean squared difference between
probability and outcome), and sensitivity and specificity at each pair's own thresholds (the
original's at its thresholds, the new one's at the new thresholds, both flagged by probability
``>=`` threshold). A NaN target is unknown and counts for nothing.

Every figure is computed from per-image weights, so one resample (whole patients drawn with
replacement, ``metrics.bootstrap_counts``) is a row of counts and all figures of both pairs come
from the same draws: the interval is of the paired change, not of two independent figures.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..evaluation.metrics import ECE_BINS, bootstrap_counts

MEASURES = ("ece", "brier", "sensitivity", "specificity")
LOWER_IS_BETTER = {"ece": True, "brier": True, "sensitivity": False, "specificity": False}


def _bins(p: np.ndarray) -> np.ndarray:
    """Bin index per probability: (lo, hi] bins, the first also holding 0 (``calibration_error``)."""
    return np.searchsorted(np.linspace(0.0, 1.0, ECE_BINS + 1)[1:-1], p)


def label_figures(weights: np.ndarray, y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, np.ndarray]:
    """ECE, Brier, sensitivity and specificity of one label for each row of ``weights`` [B, N]
    (y: 0/1 of the known rows, p: their probabilities); NaN where a figure is undefined."""
    w = weights.astype(np.float64)
    total = w.sum(axis=1)
    onehot = np.zeros((len(p), ECE_BINS))
    onehot[np.arange(len(p)), _bins(p)] = 1.0
    gap = w @ (onehot * y[:, None]) - w @ (onehot * p[:, None])  # observed - predicted, per bin
    flagged = p >= threshold
    positives, negatives = w @ y, w @ (1.0 - y)
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "ece": np.where(total > 0, np.abs(gap).sum(axis=1) / total, np.nan),
            "brier": np.where(total > 0, w @ (p - y) ** 2 / total, np.nan),
            "sensitivity": np.where(positives > 0, w @ (y * flagged) / positives, np.nan),
            "specificity": np.where(negatives > 0, w @ ((1.0 - y) * ~flagged) / negatives, np.nan),
        }


def _interval(draws: np.ndarray, resamples: int) -> list[float] | None:
    """Percentile 95% interval; None when fewer than half the resamples define the figure."""
    draws = draws[~np.isnan(draws)]
    if resamples == 0 or len(draws) < 0.5 * resamples:
        return None
    low, high = np.percentile(draws, [2.5, 97.5])
    return [round(float(low), 6), round(float(high), 6)]


def _round(value: float) -> float | None:
    return None if np.isnan(value) else round(float(value), 6)


def _entry(before: np.ndarray, after: np.ndarray, resamples: int) -> dict[str, Any]:
    """Point values (row 0) and the interval of the change (the other rows)."""
    change = after - before
    return {"before": _round(before[0]), "after": _round(after[0]), "change": _round(change[0]),
            "change_ci95": _interval(change[1:], resamples)}


def compare_holdout(
    targets: np.ndarray,
    before: np.ndarray,
    after: np.ndarray,
    thresholds_before: Mapping[str, float],
    thresholds_after: Mapping[str, float],
    labels: Sequence[str],
    groups: Sequence[int],
    resamples: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Every measure per label and as the mean over labels, before and after, with the paired
    patient-bootstrap 95% interval of each change; JSON-ready."""
    targets = np.asarray(targets, np.float64)
    n = len(targets)
    rows = [np.ones((1, n))]
    if resamples:
        rows += list(bootstrap_counts(n, resamples, seed, groups))
    weights = np.vstack(rows)  # row 0: the held-out images as they are
    per_label: dict[str, Any] = {}
    figures: dict[str, dict[str, list[np.ndarray]]] = {m: {"before": [], "after": []} for m in MEASURES}
    for j, label in enumerate(labels):
        known = ~np.isnan(targets[:, j])
        y = targets[known, j]
        if not known.any():
            per_label[label] = None
            continue
        w = weights[:, known]
        old = label_figures(w, y, before[known, j], float(thresholds_before[label]))
        new = label_figures(w, y, after[known, j], float(thresholds_after[label]))
        entry: dict[str, Any] = {"n_pos": int(y.sum()), "n_neg": int(len(y) - y.sum()),
                                 "threshold": {"before": round(float(thresholds_before[label]), 6),
                                               "after": round(float(thresholds_after[label]), 6)}}
        for measure in MEASURES:
            entry[measure] = _entry(old[measure], new[measure], resamples)
            figures[measure]["before"].append(old[measure])
            figures[measure]["after"].append(new[measure])
        per_label[label] = entry
    mean: dict[str, Any] = {}
    for measure in MEASURES:
        if not figures[measure]["before"]:
            mean[measure] = None
            continue
        stacked = {side: np.vstack(figures[measure][side]) for side in ("before", "after")}  # [labels, 1 + B]
        with warnings.catch_warnings():
            # a resample where no label defines the figure ("mean of empty slice"): NaN, left out
            warnings.simplefilter("ignore", RuntimeWarning)
            means = {side: np.nanmean(values, axis=0) for side, values in stacked.items()}
        mean[measure] = _entry(means["before"], means["after"], resamples)
    return {
        "images": n,
        "patients": len(set(groups)),
        "bootstrap": {"resamples": resamples, "seed": seed, "unit": "patient", "interval": "percentile 95%",
                      "paired": "both pairs measured on the same resamples; the interval is of after - before"},
        "mean": mean,
        "per_label": per_label,
    }
