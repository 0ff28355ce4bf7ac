"""Measuring a model's scores against the truth: AUROC with bootstrap intervals, PR-AUC, operating
points, the calibration error.

AUROC is computed from ranks (the Mann-Whitney statistic, ties counted half), in a weighted form
so that a bootstrap resample is just a vector of counts: 1000 resamples of a 25,000-image test
split cost a few seconds, not minutes. Beside it: the micro-average AUROC (all labels' scores
pooled), PR-AUC (average precision), sensitivity/specificity/precision/F1 at given thresholds,
and the expected calibration error. scikit-learn is the tests' oracle for each.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from viewer.core.findings import flags_at


# -- AUROC ----------------------------------------------------------------------------------------
def _weighted_auroc(y_true: np.ndarray, y_score: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """AUROC for each row of ``weights`` [B, N] (how often each image counts); NaN where a row
    has no positives or no negatives."""
    order = np.argsort(y_score, kind="mergesort")
    score, positive = y_score[order], y_true[order] > 0.5
    w = weights[:, order].astype(np.float64)
    # tie groups of equal scores: a positive beats the negatives below its group, half of its own
    starts = np.flatnonzero(np.r_[True, score[1:] != score[:-1]])
    pos = np.add.reduceat(np.where(positive, w, 0.0), starts, axis=1)
    neg = np.add.reduceat(np.where(positive, 0.0, w), starts, axis=1)
    neg_below = np.cumsum(neg, axis=1) - neg
    n_pos, n_neg = pos.sum(axis=1), neg.sum(axis=1)
    wins = (pos * (neg_below + 0.5 * neg)).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((n_pos > 0) & (n_neg > 0), wins / (n_pos * n_neg), np.nan)


def auroc(y_true: np.ndarray, y_score: np.ndarray) -> float | None:
    """Area under the ROC curve of one label; None when only one class is present."""
    y_true, y_score = np.asarray(y_true, np.float64), np.asarray(y_score, np.float64)
    if len(y_true) == 0:
        return None
    value = _weighted_auroc(y_true, y_score, np.ones((1, len(y_true))))[0]
    return None if math.isnan(value) else float(value)


def micro_auroc(targets: np.ndarray, scores: np.ndarray) -> float | None:
    """AUROC of all (image, label) pairs pooled: scikit-learn's ``average="micro"``."""
    return auroc(np.asarray(targets).ravel(), np.asarray(scores).ravel())


def average_precision(y_true: np.ndarray, y_score: np.ndarray) -> float | None:
    """PR-AUC as average precision, sum over thresholds of (R_n - R_n-1) * P_n, a threshold at
    every distinct score (scikit-learn's definition: no interpolation); None without positives."""
    y_true = np.asarray(y_true, np.float64) > 0.5
    y_score = np.asarray(y_score, np.float64)
    if not y_true.any():
        return None
    order = np.argsort(-y_score, kind="mergesort")
    score, positive = y_score[order], y_true[order]
    last_of_group = np.r_[np.flatnonzero(score[1:] != score[:-1]), len(score) - 1]
    tp = np.cumsum(positive)[last_of_group]
    flagged = last_of_group + 1
    precision = tp / flagged
    recall = tp / tp[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def confusion_figures(y_true: np.ndarray, flagged: np.ndarray) -> dict[str, Any]:
    """Counts and rates of a yes/no decision against the truth. A rate is None where its
    denominator is zero (no positives: no sensitivity; nothing flagged: no precision)."""
    y_true, flagged = np.asarray(y_true) > 0.5, np.asarray(flagged, bool)
    tp, fp = int((y_true & flagged).sum()), int((~y_true & flagged).sum())
    fn, tn = int((y_true & ~flagged).sum()), int((~y_true & ~flagged).sum())

    def ratio(a: int, b: int) -> float | None:
        return round(a / b, 6) if b else None

    return {"tp": tp, "fp": fp, "tn": tn, "fn": fn, "sensitivity": ratio(tp, tp + fn),
            "specificity": ratio(tn, tn + fp), "precision": ratio(tp, tp + fp), "f1": ratio(2 * tp, 2 * tp + fp + fn)}


def operating_points(
    targets: np.ndarray, probabilities: np.ndarray, thresholds: Mapping[str, float], labels: Sequence[str],
    rule: str,
) -> dict[str, Any]:
    """Sensitivity, specificity, precision and F1 of each label flagged at ``thresholds`` (by
    ``findings.flags_at``), with the rule that chose the thresholds, and the means over labels."""
    per_label = {}
    flags = flags_at(probabilities, thresholds, labels)
    for j, label in enumerate(labels):
        figures = confusion_figures(targets[:, j], flags[:, j])
        per_label[label] = {"threshold": round(float(thresholds[label]), 6), **figures}
    return {"rule": rule, "per_label": per_label, "mean": _means(per_label, ("sensitivity", "specificity", "f1"))}


def _means(per_label: Mapping[str, Mapping[str, Any]], keys: Sequence[str]) -> dict[str, float | None]:
    out = {}
    for key in keys:
        values = [v[key] for v in per_label.values() if v is not None and v.get(key) is not None]
        out[key] = round(float(np.mean(values)), 6) if values else None
    return out


ECE_BINS = 10


def calibration_error(y_true: np.ndarray, y_prob: np.ndarray, bins: int = ECE_BINS) -> float | None:
    """Expected calibration error: sum over equal-width probability bins of (share of images in
    the bin) x |observed frequency - mean probability|. Bins as scikit-learn's
    ``calibration_curve(strategy="uniform")``: (lo, hi], the first also holding 0."""
    y_true, y_prob = np.asarray(y_true, np.float64), np.asarray(y_prob, np.float64)
    if len(y_true) == 0:
        return None
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.searchsorted(edges[1:-1], y_prob)
    count = np.bincount(which, minlength=bins)
    observed = np.bincount(which, weights=y_true, minlength=bins)
    predicted = np.bincount(which, weights=y_prob, minlength=bins)
    used = count > 0
    gaps = np.abs(observed[used] - predicted[used]) / count[used]
    return float(np.sum(count[used] / len(y_true) * gaps))


def calibration_errors(targets: np.ndarray, probabilities: np.ndarray, labels: Sequence[str],
                       bins: int = ECE_BINS) -> dict[str, Any]:
    """Per-label ECE and its mean over labels."""
    per_label = {}
    for j, label in enumerate(labels):
        value = calibration_error(targets[:, j], probabilities[:, j], bins)
        per_label[label] = None if value is None else round(value, 6)
    defined = [v for v in per_label.values() if v is not None]
    return {"per_label": per_label, "mean": round(float(np.mean(defined)), 6) if defined else None}


def ece_report(targets: np.ndarray, before: np.ndarray, after: np.ndarray, labels: Sequence[str],
               split: str, method: str) -> dict[str, Any]:
    """The ECE of the sigmoid of the raw logits and of the calibrated probabilities, on ``split``."""
    return {
        "split": split, "calibration": method, "bins": ECE_BINS,
        "binning": "equal width on [0, 1]; ECE = sum of bin share x |frequency - mean probability|",
        "before": calibration_errors(targets, before, labels),
        "after": calibration_errors(targets, after, labels),
    }


def per_label_auroc(targets: np.ndarray, scores: np.ndarray, labels: Sequence[str]) -> dict[str, float | None]:
    """AUROC of each label by name; None where a label has only one class."""
    return {label: auroc(targets[:, j], scores[:, j]) for j, label in enumerate(labels)}


def mean_auroc(targets: np.ndarray, scores: np.ndarray) -> float | None:
    """Mean AUROC over the labels that have both classes; None if no label has."""
    values = [auroc(targets[:, j], scores[:, j]) for j in range(targets.shape[1])]
    defined = [v for v in values if v is not None]
    return float(np.mean(defined)) if defined else None


def bootstrap_counts(
    n: int, resamples: int, seed: int, groups: Sequence[int] | None = None, chunk: int = 100
) -> Iterator[np.ndarray]:
    """Chunks of [<=chunk, n] counts of how often each image is drawn, ``resamples`` rows in all.

    With ``groups`` (patient ids) whole patients are drawn, as the split itself is by patient.
    Chunks keep memory small on a large test split.
    """
    rng = np.random.default_rng(seed)
    if groups is None:
        index, n_units = np.arange(n), n
    else:
        _, index = np.unique(np.asarray(groups), return_inverse=True)
        n_units = int(index.max()) + 1
    for start in range(0, resamples, chunk):
        size = min(chunk, resamples - start)
        drawn = rng.multinomial(n_units, np.full(n_units, 1.0 / n_units), size=size).astype(np.int32)
        yield drawn[:, index]


def evaluate_scores(
    targets: np.ndarray,
    scores: np.ndarray,
    labels: Sequence[str],
    resamples: int = 1000,
    seed: int = 0,
    groups: Sequence[int] | None = None,
) -> dict[str, Any]:
    """Per-label AUROC with a percentile bootstrap 95% interval, and their mean.

    ``{"auroc": {label: {"value", "ci95", "n_pos", "n_neg"} or None}, "mean_auroc", ...}``;
    a label is None where the images have no positives (or no negatives). Every label is
    resampled with the same draws.
    """
    targets, scores = np.asarray(targets, np.float64), np.asarray(scores, np.float64)
    n = len(targets)
    values = [auroc(targets[:, j], scores[:, j]) for j in range(len(labels))]
    sampled: list[list[np.ndarray]] = [[] for _ in labels]
    if resamples and n:
        for counts in bootstrap_counts(n, resamples, seed, groups):
            for j, value in enumerate(values):
                if value is not None:
                    sampled[j].append(_weighted_auroc(targets[:, j], scores[:, j], counts))
    per_label: dict[str, Any] = {}
    for j, label in enumerate(labels):
        if values[j] is None:
            per_label[label] = None
            continue
        n_pos = int(targets[:, j].sum())
        entry: dict[str, Any] = {"value": round(values[j], 6), "n_pos": n_pos, "n_neg": n - n_pos}
        if resamples:
            draws = np.concatenate(sampled[j]) if sampled[j] else np.zeros(0)
            draws = draws[~np.isnan(draws)]
            if len(draws) >= 0.5 * resamples:  # too few usable resamples: no honest interval
                low, high = np.percentile(draws, [2.5, 97.5])
                entry["ci95"] = [round(float(low), 6), round(float(high), 6)]
            else:
                entry["ci95"] = None
        per_label[label] = entry
    defined = [e["value"] for e in per_label.values() if e is not None]
    mean_ci = _mean_interval(sampled, resamples) if resamples and defined else None
    precision = {}
    for j, label in enumerate(labels):
        value = average_precision(targets[:, j], scores[:, j]) if values[j] is not None else None
        precision[label] = None if value is None else round(value, 6)
    defined_ap = [v for v in precision.values() if v is not None]
    micro = micro_auroc(targets, scores) if n else None
    return {
        "auroc": per_label,
        "mean_auroc": round(float(np.mean(defined)), 6) if defined else None,
        "mean_auroc_ci95": mean_ci,
        "labels_with_auroc": len(defined),
        "micro_auroc": None if micro is None else round(micro, 6),
        "average_precision": precision,  # PR-AUC, for the labels that have an AUROC
        "mean_average_precision": round(float(np.mean(defined_ap)), 6) if defined_ap else None,
        "n_images": n,
        "bootstrap": {"resamples": resamples, "seed": seed,
                      "unit": "patient" if groups is not None else "image", "interval": "percentile 95%"},
    }


def _mean_interval(sampled: list[list[np.ndarray]], resamples: int) -> list[float] | None:
    """Percentile 95% interval of the mean AUROC over the same resamples as the labels' intervals:
    each resample's mean is over the labels that have both classes in it (a rare label drops out of
    the few resamples that draw none of its positives)."""
    rows = [np.concatenate(chunks) for chunks in sampled if chunks]
    if not rows:
        return None
    draws = np.vstack(rows)  # [labels, resamples]
    usable = ~np.all(np.isnan(draws), axis=0)
    if usable.sum() < 0.5 * resamples:
        return None
    means = np.nanmean(draws[:, usable], axis=0)
    low, high = np.percentile(means, [2.5, 97.5])
    return [round(float(low), 6), round(float(high), 6)]
