"""The exporter's int8 variant: quantise the fp32 pair, measure it on the test split, keep it or not.

``make_int8_variant`` runs right after the fp32 pair is written (``trainer.pipeline.finish``):

1. ``quantize.quantize_pair_on`` writes ``NAME-int8.onnx`` + ``NAME-int8.gradcam.onnx``,
   calibrated on a seeded choice of the run's *training* images only (nothing of validation or
   test enters the model).
2. Both pairs classify the test images through the viewer's own path: ``preprocess`` at the
   card's input size, then ``ModelPair.classify``, in batches (the test split may be large).
3. Per-label AUROC of each with ``trainer.evaluation.metrics.evaluate_scores`` (labels with one class in test are
   n/a), the per-label and mean change (int8 - fp32), the largest probability difference, and
   the classifying time of each.
4. The int8 card's ``metrics`` are recomputed for the int8 model: AUROC with bootstrap intervals
   (the fp32 card's resamples and seed), PR-AUC, operating points at the card's thresholds, ECE;
   ``split`` is carried over (same data); any other fp32 figure that was not re-measured (such as
   ``validation_mean_auroc``) is left out and named in ``training.quantization``. The card goes
   into both files (``onnx_card.write_card``) and the pair is re-opened with ``ModelPair.open``.
5. If the mean AUROC drops by more than ``max_auroc_drop``, both int8 files are deleted.

The returned dict is the JSON record written as ``export_checks.json["int8"]`` (and read by
``bench/quantized.py``), so it stays in that form rather than a record type.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from viewer.core.errors import CxrError
from viewer.core.model import SIDECAR_SUFFIX, ModelPair
from viewer.core.model_card import ModelCard
from viewer.core.onnx_card import write_card
from viewer.core.preprocess import preprocess

from ...errors import TrainerError
from ...evaluation.metrics import (
    LabelAuroc,
    ModelMetrics,
    ScoreReport,
    ece_report,
    evaluate_scores,
    operating_points,
)
from . import DEFAULT_IMAGES
from .quantize import QuantizeResult, choose_calibration, quantize_pair_on

log = logging.getLogger(__name__)

MAX_AUROC_DROP = 0.005  # the target in docs/design.md: int8 mean test AUROC within 0.005 of fp32
DEFAULT_BATCH = 16
DEFAULT_RESAMPLES = 1000  # when the fp32 card records no bootstrap
REMEASURED = ("auroc", "mean_auroc", "labels_with_auroc", "micro_auroc", "average_precision",
              "mean_average_precision", "n_images", "bootstrap", "operating_points", "calibration_error")
CARRIED_OVER = ("split",)  # facts about the data, not the model
CALIBRATION_SOURCE = "training split (a seeded choice)"


class Int8VariantError(TrainerError):
    """The int8 variant could not be made or measured; no int8 file is left behind."""


def make_int8_variant(
    classifier_path: Path,
    calibration_images: Sequence[Path],
    test_images: Sequence[Path],
    test_targets: np.ndarray,
    out_dir: Path,
    *,
    max_auroc_drop: float = MAX_AUROC_DROP,
    seed: int = 0,
    name: str | None = None,
    calibration_count: int = DEFAULT_IMAGES,
    test_groups: Sequence[int] | None = None,
    bootstrap: int | None = None,
    batch_size: int = DEFAULT_BATCH,
    threads: int | None = None,
) -> dict[str, Any]:
    """Write, measure and keep (or delete) the int8 pair of the fp32 pair at ``classifier_path``.

    ``calibration_images``: the run's training image files (a seeded choice of
    ``calibration_count`` of them calibrates the quantiser); ``test_images`` and ``test_targets``
    [N, L] (0/1, in the card's label order): the held-out split; ``test_groups``: their patient
    ids, for a patient bootstrap as in ``trainer.pipeline.finish`` (else images are resampled);
    ``bootstrap``: resamples for the int8 card's intervals (default: the fp32 card's).
    Raises ``CxrError``; on any error after quantising, the int8 files are removed.
    """
    classifier_path, out_dir = Path(classifier_path), Path(out_dir)
    fp32 = ModelPair.open(classifier_path, threads)
    labels = fp32.labels
    targets = _checked_targets(classifier_path, test_images, test_targets, labels, test_groups)
    chosen = choose_calibration(calibration_images, calibration_count, seed)
    if not chosen:
        raise Int8VariantError(f"{classifier_path}: no training images to calibrate the int8 variant on")
    name = name or f"{classifier_path.name.removesuffix('.onnx')}-int8"
    files = (out_dir / f"{name}.onnx", out_dir / f"{name}{SIDECAR_SUFFIX}")
    if any(path.resolve() in (fp32.classifier_path.resolve(), fp32.sidecar_path.resolve()) for path in files):
        raise Int8VariantError(f"{files[0]}: would overwrite the fp32 pair; choose another name or folder")

    try:
        quantized = quantize_pair_on(classifier_path, chosen, out_dir, name=name,
                                     calibration_source=CALIBRATION_SOURCE)
        int8 = ModelPair.open(quantized.classifier_path, threads)
        fp32_probs, int8_probs, seconds = _classify_both(fp32, int8, test_images, batch_size)
        fp32_metrics = fp32.card.metrics or {}
        recorded = fp32_metrics.get("bootstrap") or {}
        resamples = int(bootstrap if bootstrap is not None else recorded.get("resamples", DEFAULT_RESAMPLES))
        boot_seed = int(recorded.get("seed", seed))
        fp32_scores = evaluate_scores(targets, fp32_probs, labels, 0, boot_seed)
        metrics = int8_metrics(fp32.card, targets, int8_probs, resamples, boot_seed, test_groups)
        card = _card_with_metrics(int8.card, metrics, fp32_metrics, len(test_images))
        for path in files:
            write_card(path, card)
        reopened = ModelPair.open(quantized.classifier_path, threads)  # the viewer accepts it, or this raises
        if reopened.card.metrics != card.metrics:
            raise Int8VariantError(f"{quantized.classifier_path}: the card read back differs from the one written")
    except BaseException as exc:  # never leave an int8 pair behind whose card tells the fp32 figures
        for path in files:
            path.unlink(missing_ok=True)
        if isinstance(exc, Exception) and not isinstance(exc, CxrError):  # ONNX Runtime's own errors
            raise Int8VariantError(f"{files[0]}: making or measuring the int8 variant failed "
                                   f"({type(exc).__name__}: {exc}); its files were removed") from exc
        raise

    report = _report(fp32, quantized, fp32_scores, metrics.scores, fp32_probs, int8_probs, seconds,
                     len(chosen), max_auroc_drop, threads)
    if not report["kept"]:
        for path in files:
            path.unlink(missing_ok=True)
        log.warning("int8 variant not kept: %s", report["reason"])
    else:
        log.info("int8 variant %s kept: %s", quantized.classifier_path.name, report["reason"])
    return report


def int8_metrics(
    card: ModelCard,
    targets: np.ndarray,
    probabilities: np.ndarray,
    resamples: int,
    seed: int,
    groups: Sequence[int] | None = None,
) -> ModelMetrics:
    """The card's ``metrics`` figures of a model whose test probabilities are ``probabilities``,
    as ``trainer.pipeline.finish`` computes them: AUROC with bootstrap intervals, PR-AUC,
    operating points at the card's thresholds, and the ECE (``before``: the card's calibration
    undone)."""
    labels = card.labels
    scores = evaluate_scores(targets, probabilities, labels, resamples, seed, groups=groups)
    rule = (card.metrics.get("operating_points") or {}).get("rule") or card.thresholds["rule"]
    points = operating_points(targets, probabilities, card.threshold_values(), labels, rule)
    method = str(card.calibration.get("method", "none"))
    errors = ece_report(targets, uncalibrated(probabilities, card), probabilities, labels, "test", method)
    return ModelMetrics(scores, points, errors)


def uncalibrated(probabilities: np.ndarray, card: ModelCard) -> np.ndarray:
    """The sigmoid of the raw logits, recovered from calibrated probabilities by undoing the
    card's ``sigmoid(scale * logit + bias)`` (identity when the card records no calibration)."""
    calibration = card.calibration
    if calibration.get("method", "none") == "none" or "scale" not in calibration:
        return np.asarray(probabilities, np.float64)
    scale = np.array([float(calibration["scale"][label]) for label in card.labels])
    bias = np.array([float(calibration.get("bias", {}).get(label, 0.0)) for label in card.labels])
    p = np.clip(np.asarray(probabilities, np.float64), 1e-7, 1 - 1e-7)
    logits = (np.log(p / (1 - p)) - bias) / scale
    return 1.0 / (1.0 + np.exp(-logits))


# -- steps ----------------------------------------------------------------------------------------
def _checked_targets(classifier_path: Path, images: Sequence[Path], targets: np.ndarray,
                     labels: Sequence[str], groups: Sequence[int] | None) -> np.ndarray:
    targets = np.asarray(targets, np.float64)
    if targets.ndim != 2 or targets.shape != (len(images), len(labels)):
        raise Int8VariantError(
            f"{classifier_path}: test targets have shape {list(targets.shape)}, expected "
            f"[{len(images)} test images, {len(labels)} labels of the card] in the card's label order")
    if not np.isin(targets, (0.0, 1.0)).all():
        raise Int8VariantError(f"{classifier_path}: test targets must be 0 or 1")
    if groups is not None and len(groups) != len(images):
        raise Int8VariantError(f"{classifier_path}: {len(groups)} patient ids for {len(images)} test images")
    return targets


def _classify_both(fp32: ModelPair, int8: ModelPair, images: Sequence[Path],
                   batch_size: int) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    """Both pairs' probabilities [N, L] on ``images`` prepared once each, and the seconds each
    pair spent classifying (preprocessing excluded)."""
    height, width = fp32.card.input.height, fp32.card.input.width
    n_labels = len(fp32.labels)
    fp32_probs = np.zeros((len(images), n_labels), np.float32)
    int8_probs = np.zeros((len(images), n_labels), np.float32)
    fp32_time = int8_time = 0.0
    for start in range(0, len(images), max(1, batch_size)):
        chunk = images[start:start + max(1, batch_size)]
        batch = np.stack([preprocess(path, height, width) for path in chunk])[:, None]
        began = time.perf_counter()
        fp32_probs[start:start + len(chunk)] = fp32.classify(batch)[0]
        middle = time.perf_counter()
        int8_probs[start:start + len(chunk)] = int8.classify(batch)[0]
        int8_time += time.perf_counter() - middle
        fp32_time += middle - began
    return fp32_probs, int8_probs, (fp32_time, int8_time)


def _card_with_metrics(card: ModelCard, metrics: ModelMetrics, fp32_metrics: dict[str, Any],
                       n_test: int) -> ModelCard:
    data = card.to_dict()
    merged = metrics.to_dict()
    for key in CARRIED_OVER:
        if key in fp32_metrics:
            merged[key] = fp32_metrics[key]
    dropped = sorted(set(fp32_metrics) - set(REMEASURED) - set(CARRIED_OVER))
    data["metrics"] = merged
    training = dict(data["training"])
    note = dict(training.get("quantization") or {})
    note["metrics"] = (f"re-measured with this int8 classifier on the {n_test} test images through "
                       "viewer.core.preprocess and ModelPair.classify")
    note["fp32_test_mean_auroc"] = fp32_metrics.get("mean_auroc")
    note["metrics_not_remeasured"] = dropped  # fp32 figures left out rather than copied
    training["quantization"] = note
    data["training"] = training
    return ModelCard.from_dict(data, source="the int8 model card")


def _report(fp32: ModelPair, quantized: QuantizeResult, fp32_scores: ScoreReport, int8_scores: ScoreReport,
            fp32_probs: np.ndarray, int8_probs: np.ndarray, seconds: tuple[float, float], n_calibration: int,
            max_auroc_drop: float, threads: int | None) -> dict[str, Any]:
    per_label = {}
    for label in fp32.labels:
        before, after = _value(fp32_scores.auroc[label]), _value(int8_scores.auroc[label])
        change = None if before is None or after is None else round(after - before, 6)
        per_label[label] = {"fp32": before, "int8": after, "change": change}
    mean_fp32, mean_int8 = fp32_scores.mean_auroc, int8_scores.mean_auroc
    mean_change = None if mean_fp32 is None or mean_int8 is None else round(mean_int8 - mean_fp32, 6)
    n_test = len(fp32_probs)
    if mean_change is None:
        kept = False
        reason = (f"no label has both classes among the {n_test} test images, so the AUROC change "
                  "cannot be measured; the int8 files were deleted")
    elif -mean_change > max_auroc_drop:
        kept = False
        reason = (f"mean test AUROC dropped by {-mean_change:.4f} ({mean_fp32:.4f} fp32 -> {mean_int8:.4f} int8), "
                  f"more than the allowed {max_auroc_drop:.4f}; the int8 files were deleted")
    else:
        kept = True
        reason = (f"mean test AUROC changed by {mean_change:+.4f} ({mean_fp32:.4f} fp32 -> {mean_int8:.4f} int8), "
                  f"within the allowed drop of {max_auroc_drop:.4f}")
    # the classifiers as they stand now (the card rewrite changed the int8 file's size)
    fp32_size, int8_size = fp32.classifier_path.stat().st_size, quantized.classifier_path.stat().st_size
    fp32_time, int8_time = seconds
    difference = float(np.abs(int8_probs.astype(np.float64) - fp32_probs).max()) if n_test else None
    return {
        "kept": kept,
        "reason": reason,
        "files": {"classifier": str(quantized.classifier_path), "sidecar": str(quantized.sidecar_path)},
        "model_id": quantized.card.model_id,
        "size_bytes": {"fp32": fp32_size, "int8": int8_size},
        "calibration_images": n_calibration,
        "calibration_source": CALIBRATION_SOURCE,
        "test_images": n_test,
        "max_auroc_drop": max_auroc_drop,
        "auroc": per_label,
        "labels_with_auroc": int8_scores.labels_with_auroc,
        "mean_auroc": {"fp32": mean_fp32, "int8": mean_int8, "change": mean_change},
        "fp32_card_mean_auroc": (fp32.card.metrics or {}).get("mean_auroc"),
        "max_probability_difference": None if difference is None else round(difference, 6),
        "calibration_max_probability_difference": round(quantized.max_probability_difference, 6),
        "speed": {"images": n_test, "threads": threads, "fp32_seconds": round(fp32_time, 4),
                  "int8_seconds": round(int8_time, 4),
                  "speedup": round(fp32_time / int8_time, 3) if int8_time > 0 else None,
                  "note": "classify only (preprocessing excluded), one pass, on a possibly shared machine"},
    }


def _value(entry: LabelAuroc | None) -> float | None:
    if entry is None or math.isnan(entry.value):
        return None
    return float(entry.value)
