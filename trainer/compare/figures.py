"""The figures of a comparison, per paired label and averaged over them.

For each label pair (``pairing.LabelPair``), on the images whose target the dataset knows:

* AUROC of A and of B (``metrics.auroc``: ties count half, as scikit-learn's ``roc_auc_score``);
* their difference B - A with a paired patient-bootstrap 95% interval
  (``tta.paired_auroc_change``: both models' scores resampled with the same draws of whole
  patients, so the interval is that of the difference itself); the mean difference over the
  labels defined on these images, with its interval over the same draws;
* sensitivity at 90% specificity of each model, read off the ROC curve that scikit-learn's
  ``roc_curve`` gives (one point per distinct score): at false-positive rate 0.1 the curve's
  height, linearly interpolated between the two points either side of 0.1 (the operating point
  reached by choosing at random between their two thresholds), or the highest sensitivity of the
  points exactly at 0.1;
* flags that flip: images A flags and B does not, and the reverse, each at its own card's
  thresholds (the ``Findings.flags`` the viewer shows), counted over every compared image
  whatever its target (with how many of them are positives and negatives where it is known).

And the images whose probability changes most from A to B, by image name and label.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import roc_curve

from ..data.labels import Sample
from ..evaluation.metrics import auroc, known_rows
from ..evaluation.tta import paired_auroc_change
from .images import PairedPredictions
from .pairing import LabelPair

SPECIFICITY = 0.9
TOLERANCE = 1e-9  # a false-positive rate this close to 1 - SPECIFICITY is on it (k / n is inexact)
SENSITIVITY_RULE = ("sensitivity at false-positive rate 0.1 on scikit-learn's roc_curve points, linearly "
                    "interpolated between the points either side (the highest sensitivity of points exactly at 0.1)")


def sensitivity_at_specificity(y_true: np.ndarray, scores: np.ndarray,
                               specificity: float = SPECIFICITY) -> float | None:
    """Sensitivity where the ROC curve reaches ``specificity`` (module doc); None without both
    classes among the known targets."""
    y_true, scores = known_rows(y_true, np.asarray(scores, np.float64))
    positives = int((y_true > 0.5).sum())
    if positives == 0 or positives == len(y_true):
        return None
    fpr, tpr, _ = roc_curve(y_true > 0.5, scores, drop_intermediate=False)
    target = 1.0 - specificity
    on = np.abs(fpr - target) <= TOLERANCE
    if on.any():
        return float(tpr[on].max())
    before = int(np.flatnonzero(fpr < target)[-1])  # fpr starts at 0 and ends at 1, both sides exist
    after = before + 1  # fpr does not decrease: the next point is past the target
    share = (target - fpr[before]) / (fpr[after] - fpr[before])
    return float(tpr[before] + share * (tpr[after] - tpr[before]))


def pair_targets(targets_a: np.ndarray, targets_b: np.ndarray, pairs: Sequence[LabelPair]) -> tuple[np.ndarray, int]:
    """([N, P] targets of the pairs, how many known targets the two models' mappings disagree on).

    A pair's target comes from the dataset through A's label map where it knows it, else through
    B's (a name only one model's spelling lets the taxonomy find); where both know it and differ,
    which does not happen with the taxonomy's pairs, it is unknown (NaN)."""
    out = np.full((len(targets_a), len(pairs)), np.nan)
    conflicts = 0
    for k, pair in enumerate(pairs):
        ta, tb = targets_a[:, pair.index_a], targets_b[:, pair.index_b]
        merged = np.where(np.isnan(ta), tb, ta)
        clash = ~np.isnan(ta) & ~np.isnan(tb) & (ta != tb)
        merged[clash] = np.nan
        conflicts += int(clash.sum())
        out[:, k] = merged
    return out, conflicts


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 6)


def _flips(flags_from: np.ndarray, flags_to: np.ndarray, target: np.ndarray) -> dict[str, int]:
    """Images flagged by one model and not by the other, and how many are positive/negative."""
    flipped = flags_from & ~flags_to
    return {"images": int(flipped.sum()), "positives": int((flipped & (target == 1)).sum()),
            "negatives": int((flipped & (target == 0)).sum())}


def label_figures(predictions: PairedPredictions, targets: np.ndarray, pairs: Sequence[LabelPair],
                  resamples: int, seed: int) -> dict[str, Any]:
    """Per pair and mean: AUROCs, the paired difference with its interval, sensitivity at 90%
    specificity, flips. ``targets``: [N, P] from ``pair_targets``."""
    names = [p.name for p in pairs]
    scores_a = np.stack([predictions.probabilities_a[:, p.index_a] for p in pairs], axis=1)
    scores_b = np.stack([predictions.probabilities_b[:, p.index_b] for p in pairs], axis=1)
    groups = [s.patient_id for s in predictions.samples]
    difference = paired_auroc_change(targets, scores_a, scores_b, names, resamples, seed, groups)
    per_label: dict[str, Any] = {}
    for k, pair in enumerate(pairs):
        known = targets[~np.isnan(targets[:, k]), k]
        n_pos = int((known == 1).sum())
        flags_a, flags_b = predictions.flags_a[:, pair.index_a], predictions.flags_b[:, pair.index_b]
        change = difference["per_label"][pair.name]
        per_label[pair.name] = {
            "a": pair.a, "b": pair.b, "how": pair.how,
            "n_pos": n_pos, "n_neg": len(known) - n_pos,
            "auroc_a": _round(auroc(targets[:, k], scores_a[:, k])),
            "auroc_b": _round(auroc(targets[:, k], scores_b[:, k])),
            "difference": None if change is None else change["change"],
            "difference_ci95": None if change is None else change["ci95"],
            "sensitivity_at_90_specificity_a": _round(sensitivity_at_specificity(targets[:, k], scores_a[:, k])),
            "sensitivity_at_90_specificity_b": _round(sensitivity_at_specificity(targets[:, k], scores_b[:, k])),
            "flags_a": int(flags_a.sum()), "flags_b": int(flags_b.sum()),
            "flagged_by_a_only": _flips(flags_a, flags_b, targets[:, k]),
            "flagged_by_b_only": _flips(flags_b, flags_a, targets[:, k]),
        }
    defined = [e for e in per_label.values() if e["difference"] is not None]

    def mean(key: str) -> float | None:
        values = [e[key] for e in defined if e[key] is not None]
        return round(float(np.mean(values)), 6) if values else None

    return {
        "per_label": per_label,
        "mean": {"labels": len(defined), "auroc_a": mean("auroc_a"), "auroc_b": mean("auroc_b"),
                 "difference": difference["mean_change"], "difference_ci95": difference["mean_change_ci95"],
                 "sensitivity_at_90_specificity_a": mean("sensitivity_at_90_specificity_a"),
                 "sensitivity_at_90_specificity_b": mean("sensitivity_at_90_specificity_b"),
                 "flagged_by_a_only": sum(e["flagged_by_a_only"]["images"] for e in per_label.values()),
                 "flagged_by_b_only": sum(e["flagged_by_b_only"]["images"] for e in per_label.values())},
        "bootstrap": difference["bootstrap"],
        "sensitivity_rule": SENSITIVITY_RULE,
    }


def top_changes(predictions: PairedPredictions, targets: np.ndarray, pairs: Sequence[LabelPair],
                count: int) -> list[dict[str, Any]]:
    """The ``count`` (image, label) pairs whose probability changes most from A to B, largest
    first (ties in image order): named by the image's name in the dataset, never by patient."""
    if not pairs or count <= 0:
        return []
    a = np.stack([predictions.probabilities_a[:, p.index_a] for p in pairs], axis=1)
    b = np.stack([predictions.probabilities_b[:, p.index_b] for p in pairs], axis=1)
    change = (b - a).ravel()
    order = np.argsort(-np.abs(change), kind="stable")[:count]
    samples: list[Sample] = predictions.samples
    out = []
    for flat in order:
        i, k = divmod(int(flat), len(pairs))
        pair, target = pairs[k], targets[i, k]
        out.append({"image": samples[i].image_index, "label": pair.name,
                    "probability_a": round(float(a[i, k]), 6), "probability_b": round(float(b[i, k]), 6),
                    "change": round(float(change[flat]), 6),
                    "flag_a": bool(predictions.flags_a[i, pair.index_a]),
                    "flag_b": bool(predictions.flags_b[i, pair.index_b]),
                    "target": None if np.isnan(target) else int(target)})
    return out
