"""``cxr-train calibrate``'s work, step by step: choose and split the local images, score them with
the original pair, fit on one part, compare on the other, write and check the new pair.

1. the labelled images of ``--data`` (any dataset's reader; with ``--split-file`` and
   ``--subset`` only that subset of the model's own split, as ``cxr-train report`` chooses them),
   split by patient into a fit part and a held-out part (``--holdout``, stratified, seeded);
2. ``score.score_images``: raw logits, probabilities and OOD scores from the original pair;
3. ``fit``: calibration, thresholds and the OOD threshold on the fit part;
4. ``holdout.compare_holdout``: the original against the new on the held-out part;
5. ``write.write_pair``: ``NEW.onnx`` + ``NEW.gradcam.onnx`` with the new card, checked.

The original files are only read. The new card is the original's with a new ``model_id`` (the
pair computes something else now), the new ``calibration``, ``thresholds`` and ``ood``, and
``calibration["recalibration"]``: where the calibration came from.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from viewer.core.errors import display_name
from viewer.core.model import ModelPair, sidecar_path_for
from viewer.core.model_card import ModelCard
from viewer.core.ood import MIN_IMAGES, OodCheck, has_check, is_ood
from viewer.core.preprocess import to_model_batch

from .. import __version__
from ..data.labels import Sample
from ..data.readers import dataset_reader, settle_dataset
from ..data.split import stratified_patient_split
from ..errors import TrainerError
from ..evaluation.calibrate import PENALTY, Calibration
from ..evaluation.external import model_targets
from ..evaluation.threshold_rules import DEFAULT_RULE, parse_rule
from ..export.card import git_commit
from ..report.sections import select_images
from .fit import CALIBRATIONS, OOD_MODES, NewCalibration, fit_new_calibration, new_ood, new_thresholds, nll
from .graph import (
    CalibrationSite,
    find_calibration,
    recalibrated_classifier,
    recalibrated_model_id,
    recalibrated_sidecar,
)
from .holdout import compare_holdout
from .score import Progress, Scored, score_images
from .write import Reference, check_out, default_out, write_pair

MIN_HELD_OUT = 10
CHECK_IMAGES = 4


def _split(samples: list[Sample], table_labels: tuple[str, ...], holdout: float, seed: int) -> tuple[set[str], str]:
    """Names of the fit part's images (the rest is held out), by patient and stratified, and how."""
    split = stratified_patient_split(samples, table_labels, 0.0, holdout, seed)
    _check_sizes(len(samples), len(split.train), len(split.test))
    return {samples[i].image_index for i in split.train}, split.method.replace("train/val/test", "fit/-/held-out")


def _check_sizes(images: int, fit: int, held: int) -> None:
    if fit < MIN_IMAGES or held < MIN_HELD_OUT:
        raise TrainerError(
            f"too few images: {images} readable labelled images split by patient into {fit} to fit on and {held} "
            f"held out; at least {MIN_IMAGES} and {MIN_HELD_OUT} are needed (use more images, or change --holdout)")


def _card_calibration(card: ModelCard, new: NewCalibration, raw_fit: np.ndarray, targets_fit: np.ndarray,
                      site_scale: np.ndarray, site_bias: np.ndarray, where: str,
                      provenance: dict[str, Any]) -> dict[str, Any]:
    """The card's ``calibration`` object: the new one, with where it came from and the original."""
    if new.method == "keep":
        return {**card.calibration, "recalibration": provenance, "original": card.calibration}
    before = raw_fit * site_scale + site_bias
    after = raw_fit * new.scale + new.bias
    details = {"fitted_on": where, "fit_images": len(raw_fit), "fit_nll_before": nll(before, targets_fit),
               "fit_nll_after": nll(after, targets_fit), "kept_from_original": list(new.kept),
               "recalibration": provenance, "original": card.calibration}
    fields = Calibration(new.method, new.scale, new.bias, details).to_card(card.labels)
    if new.method == "none":
        fields.update({k: v for k, v in details.items() if k != "kept_from_original"})
    else:
        fields["regularisation"] = f"L2 {PENALTY} towards scale 1, bias 0 (on the raw logits)"
    return fields


def recalibrate(
    model: str | os.PathLike[str],
    data: str | os.PathLike[str],
    *,
    out: str | os.PathLike[str] | None = None,
    labels_csv: str | os.PathLike[str] | None = None,
    dataset: str = "auto",
    uncertainty: str | None = None,
    split_file: str | os.PathLike[str] | None = None,
    subset: str | None = None,
    images: int | None = None,
    holdout: float = 0.5,
    calibration: str = "platt",
    rule: str = DEFAULT_RULE,
    ood: str = "threshold",
    force: bool = False,
    threads: int | None = None,
    resamples: int = 1000,
    seed: int = 0,
    on_progress: Progress | None = None,
    say: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Recalibrate the pair ``model`` on ``data`` and write the new pair; returns the report
    (JSON-ready). Problems the user can fix raise ``TrainerError`` (a ``CxrError``)."""
    model = Path(model)
    if not model.is_file():
        raise TrainerError(f"{model}: model file not found (pass --model NAME.onnx with NAME.gradcam.onnx beside it)")
    if not 0.0 < holdout < 1.0:
        raise TrainerError(f"--holdout must be between 0 and 1 (the share of patients held out), not {holdout}")
    for option, value, choices in (("--calibration", calibration, CALIBRATIONS), ("--ood", ood, OOD_MODES)):
        if value not in choices:
            raise TrainerError(f"{option} must be one of {', '.join(choices)}, not {value!r}")
    rule = parse_rule(rule).text  # a bad --rule is refused before any image is read
    if images is not None and images < MIN_IMAGES + MIN_HELD_OUT:
        raise TrainerError(f"--images must be at least {MIN_IMAGES + MIN_HELD_OUT}, not {images}")
    new_path = Path(out) if out else default_out(model)
    check_out(model, new_path, force)
    original = ModelPair.open(model, threads=threads)  # the viewer's checks of the original pair
    card = original.card
    classifier, sidecar = onnx.load(str(model)), onnx.load(str(sidecar_path_for(model)))
    site = find_calibration(classifier, card, model.name)
    dataset, uncertainty = settle_dataset(dataset, uncertainty, data, labels_csv)
    recorded_split = card.metrics.get("split")
    split_hash = recorded_split.get("hash") if isinstance(recorded_split, dict) else None
    selection, table = select_images(data, split_hash, split_file, subset, labels_csv,
                                     dataset_reader(dataset, uncertainty))
    samples = selection.samples[:images] if images else selection.samples
    if not samples:
        raise TrainerError(f"{data}: no labelled images found (the label file {table.csv_path.name} lists none of "
                           "the images under this folder)")
    fit_names, split_method = _split(samples, table.labels, holdout, seed)
    keep = {s.image_index for s in samples} if ood == "refit" else set()
    scored = score_images(classifier, site, card, samples, keep, CHECK_IMAGES, threads, on_progress)
    keep_check = [s.image_index for s in scored.samples[:CHECK_IMAGES]]
    fit = [i for i, s in enumerate(scored.samples) if s.image_index in fit_names]
    held = [i for i, s in enumerate(scored.samples) if s.image_index not in fit_names]
    _check_sizes(len(scored.samples), len(fit), len(held))  # again, without the unreadable images
    targets = model_targets(scored.samples, table, dataset, card.labels).targets
    groups = [s.patient_id for s in scored.samples]
    folder = Path(data).absolute().name
    where = (f"the fit part of local data {folder}/ ({len(fit)} images of {len({groups[i] for i in fit})} "
             f"patients, {dataset} labels)")

    new = fit_new_calibration(scored.raw[fit], targets[fit], site, calibration, card.labels)
    probabilities = new.probabilities(scored.raw)
    thresholds = new_thresholds(card, site, new, targets[fit], probabilities[fit], rule, where)
    fit_images = [scored.prepared[scored.samples[i].image_index] for i in fit] if ood == "refit" else []
    ood_fields = new_ood(card, ood, scored.ood_scores[fit], fit_images, where, seed)

    comparison = compare_holdout(targets[held], scored.probabilities[held].astype(np.float64), probabilities[held],
                                 card.threshold_values(), thresholds["values"], card.labels,
                                 [groups[i] for i in held], resamples, seed)
    comparison["ood"] = _ood_flags(scored, held, card, ood_fields, ood == "refit")

    provenance = {
        "how": "cxr-train calibrate (trainer/recalibrate)",
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "trainer_version": __version__, "git_commit": git_commit(),
        "original": {"model_id": card.model_id, "name": card.name, "file": model.name},
        "data": {"folder": folder, "dataset": dataset, "uncertainty": uncertainty, "labels_csv": table.csv_path.name,
                 "split_file": Path(split_file).name if split_file else None, "subset": selection.description["subset"],
                 "images": len(scored.samples), "patients": len(set(groups)), "unreadable": len(scored.unreadable)},
        "split": {"method": split_method, "holdout": holdout, "seed": seed, "fit_images": len(fit),
                  "fit_patients": len({groups[i] for i in fit}), "held_out_images": len(held),
                  "held_out_patients": len({groups[i] for i in held})},
        "calibration": calibration, "rule": rule, "ood": ood,
    }
    new_card = _new_card(card, new, new_path, scored, fit, targets, site, where, provenance, thresholds,
                         ood_fields, comparison)
    ratio = (new.scale.astype(np.float64) / site.scale.astype(np.float64))
    check = [scored.prepared[name] for name in keep_check]
    _, check_features = original.classify(to_model_batch(check))
    check_rows = [next(i for i, s in enumerate(scored.samples) if s.image_index == name) for name in keep_check]
    reference = Reference(check, probabilities[check_rows], original.gradcam(check_features), ratio)
    checks = write_pair(recalibrated_classifier(classifier, site, new.scale, new.bias),
                        recalibrated_sidecar(sidecar, ratio, sidecar_path_for(model).name), new_card, new_path,
                        reference)
    if say:
        say(f"wrote {new_path} and {sidecar_path_for(new_path).name} (model_id {new_card.model_id[:12]}...)")
    return {
        "model": {"original": str(model), "new": str(new_path), "new_sidecar": str(sidecar_path_for(new_path)),
                  "name": new_card.name, "model_id": new_card.model_id, "original_model_id": card.model_id},
        "recalibration": provenance,
        "fitted": {"scale": {x: float(v) for x, v in zip(card.labels, new.scale)},
                   "bias": {x: float(v) for x, v in zip(card.labels, new.bias)},
                   "original_scale": {x: float(v) for x, v in zip(card.labels, site.scale)},
                   "original_bias": {x: float(v) for x, v in zip(card.labels, site.bias)},
                   "calibration_kept_for": list(new.kept) if new.method != "keep" else list(card.labels),
                   "thresholds": thresholds["values"], "thresholds_carried_for": thresholds["carried_from_original"],
                   "ood_threshold": ood_fields.get("threshold"), "original_ood_threshold": card.ood.get("threshold")},
        "held_out": comparison,
        "images": {"fit": [scored.samples[i].image_index for i in fit],
                   "held_out": [scored.samples[i].image_index for i in held],
                   "unreadable": scored.unreadable},
        "checks": checks,
    }


def _ood_flags(scored: Scored, held: list[int], card: ModelCard, ood_fields: dict[str, Any],
               refitted: bool) -> dict[str, Any]:
    """How many held-out images each pair's OOD check flags (all are chest X-rays here)."""
    before = [is_ood(float(scored.ood_scores[i]), card.ood) for i in held]
    if not refitted:  # the same statistics: the same scores against the new threshold
        after = [is_ood(float(scored.ood_scores[i]), ood_fields) for i in held]
    else:  # refitted statistics: score again with them
        check = OodCheck(ood_fields)
        after = [check.flag(check.score(scored.prepared[scored.samples[i].image_index])) for i in held]
    note = None if has_check(card.ood) else "the original card has no OOD check (pass --ood refit to fit one)"
    return {"images": len(held), "flagged_before": int(sum(before)), "flagged_after": int(sum(after)),
            "threshold_before": card.ood.get("threshold"), "threshold_after": ood_fields.get("threshold"),
            **({"note": note} if note and not has_check(ood_fields) else {})}


def _new_card(card: ModelCard, new: NewCalibration, new_path: Path, scored: Scored, fit: list[int],
              targets: np.ndarray, site: CalibrationSite, where: str, provenance: dict[str, Any],
              thresholds: dict[str, Any], ood_fields: dict[str, Any], comparison: dict[str, Any]) -> ModelCard:
    """The original card with the new id, name, calibration, thresholds, OOD check and the
    held-out figures; validated as the viewer validates it."""
    calibration = _card_calibration(card, new, scored.raw[fit].astype(np.float64), targets[fit], site.scale,
                                    site.bias, where, provenance)
    metrics = {**card.metrics, "local_holdout": {k: comparison[k] for k in ("images", "patients", "bootstrap", "mean")},
               "note_recalibration": (
                   "auroc and average_precision are the original model's on its test split, unchanged by a "
                   "recalibration (a positive scale keeps every ranking); operating_points and calibration_error "
                   "there are the original thresholds' and calibration's; local_holdout compares the original "
                   "with this recalibration on the held-out part of the local data")}
    data = {**card.to_dict(), "model_id": recalibrated_model_id(card.model_id, new.scale, new.bias),
            "name": new_path.name.removesuffix(".onnx"), "calibration": calibration, "thresholds": thresholds,
            "ood": ood_fields, "metrics": metrics}
    return ModelCard.from_dict(data, source=f"the recalibrated card of {display_name(new_path.name)}")
