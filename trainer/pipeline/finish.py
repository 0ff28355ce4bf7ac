"""After training: the steps from a trained network to its measured, exported model pair.

``finish`` is what ``cxr-train train`` does once the weights are chosen, and all that
``cxr-train export`` does with a checkpoint. Its steps, each a function below, in this order:

1. ``predict_splits``: the network's logits on validation and test;
2. per-label calibration fitted on validation (``fit_calibration``), applied to both;
3. each label's threshold chosen on validation (``choose_thresholds``);
4. ``measure``: the test figures (``RunMetrics``: AUROC with patient-bootstrap intervals, PR-AUC,
   operating points at the validation thresholds, ECE before and after calibration, the split);
5. ``write_predictions``: ``predictions_val.csv`` and ``predictions_test.csv``;
6. ``write_evaluation``: ``metrics.json``, ``evaluation.md`` and ``roc_curves.png``;
7. ``export_model``: the ONNX pair with its card (training record, OOD statistics), checked;
8. ``gradcam_randomisation``: the maps' parameter-randomisation sanity check (recorded and
   logged; a failure does not stop the export);
9. ``int8_variant`` (``--int8``) and ``write_export_checks``: ``export_checks.json``;
10. ``draw_gallery``: ``gallery.png``.

Without export (``--no-export``) it stops after step 6. It returns a ``RunSummary``, which the
command line prints as JSON.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from viewer.core.boxes import BoxTable, find_bbox_csv
from viewer.core.errors import CxrError
from viewer.core.ood import fit_ood
from viewer.core.preprocess import preprocess

from ..config import TrainConfig
from ..data.datasets import EvalImages
from ..data.split import SplitRecord
from ..errors import TrainerError
from ..evaluation.calibrate import Calibration, fit_calibration
from ..evaluation.metrics import ModelMetrics, ece_report, evaluate_scores, operating_points
from ..evaluation.predictions import write_predictions_csv
from ..evaluation.published import comparison_table
from ..evaluation.roc_plot import plot_roc_curves
from ..evaluation.thresholds import Thresholds, choose_thresholds, prevalence
from ..export.card import card_fields
from ..export.pair import ExportResult, export_pair
from ..export.randomisation import CHECK_IMAGES as RANDOMISATION_IMAGES
from ..export.randomisation import log_result, randomisation_check
from ..models.network import CxrNet
from ..report.gallery import GalleryItem, pick_items, write_gallery
from ..training.predict import predict_logits
from .prepare import PreparedData

log = logging.getLogger(__name__)
EXPORT_CHECK_IMAGES = 4
# options the card's training record leaves out: where files were, how fast, not what was computed
NOT_IN_RECORD = ("data", "out", "labels_csv", "cache_dir", "workers", "threads", "log_every", "tried", "name",
                 "weights", "no_export", "split_file", "split_lists", "progress")


@dataclass(frozen=True)
class TrainingOutcome:
    """How the exported weights came about, for the card's training record."""

    epochs: int
    chosen_weights: str  # "weights of epoch N, the best by val_loss", "SWA average of ...", ...
    # known to a training run, not to a later export of its checkpoint (None there: left out)
    stopped_early: bool | None = None
    history: list[dict[str, Any]] | None = None  # per epoch: epoch, train_loss, val_loss, val_auroc
    train_images_per_second: float | None = None

    def to_dict(self) -> dict[str, Any]:
        record: dict[str, Any] = {"epochs": self.epochs, "chosen_weights": self.chosen_weights}
        if self.history is not None:
            record.update({"stopped_early": self.stopped_early, "history": self.history,
                           "train_images_per_second": self.train_images_per_second})
        return record


@dataclass(frozen=True)
class SplitArrays:
    """One array per evaluation split: [N_val, L] and [N_test, L]."""

    val: np.ndarray
    test: np.ndarray


@dataclass(frozen=True)
class RunMetrics:
    """A run's figures: the test split's, the validation mean AUROC, and the split they were
    measured on; ``to_dict`` is ``metrics.json["metrics"]`` and the card's ``metrics``."""

    test: ModelMetrics
    validation_mean_auroc: float | None
    split: SplitRecord

    def to_dict(self) -> dict[str, Any]:
        return {**self.test.scores.to_dict(), "validation_mean_auroc": self.validation_mean_auroc,
                "operating_points": self.test.operating_points.to_dict(),
                "calibration_error": self.test.calibration_error.to_dict(), "split": self.split.to_dict()}


@dataclass(frozen=True)
class ExportedPair:
    """Where the model pair went, and its card's ``model_id``."""

    model: str
    sidecar: str
    model_id: str


@dataclass(frozen=True)
class RunSummary:
    """What a finished run or export made: the folder, the mean AUROCs, the pair and gallery."""

    out: str
    test_mean_auroc: float | None
    validation_mean_auroc: float | None
    exported: ExportedPair | None = None  # None with --no-export
    gallery: str | None = None
    seconds: float | None = None  # the whole run's, from cxr-train train
    gradcam_randomisation: dict[str, Any] | None = None  # the sanity check's record (None with --no-export)

    def to_dict(self) -> dict[str, Any]:
        """The JSON the command line prints."""
        summary: dict[str, Any] = {"finished": True, "out": self.out, "test_mean_auroc": self.test_mean_auroc,
                                   "validation_mean_auroc": self.validation_mean_auroc}
        if self.exported is not None:
            summary.update(dataclasses.asdict(self.exported))
        if self.gradcam_randomisation is not None:  # the one check that can fail without stopping the export
            record = self.gradcam_randomisation
            summary["gradcam_randomisation"] = {
                "passed": record["passed"],
                "median_correlation": record["steps"][record["gating_step"]]["median_correlation"]}
        if self.gallery is not None:
            summary["gallery"] = self.gallery
        if self.seconds is not None:
            summary["seconds"] = self.seconds
        return summary


def finish(config: TrainConfig, net: CxrNet, data: PreparedData, out: Path, training: TrainingOutcome,
           val_logits: np.ndarray | None = None) -> RunSummary:
    """Calibrate and choose thresholds on validation, measure on test, export, draw the gallery.

    ``val_logits``: the validation logits of ``net`` when training already computed them.
    """
    labels = data.table.labels
    net.eval()
    logits = predict_splits(config, net, data, val_logits)
    calibration = fit_calibration(logits.val, data.known_targets("val"), config.calibration, labels)
    probabilities = SplitArrays(calibration.apply(logits.val), calibration.apply(logits.test))
    thresholds = choose_thresholds(data.known_targets("val"), probabilities.val, labels, rule=config.threshold_rule,
                                   prior=prevalence(data.known_targets("train")))
    metrics = measure(config, data, logits, probabilities, thresholds, calibration)
    write_predictions(out, data, thresholds, probabilities)
    write_evaluation(config, data, out, metrics, thresholds, calibration, probabilities)
    summary = RunSummary(str(out), metrics.test.scores.mean_auroc, metrics.validation_mean_auroc)
    if config.no_export:
        return summary

    exported = export_model(config, net, data, out, calibration, thresholds, metrics, training)
    checks = dict(exported.checks)
    checks["gradcam_randomisation"] = gradcam_randomisation(config, net, data, calibration)
    if config.int8:
        checks["int8"] = int8_variant(config, data, exported.classifier_path, out)
    write_export_checks(out, checks)
    summary = dataclasses.replace(summary, exported=ExportedPair(
        str(exported.classifier_path), str(exported.sidecar_path), exported.model_id),
        gradcam_randomisation=checks["gradcam_randomisation"])
    if config.gallery and data.split.test:
        summary = dataclasses.replace(summary, gallery=str(draw_gallery(config, data, exported.classifier_path, out)))
    return summary


# -- the steps ----------------------------------------------------------------------------------------
def predict_splits(config: TrainConfig, net: CxrNet, data: PreparedData,
                   val_logits: np.ndarray | None = None) -> SplitArrays:
    """The logits [N, L] of ``net`` on the validation and test images (``val_logits`` reused when
    training computed them for exactly these weights and images)."""
    labels, split = data.table.labels, data.split
    batch = max(1, config.batch_size * 2)

    def predict(name: str) -> np.ndarray:
        if not split.indices(name):
            return np.zeros((0, len(labels)), np.float32)
        return predict_logits(net, EvalImages(data.sources[name], data.targets(name), config.size), batch)

    if val_logits is None or len(val_logits) != len(split.val):
        val_logits = predict("val")
    return SplitArrays(val_logits, predict("test"))


def measure(config: TrainConfig, data: PreparedData, logits: SplitArrays, probabilities: SplitArrays,
            thresholds: Thresholds, calibration: Calibration) -> RunMetrics:
    """The test figures with a patient bootstrap, each label flagged at its validation threshold,
    the ECE before (sigmoid of the logits) and after calibration, and the validation mean AUROC."""
    labels, split = data.table.labels, data.split
    test_targets = data.known_targets("test")  # NaN where unknown: left out of every figure
    test_groups = [data.table.samples[i].patient_id for i in split.test]
    scores = evaluate_scores(test_targets, probabilities.test, labels, config.bootstrap, config.seed,
                             groups=test_groups)
    validation = evaluate_scores(data.known_targets("val"), probabilities.val, labels, 0, config.seed)
    points = operating_points(test_targets, probabilities.test, thresholds.values, labels, thresholds.rule)
    if points.per_image is not None:
        log.info("test flags per image %.2f, true labels per image %.2f (ratio %s) at the validation thresholds",
                 points.per_image.flags, points.per_image.true_labels,
                 "n/a" if points.per_image.ratio is None else f"{points.per_image.ratio:.2f}")
    uncalibrated = 1.0 / (1.0 + np.exp(-logits.test))
    errors = ece_report(test_targets, uncalibrated, probabilities.test, labels, "test", calibration.method)
    return RunMetrics(ModelMetrics(scores, points, errors), validation.mean_auroc,
                      SplitRecord.of(data.table.samples, labels, split, data.split_hash))


def write_predictions(out: Path, data: PreparedData, thresholds: Thresholds, probabilities: SplitArrays) -> None:
    """``predictions_val.csv`` and ``predictions_test.csv``, flagged at the validation thresholds,
    paths relative to the label file's folder."""
    root = Path(data.table.csv_path).parent
    for name, probs in (("val", probabilities.val), ("test", probabilities.test)):
        samples = [data.table.samples[i] for i in data.split.indices(name)]
        write_predictions_csv(
            out / f"predictions_{name}.csv", [s.image_index for s in samples],
            [Path(os.path.relpath(s.path, root)).as_posix() for s in samples], [s.patient_id for s in samples],
            probs, data.table.labels, thresholds.values,
        )


def write_evaluation(config: TrainConfig, data: PreparedData, out: Path, metrics: RunMetrics, thresholds: Thresholds,
                     calibration: Calibration, probabilities: SplitArrays) -> None:
    """``metrics.json`` (metrics, thresholds, calibration), ``evaluation.md`` (the test figures
    beside the published AUROCs) and, with test images, ``roc_curves.png``; one log line."""
    labels, split = data.table.labels, data.split
    figures = metrics.to_dict()
    (out / "metrics.json").write_text(json.dumps(
        {"metrics": figures, "thresholds": thresholds.to_card(), "calibration": calibration.to_card(labels)},
        indent=1), encoding="utf-8")
    title = f"{config.name} ({config.arch}, {config.size} px), test split"
    (out / "evaluation.md").write_text(comparison_table(figures, title), encoding="utf-8")
    if split.test:
        plot_roc_curves(data.known_targets("test"), probabilities.test, labels, out / "roc_curves.png",
                        f"{title}: ROC curves", thresholds.values)
    scores = metrics.test.scores
    log.info("test mean AUROC %s over %d labels, micro-average %s (%d test images); table in %s",
             "n/a" if scores.mean_auroc is None else f"{scores.mean_auroc:.4f}", scores.labels_with_auroc,
             "n/a" if scores.micro_auroc is None else f"{scores.micro_auroc:.4f}", len(split.test),
             out / "evaluation.md")


def training_record(config: TrainConfig, data: PreparedData, training: TrainingOutcome) -> dict[str, Any]:
    """The card's ``training`` object (``card_fields`` adds the trainer version, commit, date)."""
    return {
        "data": _data_description(config, data),
        "seed": config.seed,
        "arch": config.arch,
        "input_size": config.size,
        "initial_weights": Path(config.weights).name if config.weights else "random (trained from scratch)",
        "options": {k: v for k, v in config.to_dict().items() if k not in NOT_IN_RECORD},
        "tried": list(config.tried),
        **training.to_dict(),
    }


def export_model(config: TrainConfig, net: CxrNet, data: PreparedData, out: Path, calibration: Calibration,
                 thresholds: Thresholds, metrics: RunMetrics, training: TrainingOutcome) -> ExportResult:
    """The ONNX pair with its card (the OOD statistics fitted on training images as the viewer
    prepares them), checked on a few real images; ``ExportCheckError`` if a check fails."""
    labels = data.table.labels
    ood = fit_ood(_ood_images(config, data))
    fields = card_fields(name=config.name, arch=config.arch, labels=labels, size=config.size,
                         thresholds=thresholds.to_card(), calibration=calibration.to_card(labels),
                         metrics=metrics.to_dict(), training=training_record(config, data, training), ood=ood)
    return export_pair(net, calibration, fields, out, config.name, _check_images(config, data))


def gradcam_randomisation(config: TrainConfig, net: CxrNet, data: PreparedData,
                          calibration: Calibration) -> dict[str, Any]:
    """The Grad-CAM maps' parameter-randomisation sanity check on a few real images (seeds
    other than the run's, so no re-initialisation is the one training started from);
    the record for ``export_checks.json``, one log line (a warning when it fails)."""
    result = randomisation_check(net, calibration, _check_images(config, data, RANDOMISATION_IMAGES),
                                 seed=config.seed + 1)
    log_result(result)
    return result


def int8_variant(config: TrainConfig, data: PreparedData, classifier: Path, out: Path) -> dict[str, Any]:
    """``--int8``: the int8 pair, calibrated on training images, measured on the test split beside
    the fp32 pair and kept only if its mean AUROC is at most 0.005 lower (``trainer.export.int8``);
    the record for ``export_checks.json``."""
    from ..export.int8.variant import make_int8_variant  # ONNX Runtime's quantiser only when asked

    if not data.split.test:
        log.warning("--int8: no test images to measure an int8 variant on; none made")
        return {"kept": False, "reason": "no test images to measure it on"}
    samples = data.table.samples
    report = make_int8_variant(
        classifier, [samples[i].path for i in data.split.train], [samples[i].path for i in data.split.test],
        data.known_targets("test"), out, seed=config.seed, test_groups=[samples[i].patient_id for i in data.split.test],
        bootstrap=config.bootstrap, threads=config.threads or None)
    change = report["mean_auroc"]["change"]
    log.info("int8 variant: %s (test mean AUROC change %s, %.1fx the fp32 speed)",
             "kept" if report["kept"] else "not kept", "n/a" if change is None else f"{change:+.4f}",
             report["speed"]["speedup"])
    return report


def write_export_checks(out: Path, checks: dict[str, Any]) -> Path:
    """``export_checks.json``: each export check's figures (and the int8 variant's record)."""
    path = out / "export_checks.json"
    path.write_text(json.dumps(checks, indent=1), encoding="utf-8")
    return path


def draw_gallery(config: TrainConfig, data: PreparedData, model_path: Path, out: Path) -> Path:
    """``gallery.png``: test images with the exported pair's heatmaps (and NIH boxes when found)."""
    source = data.sources["test"]
    items = [GalleryItem(data.table.samples[i].image_index, np.asarray(source[k], np.float32),
                         data.table.samples[i].labels) for k, i in enumerate(data.split.test)]
    boxes = None
    bbox_csv = find_bbox_csv(Path(config.data))
    if bbox_csv is not None:
        try:
            boxes = BoxTable.load(bbox_csv)
        except CxrError as exc:  # the gallery is a picture; a bad box file only costs the boxes
            log.warning("gallery without boxes: %s", exc)
    return write_gallery(model_path, pick_items(items, config.gallery, boxes), out / "gallery.png", boxes)


# -- what the steps share -------------------------------------------------------------------------------
def _data_description(config: TrainConfig, data: PreparedData) -> str:
    samples = data.table.samples
    also = "".join(f" and {Path(entry.partition('=')[2]).name}/ ({entry.partition('=')[0]})"
                   for entry in config.also_data)
    return (f"{len(samples)} images of {len({s.patient_id for s in samples})} patients under "
            f"{Path(config.data).name}/ labelled by {data.table.csv_path.name}{also}"
            + (f" (views {'/'.join(config.views)})" if config.views else ""))


def _ood_images(config: TrainConfig, data: PreparedData) -> list[np.ndarray]:
    """Training images prepared exactly as the viewer prepares them (a seeded sample)."""
    train = list(data.split.train)
    rng = np.random.default_rng(config.seed)
    chosen = sorted(rng.choice(len(train), size=min(config.ood_sample, len(train)), replace=False))
    return [preprocess(data.table.samples[train[j]].path, config.size, config.size) for j in chosen]


def _check_images(config: TrainConfig, data: PreparedData, count: int = EXPORT_CHECK_IMAGES) -> np.ndarray:
    """A few real prepared images for the export checks (test, else validation, else training)."""
    for name in ("test", "val", "train"):
        indices = data.split.indices(name)[:count]
        if indices:
            return np.stack([preprocess(data.table.samples[i].path, config.size, config.size) for i in indices])
    raise TrainerError("no images to check the export on")
