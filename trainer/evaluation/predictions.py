"""Predictions CSVs: writing a run's, and scoring any (``cxr-train evaluate``) against a dataset's labels.

``evaluate_predictions`` scores a predictions CSV (``viewer.core.predictions_csv`` reads it: one
written by ``cxr-viewer batch``, or any CSV with an ``Image Index`` column and one probability
column per label, named by the label, with or without ``prob_``) against the labels of the NIH
Data_Entry file or of another dataset (``--dataset``: CheXpert, MIMIC-CXR, ...) through the label
taxonomy; ``write_predictions_csv`` writes a run's predictions in the same columns.
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
from viewer.core.predictions_csv import PredictionsCsvError, PredictionsFile, PredictionsTable, read_predictions
from viewer.core.pseudonyms import KeyNumbers

from ..data.labels import LabelledImages, Sample
from ..data.readers import dataset_reader, settle_dataset
from ..errors import TrainerError
from .external import model_targets
from .metrics import (
    ECE_BINS,
    CalibrationErrors,
    OperatingPoints,
    ScoreReport,
    calibration_errors,
    confusion_figures,
    evaluate_scores,
    flags_per_image,
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
    """A predictions file matched with a dataset's labels: one row per labelled image."""

    names: list[str]
    targets: np.ndarray  # [N, L] 0/1, NaN where the dataset leaves the target unknown
    scores: np.ndarray  # [N, L]
    flags: np.ndarray | None
    labels: list[str]
    groups: list[int]  # patient ids
    csv_path: Path
    rows_not_ok: int
    rows_not_in_labels: int
    duplicate_rows: int
    dataset: str = "nih"
    not_annotated: tuple[str, ...] = ()  # the model's labels the dataset does not annotate


def scored_predictions(
    predictions: str | os.PathLike[str],
    data: str | os.PathLike[str] | None = None,
    labels_csv: str | os.PathLike[str] | None = None,
    dataset: str = "auto",
    uncertainty: str | None = None,
) -> ScoredPredictions:
    """The predictions of a CSV beside a dataset's labels (from ``labels_csv`` or found via
    ``data``), as the model's labels through the taxonomy (``external.model_targets``).

    NIH is read from its Data_Entry CSV alone (the images need not be here); the other datasets'
    readers match their label files with the images under ``data``, and a predictions row is
    matched with an image by its ``path`` cell (relative to ``data``) or, where the file name is
    unique, by its name."""
    predictions = Path(predictions)
    start = Path(data) if data else predictions.parent
    dataset, uncertainty = settle_dataset(dataset, uncertainty, start, labels_csv)
    try:
        table = read_predictions(predictions)
    except PredictionsCsvError as exc:
        raise TrainerError(str(exc)) from None
    if dataset == "nih":
        csv_path, matched = _nih_rows(predictions, table, start, labels_csv)
    else:
        csv_path, matched = _dataset_rows(predictions, table, start, labels_csv, dataset, uncertainty)
    rows, samples, labelled = matched
    unique, chosen, seen = [], [], set()
    for i, sample in zip(rows, samples):
        if sample.path not in seen:  # an image listed twice counts once
            seen.add(sample.path)
            unique.append(i)
            chosen.append(sample)
    found = model_targets(chosen, labelled, dataset, table.labels)
    return ScoredPredictions(
        names=[table.names[i] for i in unique], targets=found.targets, scores=table.scores[unique],
        flags=None if table.flags is None else table.flags[unique], labels=table.labels,
        groups=[s.patient_id for s in chosen], csv_path=Path(csv_path), rows_not_ok=table.skipped,
        rows_not_in_labels=len(table.names) - len(rows), duplicate_rows=len(rows) - len(unique),
        dataset=dataset, not_annotated=found.not_annotated,
    )


_Matched = tuple[list[int], list[Sample], LabelledImages]


def _nih_rows(predictions: Path, table: PredictionsTable, start: Path,
              labels_csv: str | os.PathLike[str] | None) -> tuple[Path, _Matched]:
    """Rows whose name the NIH Data_Entry CSV lists, as samples (no image needs to be here)."""
    csv_path = Path(labels_csv) if labels_csv else find_data_entry(start)
    if csv_path is None:
        raise TrainerError(
            f"{start}: no Data_Entry_2017_v2020.csv or Data_Entry_2017.csv here or in a parent "
            "folder (pass --data with the NIH images or --labels-csv FILE)"
        )
    entries = read_data_entry(csv_path)
    rows = [i for i, name in enumerate(table.names) if name in entries]
    if not rows:
        raise TrainerError(f"{predictions}: none of its {len(table.names)} images is listed in {csv_path.name} "
                           "(its 'Image Index' column must hold the NIH file names)")
    samples = [Sample(Path(table.names[i]), table.names[i], entries[table.names[i]].patient_id,
                      entries[table.names[i]].labels, entries[table.names[i]].view) for i in rows]
    return csv_path, (rows, samples, LabelledImages(samples, Path(csv_path)))


def _dataset_rows(predictions: Path, table: PredictionsTable, start: Path,
                  labels_csv: str | os.PathLike[str] | None, dataset: str,
                  uncertainty: str | None) -> tuple[Path, _Matched]:
    """Rows matched with the labelled images the ``dataset`` reader finds under ``start``."""
    labelled = dataset_reader(dataset, uncertainty)(start, labels_csv)
    root = start.absolute()
    by_path: dict[str, Sample] = {}
    by_name: dict[str, list[Sample]] = {}
    for sample in labelled.samples:
        try:
            by_path[sample.path.absolute().relative_to(root).as_posix()] = sample
        except ValueError:  # a sample outside the folder (a reader given --labels-csv elsewhere)
            pass
        by_name.setdefault(sample.path.name, []).append(sample)
    rows: list[int] = []
    samples: list[Sample] = []
    for i, (name, rel) in enumerate(zip(table.names, table.paths)):
        found = by_path.get(Path(rel).as_posix()) if rel else None
        if found is None and len(by_name.get(name, ())) == 1:
            found = by_name[name][0]
        if found is not None:
            rows.append(i)
            samples.append(found)
    if not rows:
        raise TrainerError(
            f"{predictions}: none of its {len(table.names)} rows is an image {dataset} labels under {start} "
            "(rows are matched by their 'path' relative to --data, or by a file name found once there; "
            "run cxr-viewer batch on the same folder)")
    return labelled.csv_path, (rows, samples, labelled)


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
    dataset: str = "nih"
    not_annotated: tuple[str, ...] = ()  # the model's labels the dataset does not annotate: no figures

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``--json``): the scores' keys, then the calibration error, the file's
        operating points when it has flags, and the file and row counts."""
        report = self.scores.to_dict()
        report["calibration_error"] = (None if self.calibration_error is None
                                       else {"bins": ECE_BINS, **self.calibration_error.to_dict()})
        if self.operating_points is not None:
            report["operating_points"] = self.operating_points.to_dict()
        report.update({"predictions": self.predictions, "labels_csv": self.labels_csv, "rows_not_ok": self.rows_not_ok,
                       "rows_not_in_labels": self.rows_not_in_labels, "duplicate_rows": self.duplicate_rows,
                       "dataset": self.dataset, "not_annotated": list(self.not_annotated)})
        return report


def evaluate_predictions(
    predictions: str | os.PathLike[str],
    data: str | os.PathLike[str] | None = None,
    labels_csv: str | os.PathLike[str] | None = None,
    resamples: int = 1000,
    seed: int = 0,
    dataset: str = "auto",
    uncertainty: str | None = None,
) -> PredictionsReport:
    """Score a predictions CSV against a dataset's labels (``scored_predictions``):
    ``evaluate_scores`` (AUROC with patient-bootstrap intervals, micro AUROC, PR-AUC), the ECE of
    the probabilities and, when the file has ``flag_<Label>`` columns, the operating points of
    those flags. Targets the dataset leaves unknown count for no figure."""
    scored = scored_predictions(predictions, data, labels_csv, dataset, uncertainty)
    scores = evaluate_scores(scored.targets, scored.scores, scored.labels, resamples, seed, groups=scored.groups)
    errors = None
    if scored.scores.size and 0.0 <= scored.scores.min() and scored.scores.max() <= 1.0:
        errors = calibration_errors(scored.targets, scored.scores, scored.labels)
    # else scores, not probabilities (AUROC and PR-AUC only need their order)
    points = None
    if scored.flags is not None:
        points = OperatingPoints("the file's flag_<Label> columns",
                                 {x: confusion_figures(scored.targets[:, j], scored.flags[:, j] > 0.5)
                                  for j, x in enumerate(scored.labels)},
                                 per_image=flags_per_image(scored.targets, scored.flags > 0.5))
    return PredictionsReport(scores, errors, points, str(predictions), str(scored.csv_path), scored.rows_not_ok,
                             scored.rows_not_in_labels, scored.duplicate_rows, scored.dataset, scored.not_annotated)


def format_report(report: PredictionsReport) -> str:
    """A plain-text table of what ``evaluate_predictions`` measured."""
    scores = report.scores
    lines = [f"{'label':<20} {'AUROC':>7}  {'95% CI':>15}  {'PR-AUC':>6}  {'pos':>5} {'neg':>6}"]
    for label, entry in scores.auroc.items():
        if entry is None:
            why = f"(not a {report.dataset} label)" if label in report.not_annotated else "(one class only)"
            lines.append(f"{label:<20} {'n/a':>7}  {why:>15}")
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
