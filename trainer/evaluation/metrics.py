"""Measuring a model's scores against the truth: AUROC with bootstrap intervals, PR-AUC, operating
points, the calibration error.

AUROC is computed from ranks (the Mann-Whitney statistic, ties counted half), in a weighted form
so that a bootstrap resample is just a vector of counts: 1000 resamples of a 25,000-image test
split cost a few seconds, not minutes. Beside it: the micro-average AUROC (all labels' scores
pooled), PR-AUC (average precision), sensitivity/specificity/precision/F1 at given thresholds,
and the expected calibration error. scikit-learn is the tests' oracle for each.

The results are typed records (``ScoreReport``, ``OperatingPoints``, ``EceReport``,
``ModelMetrics``); each one's ``to_dict`` is its JSON form, the one ``metrics.json`` and the
model card hold (rounded to 6 decimals, keys in a fixed order, ``None`` where a figure is
undefined).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from viewer.core.findings import flags_at


# -- unknown targets --------------------------------------------------------------------------------
def known_rows(y_true: np.ndarray, *others: np.ndarray) -> tuple[np.ndarray, ...]:
    """``y_true`` and ``others`` (one label's columns) without the rows whose target is NaN.

    NaN is how evaluation marks a target the dataset leaves unknown (``PreparedData.known_targets``:
    a label the dataset does not annotate, an uncertain finding under ``--uncertainty ignore``):
    such an image is neither a positive nor a negative of that label, so every figure here leaves
    it out of that label's count. Arrays without NaN come back unchanged."""
    y_true = np.asarray(y_true, np.float64)
    known = ~np.isnan(y_true)
    if known.all():
        return (y_true, *(np.asarray(o) for o in others))
    return (y_true[known], *(np.asarray(o)[known] for o in others))


def with_unknown(targets: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``targets`` [N, L] as float64 with NaN where ``mask`` is 0 (the target is unknown)."""
    out = np.asarray(targets, np.float64).copy()
    out[np.asarray(mask) <= 0] = np.nan
    return out


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
    """Area under the ROC curve of one label; None when only one class is present (rows of
    unknown target, NaN, left out)."""
    y_true, y_score = known_rows(y_true, np.asarray(y_score, np.float64))
    if len(y_true) == 0:
        return None
    value = _weighted_auroc(y_true, y_score, np.ones((1, len(y_true))))[0]
    return None if math.isnan(value) else float(value)


def micro_auroc(targets: np.ndarray, scores: np.ndarray) -> float | None:
    """AUROC of all (image, label) pairs pooled: scikit-learn's ``average="micro"`` (pairs of
    unknown target left out)."""
    return auroc(np.asarray(targets).ravel(), np.asarray(scores).ravel())


def average_precision(y_true: np.ndarray, y_score: np.ndarray) -> float | None:
    """PR-AUC as average precision, sum over thresholds of (R_n - R_n-1) * P_n, a threshold at
    every distinct score (scikit-learn's definition: no interpolation); None without positives."""
    known_true, y_score = known_rows(y_true, np.asarray(y_score, np.float64))
    y_true = known_true > 0.5
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


@dataclass(frozen=True)
class ConfusionFigures:
    """Counts and rates of a yes/no decision against the truth; a rate is None where its
    denominator is zero (no positives: no sensitivity; nothing flagged: no precision)."""

    tp: int
    fp: int
    tn: int
    fn: int
    sensitivity: float | None
    specificity: float | None
    precision: float | None
    f1: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"tp": self.tp, "fp": self.fp, "tn": self.tn, "fn": self.fn, "sensitivity": self.sensitivity,
                "specificity": self.specificity, "precision": self.precision, "f1": self.f1}


def confusion_figures(y_true: np.ndarray, flagged: np.ndarray) -> ConfusionFigures:
    """The ``ConfusionFigures`` of ``flagged`` against ``y_true`` (rates rounded to 6 decimals;
    rows of unknown target left out)."""
    known_true, known_flags = known_rows(y_true, flagged)
    y_true, flagged = known_true > 0.5, np.asarray(known_flags, bool)
    tp, fp = int((y_true & flagged).sum()), int((~y_true & flagged).sum())
    fn, tn = int((y_true & ~flagged).sum()), int((~y_true & ~flagged).sum())

    def ratio(a: int, b: int) -> float | None:
        return round(a / b, 6) if b else None

    return ConfusionFigures(tp, fp, tn, fn, sensitivity=ratio(tp, tp + fn), specificity=ratio(tn, tn + fp),
                            precision=ratio(tp, tp + fp), f1=ratio(2 * tp, 2 * tp + fp + fn))


MEAN_FIGURES = ("sensitivity", "specificity", "f1")


@dataclass(frozen=True)
class OperatingPoints:
    """Each label's decisions at its threshold (``thresholds``: None where the decisions came with
    the predictions, as a file's flag columns), the rule that chose them, and the means."""

    rule: str
    per_label: dict[str, ConfusionFigures]
    thresholds: dict[str, float] | None = None
    per_image: FlagsPerImage | None = None

    @property
    def mean(self) -> dict[str, float | None]:
        """Sensitivity, specificity and F1 averaged over the labels where each is defined."""
        out = {}
        for key in MEAN_FIGURES:
            values = [getattr(f, key) for f in self.per_label.values() if getattr(f, key) is not None]
            out[key] = round(float(np.mean(values)), 6) if values else None
        return out

    def to_dict(self) -> dict[str, Any]:
        per_label = {label: ({"threshold": self.thresholds[label], **figures.to_dict()} if self.thresholds is not None
                             else figures.to_dict()) for label, figures in self.per_label.items()}
        return {"rule": self.rule, "per_label": per_label, "mean": self.mean,
                "per_image": None if self.per_image is None else self.per_image.to_dict()}


def operating_points(
    targets: np.ndarray, probabilities: np.ndarray, thresholds: Mapping[str, float], labels: Sequence[str],
    rule: str,
) -> OperatingPoints:
    """Sensitivity, specificity, precision and F1 of each label flagged at ``thresholds`` (by
    ``findings.flags_at``), with the rule that chose the thresholds, and the means over labels."""
    flags = flags_at(probabilities, thresholds, labels)
    per_label = {label: confusion_figures(targets[:, j], flags[:, j]) for j, label in enumerate(labels)}
    return OperatingPoints(rule, per_label, {label: round(float(thresholds[label]), 6) for label in labels},
                           flags_per_image(targets, flags))


@dataclass(frozen=True)
class FlagsPerImage:
    """How many findings a model flags per image beside how many the images carry: flags that
    mean something come at about the rate of true labels (issue 23 asks for 0.5x to 2x)."""

    images: int
    flags: float  # mean flagged labels per image
    true_labels: float  # mean positive labels per image (unknown targets count as not positive)

    @property
    def ratio(self) -> float | None:
        return round(self.flags / self.true_labels, 6) if self.true_labels else None

    def to_dict(self) -> dict[str, Any]:
        return {"images": self.images, "flags": self.flags, "true_labels": self.true_labels, "ratio": self.ratio}


def flags_per_image(targets: np.ndarray, flags: np.ndarray) -> FlagsPerImage | None:
    """Mean flags and mean true labels per image of a [N, L] decision (None without images)."""
    if len(flags) == 0:
        return None
    positives = np.nan_to_num(np.asarray(targets, np.float64), nan=0.0) > 0.5
    return FlagsPerImage(len(flags), round(float(np.asarray(flags, bool).sum(axis=1).mean()), 6),
                         round(float(positives.sum(axis=1).mean()), 6))


ECE_BINS = 10


def calibration_error(y_true: np.ndarray, y_prob: np.ndarray, bins: int = ECE_BINS) -> float | None:
    """Expected calibration error: sum over equal-width probability bins of (share of images in
    the bin) x |observed frequency - mean probability|. Bins as scikit-learn's
    ``calibration_curve(strategy="uniform")``: (lo, hi], the first also holding 0. Rows of
    unknown target are left out."""
    y_true, y_prob = known_rows(y_true, np.asarray(y_prob, np.float64))
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


@dataclass(frozen=True)
class CalibrationErrors:
    """Per-label ECE (None where a label has no images) and its mean over labels."""

    per_label: dict[str, float | None]
    mean: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"per_label": self.per_label, "mean": self.mean}


def calibration_errors(targets: np.ndarray, probabilities: np.ndarray, labels: Sequence[str],
                       bins: int = ECE_BINS) -> CalibrationErrors:
    """Per-label ECE and its mean over labels (rounded to 6 decimals)."""
    per_label = {}
    for j, label in enumerate(labels):
        value = calibration_error(targets[:, j], probabilities[:, j], bins)
        per_label[label] = None if value is None else round(value, 6)
    defined = [v for v in per_label.values() if v is not None]
    return CalibrationErrors(per_label, round(float(np.mean(defined)), 6) if defined else None)


ECE_BINNING = "equal width on [0, 1]; ECE = sum of bin share x |frequency - mean probability|"


@dataclass(frozen=True)
class EceReport:
    """The ECE on ``split`` of the probabilities before and after ``calibration``."""

    split: str
    calibration: str
    before: CalibrationErrors
    after: CalibrationErrors
    bins: int = ECE_BINS

    def to_dict(self) -> dict[str, Any]:
        return {"split": self.split, "calibration": self.calibration, "bins": self.bins, "binning": ECE_BINNING,
                "before": self.before.to_dict(), "after": self.after.to_dict()}


def ece_report(targets: np.ndarray, before: np.ndarray, after: np.ndarray, labels: Sequence[str],
               split: str, method: str) -> EceReport:
    """The ECE of the sigmoid of the raw logits and of the calibrated probabilities, on ``split``."""
    return EceReport(split, method, calibration_errors(targets, before, labels),
                     calibration_errors(targets, after, labels))


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


@dataclass(frozen=True)
class BootstrapSettings:
    """How the intervals were drawn: resamples, seed, and whether whole patients or images."""

    resamples: int
    seed: int
    unit: str  # "patient" or "image"
    interval: str = "percentile 95%"

    def to_dict(self) -> dict[str, Any]:
        return {"resamples": self.resamples, "seed": self.seed, "unit": self.unit, "interval": self.interval}


@dataclass(frozen=True)
class LabelAuroc:
    """One label's AUROC with its counts and, when resamples were asked for, its 95% interval
    (``ci95`` None then means too few resamples had both classes for an honest interval)."""

    value: float
    n_pos: int
    n_neg: int
    bootstrapped: bool = False
    ci95: list[float] | None = None

    def to_dict(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"value": self.value, "n_pos": self.n_pos, "n_neg": self.n_neg}
        if self.bootstrapped:
            entry["ci95"] = self.ci95
        return entry


@dataclass(frozen=True)
class ScoreReport:
    """What ``evaluate_scores`` measured: per-label AUROC (None: one class only) with intervals,
    their mean, the micro-average, PR-AUC, on ``n_images`` images."""

    auroc: dict[str, LabelAuroc | None]
    mean_auroc: float | None
    mean_auroc_ci95: list[float] | None
    labels_with_auroc: int
    micro_auroc: float | None
    average_precision: dict[str, float | None]  # PR-AUC, for the labels that have an AUROC
    mean_average_precision: float | None
    n_images: int
    bootstrap: BootstrapSettings

    def to_dict(self) -> dict[str, Any]:
        return {
            "auroc": {label: None if entry is None else entry.to_dict() for label, entry in self.auroc.items()},
            "mean_auroc": self.mean_auroc,
            "mean_auroc_ci95": self.mean_auroc_ci95,
            "labels_with_auroc": self.labels_with_auroc,
            "micro_auroc": self.micro_auroc,
            "average_precision": dict(self.average_precision),
            "mean_average_precision": self.mean_average_precision,
            "n_images": self.n_images,
            "bootstrap": self.bootstrap.to_dict(),
        }


def evaluate_scores(
    targets: np.ndarray,
    scores: np.ndarray,
    labels: Sequence[str],
    resamples: int = 1000,
    seed: int = 0,
    groups: Sequence[int] | None = None,
) -> ScoreReport:
    """Per-label AUROC with a percentile bootstrap 95% interval, and their mean.

    A label's AUROC is None where the images have no positives (or no negatives). Every label
    is resampled with the same draws (whole patients with ``groups``). A NaN target is unknown
    (``with_unknown``): that image counts for none of the label's figures, in any resample.
    """
    targets, scores = np.asarray(targets, np.float64), np.asarray(scores, np.float64)
    n = len(targets)
    known = ~np.isnan(targets)
    values = [auroc(targets[:, j], scores[:, j]) for j in range(len(labels))]
    sampled: list[list[np.ndarray]] = [[] for _ in labels]
    if resamples and n:
        for counts in bootstrap_counts(n, resamples, seed, groups):
            for j, value in enumerate(values):
                if value is not None:
                    sampled[j].append(_weighted_auroc(np.nan_to_num(targets[:, j]), scores[:, j],
                                                      counts * known[:, j]))
    per_label: dict[str, LabelAuroc | None] = {}
    for j, label in enumerate(labels):
        value = values[j]
        if value is None:
            per_label[label] = None
            continue
        n_pos, n_known = int(np.nansum(targets[:, j])), int(known[:, j].sum())
        ci95 = None
        if resamples:
            draws = np.concatenate(sampled[j]) if sampled[j] else np.zeros(0)
            draws = draws[~np.isnan(draws)]
            if len(draws) >= 0.5 * resamples:  # too few usable resamples: no honest interval
                low, high = np.percentile(draws, [2.5, 97.5])
                ci95 = [round(float(low), 6), round(float(high), 6)]
        per_label[label] = LabelAuroc(round(value, 6), n_pos, n_known - n_pos, bool(resamples), ci95)
    defined = [e.value for e in per_label.values() if e is not None]
    mean_ci = _mean_interval(sampled, resamples) if resamples and defined else None
    precision = {}
    for j, label in enumerate(labels):
        ap = average_precision(targets[:, j], scores[:, j]) if values[j] is not None else None
        precision[label] = None if ap is None else round(ap, 6)
    defined_ap = [v for v in precision.values() if v is not None]
    micro = micro_auroc(targets, scores) if n else None
    return ScoreReport(
        auroc=per_label,
        mean_auroc=round(float(np.mean(defined)), 6) if defined else None,
        mean_auroc_ci95=mean_ci,
        labels_with_auroc=len(defined),
        micro_auroc=None if micro is None else round(micro, 6),
        average_precision=precision,
        mean_average_precision=round(float(np.mean(defined_ap)), 6) if defined_ap else None,
        n_images=n,
        bootstrap=BootstrapSettings(resamples, seed, "patient" if groups is not None else "image"),
    )


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


@dataclass(frozen=True)
class ModelMetrics:
    """A model's figures on its test images: scores, operating points at its thresholds, and the
    calibration error (the card's ``metrics`` less what only a training run knows)."""

    scores: ScoreReport
    operating_points: OperatingPoints
    calibration_error: EceReport

    def to_dict(self) -> dict[str, Any]:
        return {**self.scores.to_dict(), "operating_points": self.operating_points.to_dict(),
                "calibration_error": self.calibration_error.to_dict()}
