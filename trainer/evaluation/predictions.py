"""Predictions CSVs: writing a run's, and scoring any (``cxr-train evaluate``) against the NIH labels.

``evaluate_predictions`` scores a predictions CSV (``viewer.core.predictions_csv`` reads it: one
written by ``cxr-viewer batch``, or any CSV with an ``Image Index`` column and one probability
column per label, named by the label, with or without ``prob_``) against the labels of the NIH
Data_Entry file; ``write_predictions_csv`` writes a run's predictions in the same columns.
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from viewer.core.findings import flags_at
from viewer.core.nih import find_data_entry, read_data_entry
from viewer.core.predictions_csv import PredictionsCsvError, PredictionsFile, read_predictions
from viewer.core.pseudonyms import KeyNumbers

from ..errors import TrainerError
from .metrics import (
    ECE_BINS,
    CalibrationErrors,
    OperatingPoints,
    ScoreReport,
    calibration_errors,
    confusion_figures,
    evaluate_scores,
)


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


@dataclass(frozen=True)
class PredictionsReport:
    """What ``cxr-train evaluate`` measured on a predictions file, and which rows it left out."""

    scores: ScoreReport
    calibration_error: CalibrationErrors | None  # None: the file holds scores, not probabilities
    operating_points: OperatingPoints | None  # None: the file has no flag_<Label> columns
    predictions: str
    labels_csv: str
    rows_not_ok: int
    rows_not_in_labels: int
    duplicate_rows: int

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``--json``): the scores' keys, then the calibration error, the file's
        operating points when it has flags, and the file and row counts."""
        report = self.scores.to_dict()
        report["calibration_error"] = (None if self.calibration_error is None
                                       else {"bins": ECE_BINS, **self.calibration_error.to_dict()})
        if self.operating_points is not None:
            report["operating_points"] = self.operating_points.to_dict()
        report.update({"predictions": self.predictions, "labels_csv": self.labels_csv, "rows_not_ok": self.rows_not_ok,
                       "rows_not_in_labels": self.rows_not_in_labels, "duplicate_rows": self.duplicate_rows})
        return report


def evaluate_predictions(
    predictions: str | os.PathLike[str],
    data: str | os.PathLike[str] | None = None,
    labels_csv: str | os.PathLike[str] | None = None,
    resamples: int = 1000,
    seed: int = 0,
) -> PredictionsReport:
    """Score a predictions CSV against the NIH labels (from ``labels_csv`` or found via ``data``):
    ``evaluate_scores`` (AUROC with patient-bootstrap intervals, micro AUROC, PR-AUC), the ECE of
    the probabilities and, when the file has ``flag_<Label>`` columns, the operating points of
    those flags."""
    scored = scored_predictions(predictions, data, labels_csv)
    scores = evaluate_scores(scored.targets, scored.scores, scored.labels, resamples, seed, groups=scored.groups)
    errors = None
    if scored.scores.size and 0.0 <= scored.scores.min() and scored.scores.max() <= 1.0:
        errors = calibration_errors(scored.targets, scored.scores, scored.labels)
    # else scores, not probabilities (AUROC and PR-AUC only need their order)
    points = None
    if scored.flags is not None:
        points = OperatingPoints("the file's flag_<Label> columns",
                                 {x: confusion_figures(scored.targets[:, j], scored.flags[:, j] > 0.5)
                                  for j, x in enumerate(scored.labels)})
    return PredictionsReport(scores, errors, points, str(predictions), str(scored.csv_path), scored.rows_not_ok,
                             scored.rows_not_in_labels, scored.duplicate_rows)


def format_report(report: PredictionsReport) -> str:
    """A plain-text table of what ``evaluate_predictions`` measured."""
    scores = report.scores
    lines = [f"{'label':<20} {'AUROC':>7}  {'95% CI':>15}  {'PR-AUC':>6}  {'pos':>5} {'neg':>6}"]
    for label, entry in scores.auroc.items():
        if entry is None:
            lines.append(f"{label:<20} {'n/a':>7}  {'(one class only)':>15}")
            continue
        ci = entry.ci95
        ci_text = f"{ci[0]:.3f}-{ci[1]:.3f}" if ci else "n/a"
        pr = scores.average_precision.get(label)
        pr_text = "n/a" if pr is None else f"{pr:.3f}"
        lines.append(f"{label:<20} {entry.value:>7.4f}  {ci_text:>15}  {pr_text:>6}  "
                     f"{entry.n_pos:>5} {entry.n_neg:>6}")
    for name, value, ci in (("mean", scores.mean_auroc, scores.mean_auroc_ci95),
                            ("micro-average", scores.micro_auroc, None)):
        ci_text = f"  {ci[0]:.3f}-{ci[1]:.3f}".rjust(17) if ci else ""
        lines.append(f"{name:<20} {value:>7.4f}{ci_text}" if value is not None else f"{name:<20} {'n/a':>7}")
    if scores.mean_average_precision is not None:
        lines.append(f"{'mean PR-AUC':<20} {scores.mean_average_precision:>7.4f}")
    ece = report.calibration_error
    if ece is not None and ece.mean is not None:
        lines.append(f"{'mean ECE':<20} {ece.mean:>7.4f}  ({ECE_BINS} equal-width bins)")
    points = report.operating_points
    if points is not None and any(points.mean.values()):
        text = ", ".join(f"{k} {v:.3f}" for k, v in points.mean.items() if v is not None)
        lines.append(f"at {points.rule}: mean {text}")
    lines.append(f"{scores.n_images} images; bootstrap: {scores.bootstrap.resamples} resamples by "
                 f"{scores.bootstrap.unit}")
    return "\n".join(lines)
