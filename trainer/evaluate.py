"""Measuring a model: AUROC per label with bootstrap intervals, operating points, and the batch CSV.

AUROC is computed from ranks (the Mann-Whitney statistic, ties counted half), in a weighted form
so that a bootstrap resample is just a vector of counts: 1000 resamples of a 25,000-image test
split cost a few seconds, not minutes. scikit-learn's ``roc_auc_score`` is the tests' oracle.

``evaluate_predictions`` scores a CSV written by ``cxr-viewer batch`` (columns ``prob_<Label>``)
or any CSV with one column per label, against the labels of the NIH Data_Entry file.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from viewer.core.nih import NIH_LABELS, find_data_entry, read_data_entry

from .errors import TrainerError

PROB_PREFIX = "prob_"
FLAG_PREFIX = "flag_"


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
    return {
        "auroc": per_label,
        "mean_auroc": round(float(np.mean(defined)), 6) if defined else None,
        "labels_with_auroc": len(defined),
        "n_images": n,
        "bootstrap": {"resamples": resamples, "seed": seed,
                      "unit": "patient" if groups is not None else "image", "interval": "percentile 95%"},
    }


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
    probabilities: np.ndarray,
    labels: Sequence[str],
    thresholds: dict[str, float] | None = None,
) -> None:
    """Predictions in the columns of ``cxr-viewer batch`` that apply to a training run
    (``Image Index, path, status, error, prob_<Label>..., flag_<Label>...``)."""
    header = ["Image Index", "path", "status", "error"] + [PROB_PREFIX + x for x in labels]
    if thresholds:
        header += [FLAG_PREFIX + x for x in labels]
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for name, rel, probs in zip(image_names, relative_paths, probabilities):
            row = [name, rel, "ok", ""] + [f"{p:.6f}" for p in probs]
            if thresholds:
                row += [int(p >= thresholds[x]) for p, x in zip(probs, labels)]
            writer.writerow(row)


def read_predictions(path: Path) -> tuple[list[str], np.ndarray, list[str], int]:
    """(image names, scores [N, L], label names, rows skipped for status != ok) of a CSV.

    Label columns are ``prob_<Label>`` when any exist, else columns named like the NIH labels.
    """
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
            columns = [c.strip() for c in (rows[0].keys() if rows else [])]
    except FileNotFoundError:
        raise TrainerError(f"{path}: predictions file not found") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise TrainerError(f"{path}: cannot be read as a CSV file ({exc})") from None
    if not rows:
        raise TrainerError(f"{path}: has no rows of predictions")
    prob_columns = [c for c in columns if c.startswith(PROB_PREFIX)]
    if prob_columns:
        labels = [c[len(PROB_PREFIX):] for c in prob_columns]
    else:
        labels = [c for c in columns if c in NIH_LABELS]
        prob_columns = labels
    if not labels:
        raise TrainerError(
            f"{path}: no prediction columns (expected prob_<Label> columns as cxr-viewer batch "
            "writes them, or columns named after the NIH labels)"
        )
    if "Image Index" not in columns and "path" not in columns:
        raise TrainerError(f"{path}: needs an 'Image Index' or 'path' column naming each image")
    names, scores, skipped = [], [], 0
    for line, row in enumerate(rows, start=2):
        row = {(k or "").strip(): v for k, v in row.items()}
        if row.get("status", "ok").strip() not in ("ok", ""):
            skipped += 1
            continue
        name = (row.get("Image Index") or "").strip() or os.path.basename((row.get("path") or "").strip())
        try:
            scores.append([float(row[c]) for c in prob_columns])
        except (TypeError, ValueError):
            raise TrainerError(f"{path}: line {line} has a prediction that is not a number") from None
        names.append(name)
    return names, np.asarray(scores, np.float64).reshape(len(names), len(labels)), labels, skipped


def evaluate_predictions(
    predictions: str | os.PathLike[str],
    data: str | os.PathLike[str] | None = None,
    labels_csv: str | os.PathLike[str] | None = None,
    resamples: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Score a predictions CSV against the NIH labels (from ``labels_csv`` or found via ``data``)."""
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
    names, scores, labels, skipped = read_predictions(predictions)
    unknown = [x for x in labels if x not in NIH_LABELS]
    if unknown:
        raise TrainerError(f"{predictions}: columns for labels the NIH file does not have: {', '.join(unknown)}")
    keep = [i for i, name in enumerate(names) if name in entries]
    if not keep:
        raise TrainerError(f"{predictions}: none of its {len(names)} images is listed in {csv_path.name}")
    seen: set[str] = set()
    unique = []
    for i in keep:
        if names[i] not in seen:  # an image listed twice counts once
            seen.add(names[i])
            unique.append(i)
    chosen = [entries[names[i]] for i in unique]
    targets = np.array([[1.0 if x in e.labels else 0.0 for x in labels] for e in chosen])
    report = evaluate_scores(targets, scores[unique], labels, resamples, seed,
                             groups=[e.patient_id for e in chosen])
    report.update({
        "predictions": str(predictions),
        "labels_csv": str(csv_path),
        "rows_not_ok": skipped,
        "rows_not_in_labels": len(names) - len(keep),
        "duplicate_rows": len(keep) - len(unique),
    })
    return report


def format_report(report: dict[str, Any]) -> str:
    """A plain-text table of a report from ``evaluate_scores``/``evaluate_predictions``."""
    lines = [f"{'label':<20} {'AUROC':>7}  {'95% CI':>15}  {'pos':>5} {'neg':>6}"]
    for label, entry in report["auroc"].items():
        if entry is None:
            lines.append(f"{label:<20} {'n/a':>7}  {'(one class only)':>15}")
            continue
        ci = entry.get("ci95")
        ci_text = f"{ci[0]:.3f}-{ci[1]:.3f}" if ci else "n/a"
        lines.append(f"{label:<20} {entry['value']:>7.4f}  {ci_text:>15}  {entry['n_pos']:>5} {entry['n_neg']:>6}")
    mean = report.get("mean_auroc")
    lines.append(f"{'mean':<20} {mean:>7.4f}" if mean is not None else f"{'mean':<20} {'n/a':>7}")
    lines.append(f"{report['n_images']} images; bootstrap: {report['bootstrap']['resamples']} resamples by "
                 f"{report['bootstrap']['unit']}")
    return "\n".join(lines)
