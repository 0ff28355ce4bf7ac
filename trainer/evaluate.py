"""Measuring a model: AUROC per label with bootstrap intervals, operating points, predictions CSVs.

AUROC is computed from ranks (the Mann-Whitney statistic, ties counted half), in a weighted form
so that a bootstrap resample is just a vector of counts: 1000 resamples of a 25,000-image test
split cost a few seconds, not minutes. Beside it: the micro-average AUROC (all labels' scores
pooled), PR-AUC (average precision), sensitivity/specificity/precision/F1 at given thresholds,
and the expected calibration error. scikit-learn is the tests' oracle for each.

``evaluate_predictions`` scores a predictions CSV (``viewer.core.predictions_csv`` reads it: one
written by ``cxr-viewer batch``, or any CSV with an ``Image Index`` column and one probability
column per label, named by the label, with or without ``prob_``) against the labels of the NIH
Data_Entry file; ``write_predictions_csv`` writes a run's predictions in the same columns.
"""

from __future__ import annotations

import math
import os
from collections.abc import Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from viewer.core.findings import flags_at
from viewer.core.nih import find_data_entry, read_data_entry
from viewer.core.predictions_csv import PredictionsCsvError, PredictionsFile, read_predictions
from viewer.core.pseudonyms import KeyNumbers

from .errors import TrainerError


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


# -- operating points ---------------------------------------------------------------------------------
THRESHOLD_RULE = (
    "Youden's J (max sensitivity + specificity - 1) on the validation split's calibrated "
    "probabilities; flag when probability >= threshold (threshold halfway between the cut score "
    "and the next lower one); 0.5 where validation has no positives or no negatives"
)


def youden_threshold(y_true: np.ndarray, y_prob: np.ndarray) -> tuple[float, float, float] | None:
    """(threshold, sensitivity, specificity) maximising Youden's J; None with one class only."""
    y_true = np.asarray(y_true) > 0.5
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


def choose_thresholds(targets: np.ndarray, probabilities: np.ndarray, labels: Sequence[str]) -> dict[str, Any]:
    """The card's ``thresholds`` object: rule, a value per label, and how each was found."""
    values, per_label = {}, {}
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
    return {"rule": THRESHOLD_RULE, "values": values, "per_label": per_label,
            "roc": validation_roc(targets, probabilities, labels)}


ROC_FULL_UP_TO = 2000  # validation images; above this the curves are thinned (card size)


def validation_roc(targets: np.ndarray, probabilities: np.ndarray, labels: Sequence[str]) -> dict[str, Any]:
    """Each label's validation ROC (``threshold``, ``tpr``, ``fpr`` lists, thresholds descending,
    without scikit-learn's first, infinite threshold): the viewer's sensitivity control moves
    along it. Labels with one class only in validation have none."""
    from sklearn.metrics import roc_curve

    curves: dict[str, Any] = {}
    thin = len(targets) > ROC_FULL_UP_TO
    for j, label in enumerate(labels):
        y = targets[:, j] > 0.5
        if y.all() or not y.any():
            continue
        fpr, tpr, thresholds = roc_curve(y, probabilities[:, j], drop_intermediate=thin)
        finite = np.isfinite(thresholds)
        curves[label] = {
            "threshold": [round(float(t), 6) for t in thresholds[finite]],
            "tpr": [round(float(t), 6) for t in tpr[finite]],
            "fpr": [round(float(f), 6) for f in fpr[finite]],
        }
    return curves


# -- the batch CSV ----------------------------------------------------------------------------------------
def write_predictions_csv(
    path: Path,
    image_names: Sequence[str],
    relative_paths: Sequence[str],
    patients: Sequence[Hashable],
    probabilities: np.ndarray,
    labels: Sequence[str],
    thresholds: Mapping[str, float],
) -> None:
    """Predictions as a predictions CSV (``viewer.core.predictions_csv``, the columns of
    ``cxr-viewer batch``), flagged at ``thresholds``.

    ``patients`` identify each image's patient (the NIH Patient ID); the file carries only
    pseudonymous ``patient_key``/``study_key`` numbers in the order first seen, a study being
    one image (NIH has one image per follow-up visit). ``ood_score``/``ood_flag`` are empty:
    the run fits its out-of-distribution check only at export, after these files are written.
    """
    flags = flags_at(probabilities, thresholds, labels)
    patient_keys, study_keys = KeyNumbers(), KeyNumbers()
    with PredictionsFile(path, labels) as writer:
        for name, rel, patient, probs, marks in zip(image_names, relative_paths, patients, probabilities, flags):
            writer.write_ok(name, rel, probs, marks, patient_key=patient_keys(patient),
                            study_key=study_keys((patient, name)))


@dataclass
class ScoredPredictions:
    """A predictions file matched with the NIH labels: one row per labelled image."""

    names: list[str]
    targets: np.ndarray  # [N, L] 0/1
    scores: np.ndarray  # [N, L]
    flags: np.ndarray | None
    labels: list[str]
    groups: list[int]  # patient ids
    csv_path: Path
    rows_not_ok: int
    rows_not_in_labels: int
    duplicate_rows: int


def scored_predictions(
    predictions: str | os.PathLike[str],
    data: str | os.PathLike[str] | None = None,
    labels_csv: str | os.PathLike[str] | None = None,
) -> ScoredPredictions:
    """The predictions of a CSV beside the NIH labels (from ``labels_csv`` or found via ``data``)."""
    predictions = Path(predictions)
    csv_path = Path(labels_csv) if labels_csv else None
    if csv_path is None:
        start = Path(data) if data else predictions.parent
        csv_path = find_data_entry(start)
        if csv_path is None:
            raise TrainerError(
                f"{start}: no Data_Entry_2017_v2020.csv or Data_Entry_2017.csv here or in a parent "
                "folder (pass --data with the NIH images or --labels-csv FILE)"
            )
    entries = read_data_entry(csv_path)
    try:
        table = read_predictions(predictions)
    except PredictionsCsvError as exc:
        raise TrainerError(str(exc)) from None
    keep = [i for i, name in enumerate(table.names) if name in entries]
    if not keep:
        raise TrainerError(f"{predictions}: none of its {len(table.names)} images is listed in {csv_path.name} "
                           "(its 'Image Index' column must hold the NIH file names)")
    seen: set[str] = set()
    unique = []
    for i in keep:
        if table.names[i] not in seen:  # an image listed twice counts once
            seen.add(table.names[i])
            unique.append(i)
    chosen = [entries[table.names[i]] for i in unique]
    targets = np.array([[1.0 if x in e.labels else 0.0 for x in table.labels] for e in chosen])
    return ScoredPredictions(
        names=[table.names[i] for i in unique], targets=targets, scores=table.scores[unique],
        flags=None if table.flags is None else table.flags[unique], labels=table.labels,
        groups=[e.patient_id for e in chosen], csv_path=Path(csv_path), rows_not_ok=table.skipped,
        rows_not_in_labels=len(table.names) - len(keep), duplicate_rows=len(keep) - len(unique),
    )


def evaluate_predictions(
    predictions: str | os.PathLike[str],
    data: str | os.PathLike[str] | None = None,
    labels_csv: str | os.PathLike[str] | None = None,
    resamples: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Score a predictions CSV against the NIH labels (from ``labels_csv`` or found via ``data``):
    ``evaluate_scores`` (AUROC with patient-bootstrap intervals, micro AUROC, PR-AUC), the ECE of
    the probabilities and, when the file has ``flag_<Label>`` columns, the operating points of
    those flags."""
    scored = scored_predictions(predictions, data, labels_csv)
    report = evaluate_scores(scored.targets, scored.scores, scored.labels, resamples, seed, groups=scored.groups)
    if scored.scores.size and 0.0 <= scored.scores.min() and scored.scores.max() <= 1.0:
        report["calibration_error"] = {"bins": ECE_BINS,
                                       **calibration_errors(scored.targets, scored.scores, scored.labels)}
    else:  # scores, not probabilities (AUROC and PR-AUC only need their order)
        report["calibration_error"] = None
    if scored.flags is not None:
        per_label = {x: confusion_figures(scored.targets[:, j], scored.flags[:, j] > 0.5)
                     for j, x in enumerate(scored.labels)}
        report["operating_points"] = {"rule": "the file's flag_<Label> columns", "per_label": per_label,
                                      "mean": _means(per_label, ("sensitivity", "specificity", "f1"))}
    report.update({
        "predictions": str(predictions),
        "labels_csv": str(scored.csv_path),
        "rows_not_ok": scored.rows_not_ok,
        "rows_not_in_labels": scored.rows_not_in_labels,
        "duplicate_rows": scored.duplicate_rows,
    })
    return report


def format_report(report: dict[str, Any]) -> str:
    """A plain-text table of a report from ``evaluate_scores``/``evaluate_predictions``."""
    ap = report.get("average_precision", {})
    lines = [f"{'label':<20} {'AUROC':>7}  {'95% CI':>15}  {'PR-AUC':>6}  {'pos':>5} {'neg':>6}"]
    for label, entry in report["auroc"].items():
        if entry is None:
            lines.append(f"{label:<20} {'n/a':>7}  {'(one class only)':>15}")
            continue
        ci = entry.get("ci95")
        ci_text = f"{ci[0]:.3f}-{ci[1]:.3f}" if ci else "n/a"
        pr = ap.get(label)
        pr_text = "n/a" if pr is None else f"{pr:.3f}"
        lines.append(f"{label:<20} {entry['value']:>7.4f}  {ci_text:>15}  {pr_text:>6}  "
                     f"{entry['n_pos']:>5} {entry['n_neg']:>6}")
    for name, key in (("mean", "mean_auroc"), ("micro-average", "micro_auroc")):
        value = report.get(key)
        ci = report.get(f"{key}_ci95")
        ci_text = f"  {ci[0]:.3f}-{ci[1]:.3f}".rjust(17) if ci else ""
        lines.append(f"{name:<20} {value:>7.4f}{ci_text}" if value is not None else f"{name:<20} {'n/a':>7}")
    if report.get("mean_average_precision") is not None:
        lines.append(f"{'mean PR-AUC':<20} {report['mean_average_precision']:>7.4f}")
    ece = report.get("calibration_error")
    if ece and ece.get("mean") is not None:
        lines.append(f"{'mean ECE':<20} {ece['mean']:>7.4f}  ({ece['bins']} equal-width bins)")
    points = report.get("operating_points")
    if points and any(points["mean"].values()):
        mean = points["mean"]
        text = ", ".join(f"{k} {v:.3f}" for k, v in mean.items() if v is not None)
        lines.append(f"at {points['rule']}: mean {text}")
    lines.append(f"{report['n_images']} images; bootstrap: {report['bootstrap']['resamples']} resamples by "
                 f"{report['bootstrap']['unit']}")
    return "\n".join(lines)
