"""One training run from folder to model pair: data, split, cache, training, evaluation, export.

``train_run`` is what ``cxr-train train`` does; ``export_checkpoint`` is ``cxr-train export``.
Both end in ``finish``: calibrate on validation, choose thresholds on validation, measure on
test, write the predictions and metrics, export the ONNX pair with its card, draw the gallery.

Output folder::

    config.yaml / config.json   the resolved configuration
    split.csv, {train,val,test}_list.txt   every image with its patient and split; the lists
    train.log, history.csv/.json  what happened, epoch by epoch
    checkpoints/last.pt         resumable state;  best.pt: best weights;  model.pt: the chosen ones
    predictions_val.csv, predictions_test.csv   in cxr-viewer batch columns
    metrics.json                test AUROCs with intervals, micro AUROC, PR-AUC, operating points,
                                ECE before/after calibration, thresholds, calibration, split
    evaluation.md, roc_curves.png  the test figures beside the published AUROCs; the ROC curves
    NAME.onnx, NAME.gradcam.onnx, export_checks.json, gallery.png
    cache/                      preprocessed pixels (unless --cache-dir)
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from viewer.core.boxes import BoxTable, find_bbox_csv
from viewer.core.errors import CxrError
from viewer.core.ood import fit_ood
from viewer.core.preprocess import preprocess

from .training import distributed
from .data.augment import AugmentConfig
from .data.cache import PixelCache
from .evaluation.calibrate import fit_calibration
from .export.card import card_fields
from .config import TrainConfig, config_from_dict, save_resolved
from .data.labels import AUX_TARGETS, DatasetReader, LabelledImages
from .data.sources import CachedSource, DecodeSource, PixelSource
from .data.datasets import EvalImages, TrainImages
from .data.nih import load_labelled_images
from .errors import TrainerError
from .evaluation.thresholds import THRESHOLD_RULE, choose_thresholds
from .evaluation.metrics import ece_report, evaluate_scores, operating_points
from .evaluation.predictions import write_predictions_csv
from .export.pair import export_pair
from .report.gallery import GalleryItem, pick_items, write_gallery
from .models.network import CxrNet, build_model
from .evaluation.published import comparison_table
from .evaluation.roc_plot import plot_roc_curves
from .data.split import (
    Split,
    check_patients_disjoint,
    format_split_summary,
    make_split,
    read_split_csv,
    resolve_split_lists,
    split_hash,
    split_summary,
    write_split_csv,
    write_split_lists,
)
from .training.loop import Trainer
from .training.checkpoints import load_checkpoint
from .training.predict import predict_logits
from .training.devices import resolve_device
from .models.weights import load_weights

log = logging.getLogger(__name__)
EXPORT_CHECK_IMAGES = 4
TENSORBOARD_IMAGES = 4


@dataclass
class PreparedData:
    """The labelled images, their split, and a pixel source per split."""

    table: LabelledImages
    split: Split
    split_hash: str
    sources: dict[str, PixelSource]  # "train" at the cache size, "val"/"test" at the input size

    def targets(self, name: str) -> np.ndarray:
        return self.table.targets(self.split.indices(name))

    def aux_targets(self, name: str) -> np.ndarray:
        return self.table.aux_targets(self.split.indices(name))


def cache_size(config: TrainConfig) -> int:
    """Side of the cached training images: a little larger than the input, for random crops."""
    return max(config.size, int(round(config.size * config.cache_scale)))


def prepare_data(config: TrainConfig, out: Path, write: bool = True,
                 reader: DatasetReader = load_labelled_images) -> PreparedData:
    """Find the images, split them by patient, and decode them into the caches.

    ``write=False`` (the other processes of a distributed run): the same, without writing the
    split files (the main process did, and filled the caches first). ``reader`` finds the
    labelled images of ``config.data`` (the NIH reader; see ``trainer.data``)."""
    table = reader(config.data, config.labels_csv, config.views, config.max_images)
    log.info("%d labelled images of %d patients (labels from %s)", len(table.samples),
             len({s.patient_id for s in table.samples}), table.csv_path)
    if config.split_file:
        split = read_split_csv(Path(config.split_file), table.samples)
        check_patients_disjoint(table.samples, split)
    else:
        lists = resolve_split_lists(config.split_lists) if config.split_lists else None
        split = make_split(table.samples, table.labels, config.split, Path(config.data),
                           config.val_fraction, config.test_fraction, config.seed, lists=lists)
    if not split.train:
        raise TrainerError(f"{config.data}: the split leaves no training images ({split.method})")

    sources: dict[str, PixelSource] = {}
    if config.no_cache:
        split = _without_unreadable(config, table, split, _unreadable(table, split))
        for name in ("train", "val", "test"):
            size = cache_size(config) if name == "train" else config.size
            sources[name] = DecodeSource([table.samples[i].path for i in split.indices(name)], size)
    else:
        split, sources = _cached_sources(config, table, split, out)
    if write:
        write_split_csv(out / "split.csv", table.samples, split)
        write_split_lists(out, table.samples, split)
    digest = split_hash(table.samples, split)
    log.info("split: %s; hash %s", split.method, digest[:12])
    log.info("%s", format_split_summary(split_summary(table.samples, table.labels, split), table.labels))
    return PreparedData(table, split, digest, sources)


def _unreadable(table: LabelledImages, split: Split) -> dict[Path, str]:
    """--no-cache: decode every image once now, so an unreadable one is found before training
    (a DecodeSource would otherwise meet it in the middle of an epoch)."""
    errors: dict[Path, str] = {}
    for name in ("train", "val", "test"):
        for i in split.indices(name):
            path = table.samples[i].path
            try:
                preprocess(path, 32, 32)
            except CxrError as exc:
                errors[path] = str(exc)
    return errors


def _without_unreadable(config: TrainConfig, table: LabelledImages, split: Split, errors: dict[Path, str]) -> Split:
    """The split without the unreadable images: each named in the log and counted (the default),
    or, with ``--bad-images stop`` (``--strict-images``), one error naming the first."""
    if not errors:
        return split
    first_error = next(iter(errors.values()))
    total = len(split.train) + len(split.val) + len(split.test)
    if len(errors) == total:
        raise TrainerError(f"none of the {total} images can be read, e.g. {first_error} "
                           "(check that --data holds the NIH PNGs)")
    if config.bad_images == "stop":
        raise TrainerError(
            f"{len(errors)} image(s) cannot be read, e.g. {first_error} (remove or replace them, or "
            "train without them: leave out --strict-images, as --skip-bad-images is the default)"
        )
    for problem in errors.values():
        log.warning("left out: %s", problem)
    log.warning("%d unreadable images left out (each named above)", len(errors))
    bad = {path for path in errors}
    kept = {name: tuple(i for i in split.indices(name) if table.samples[i].path not in bad)
            for name in ("train", "val", "test")}
    return Split(kept["train"], kept["val"], kept["test"],
                 split.method + f"; {len(errors)} unreadable images left out")


def _cached_sources(
    config: TrainConfig, table: LabelledImages, split: Split, out: Path
) -> tuple[Split, dict[str, PixelSource]]:
    root = Path(config.cache_dir) if config.cache_dir else out / "cache"
    plans = {"train": PixelCache(root, cache_size(config), "uint8"), "val": PixelCache(root, config.size, "float32"),
             "test": PixelCache(root, config.size, "float32")}
    rows: dict[str, list[int | None]] = {}
    errors: dict[Path, str] = {}
    for name, cache in plans.items():
        paths = [table.samples[i].path for i in split.indices(name)]
        if not paths:
            rows[name] = []
            continue
        rows[name], report = cache.ensure(paths, workers=cache_workers(config.workers))
        errors.update(report.errors)
        if report.decoded:
            log.info("cache %s: decoded %d images in %.1f s (%.1f images/s), reused %d", cache.folder.name,
                     report.decoded, report.seconds, report.images_per_second, report.reused)
        else:
            log.info("cache %s: all %d images reused", cache.folder.name, report.reused)
    split = _without_unreadable(config, table, split, errors)
    sources: dict[str, PixelSource] = {
        name: CachedSource(cache.pixels_path, cache.dtype, cache.size, [r for r in rows[name] if r is not None])
        for name, cache in plans.items()
    }
    return split, sources


def cache_workers(workers: int) -> int:
    """Processes decoding images into the cache: ``--workers``, or with -1 (auto) the CPU's cores
    (nothing else runs yet: training starts once the cache is full)."""
    return workers if workers >= 0 else min(8, os.cpu_count() or 1)


def _setup(config: TrainConfig) -> None:
    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)


def aux_outputs(config: TrainConfig) -> int:
    """Outputs of the training-only auxiliary head: one per ``AUX_TARGETS`` with --aux-weight, else none."""
    return len(AUX_TARGETS) if config.aux_weight > 0 else 0


def build_network(config: TrainConfig, labels: tuple[str, ...], initial_weights: bool = True) -> CxrNet:
    """The model of ``--arch``, with ``--weights`` loaded when given (and ``initial_weights``)."""
    net = build_model(config.arch, labels, config.drop_rate, aux_outputs(config))
    if config.weights and initial_weights:
        report = load_weights(net, config.weights)
        log.info("initial weights from %s: %s", config.weights, report.summary())
    return net


# -- cxr-train train ----------------------------------------------------------------------------------
def train_run(config: TrainConfig, resume: str | None = None, stop_after: int | None = None) -> dict[str, Any]:
    """Train, then (unless stopped early by ``stop_after``) evaluate and export. Returns the summary."""
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    device = resolve_device(config.device)  # an impossible --device fails before minutes of caching
    context = distributed.start(device)
    try:
        summary = _train_run(config, context, resume, stop_after)
    except BaseException:
        distributed.stop(context, clean=False)
        raise
    distributed.stop(context)  # the other processes (the main process left after training)
    return summary


def _train_run(config: TrainConfig, context: distributed.Distributed, resume: str | None,
               stop_after: int | None) -> dict[str, Any]:
    out = Path(config.out)
    started = time.perf_counter()
    if context.is_main:
        log.info("cxr-train: results go to %s%s", out.resolve(),
                 f" ({context.world_size} processes)" if context.enabled else "")
        save_resolved(config, out)
    _setup(config)
    if not context.is_main:
        context.barrier()  # wait for the main process to fill the caches, then read them
    data = prepare_data(config, out, write=context.is_main)
    if context.is_main:
        context.barrier()
    net = build_network(config, data.table.labels, initial_weights=resume is None)  # resume has its own
    check_free_space(out, net)
    train_set = TrainImages(
        data.sources["train"], data.targets("train"), config.size,
        AugmentConfig(crop_scale=config.crop_scale, rotate=config.rotate, hflip=config.hflip, jitter=config.jitter),
        seed=config.seed, aux=data.aux_targets("train") if config.aux_weight > 0 else None,
    )
    val_set = EvalImages(data.sources["val"], data.targets("val"), config.size) if data.split.val else None
    trainer = Trainer(config, net, train_set, val_set, data.targets("val"), out, data.split_hash, context)
    if resume:
        trainer.restore(Path(resume))
    board = None
    if config.tensorboard and context.is_main:
        # a resumed run drops what the interrupted one logged after its last checkpoint
        board = trainer.tensorboard = _tensorboard(config, out, data, purge_step=trainer.epoch + 1 if resume else None)
    try:
        result = trainer.fit(stop_after=stop_after)
    finally:
        if board is not None:
            board.close()
    if not context.is_main:
        return {"finished": result.finished, "rank": context.rank}
    distributed.stop(context)  # the rest is the main process's alone (no collective calls)
    if context.enabled:  # export the plain network, not the DDP-converted one
        net = build_network(config, data.table.labels, initial_weights=False)
    (out / "history.json").write_text(json.dumps([r.__dict__ for r in trainer.history], indent=1), encoding="utf-8")
    if not result.finished:
        log.info("stopped after epoch %d of %d as asked; continue with --resume %s", result.epochs_run,
                 config.epochs, out / "checkpoints" / "last.pt")
        return {"finished": False, "epochs_run": result.epochs_run}
    net.load_state_dict(result.final_state)
    torch.save({**trainer.header(), "model": result.final_state, "chosen": result.chosen},
               out / "checkpoints" / "model.pt")
    log.info("weights for export: %s", result.chosen)
    rates = [r.images_per_second for r in trainer.history]
    training = {
        "epochs": result.epochs_run,
        "chosen_weights": result.chosen,
        "stopped_early": result.stopped_early,
        "history": [{"epoch": r.epoch, "train_loss": round(r.train_loss, 5), "val_loss": round(r.val_loss, 5)
                     if not np.isnan(r.val_loss) else None,
                     "val_auroc": None if r.val_auroc is None else round(r.val_auroc, 5)} for r in trainer.history],
        "train_images_per_second": round(float(np.median(rates)), 2) if rates else None,
    }
    summary = finish(config, net, data, out, training, val_logits=result.val_logits)
    summary["seconds"] = round(time.perf_counter() - started, 1)
    return summary


def _tensorboard(config: TrainConfig, out: Path, data: PreparedData, purge_step: int | None = None) -> Any:
    """The run's TensorBoard log (``OUT/tensorboard``), with the first few validation images
    whose Grad-CAM it draws each epoch."""
    from .training.tensorboard_log import TensorBoardLog  # needs the optional tensorboard package

    source = data.sources["val"]
    count = min(TENSORBOARD_IMAGES, len(source)) if data.split.val else 0
    images = np.stack([np.asarray(source[k], np.float32) for k in range(count)])[:, None] if count else None
    return TensorBoardLog(out / "tensorboard", data.table.labels, images, purge_step=purge_step)


def check_free_space(out: Path, net: torch.nn.Module) -> None:
    """Stop before the first epoch when ``out``'s disk cannot hold what the run will write.

    last.pt holds the weights, two optimizer moments and a weight average (about 4x the
    weights), twice while its .tmp is renamed; best.pt, model.pt and the ONNX pair about 1x
    each; logs, CSVs and the card a few MB.
    """
    weights = sum(t.numel() * t.element_size() for t in net.state_dict().values())
    need = 12 * weights + 4_000_000
    free = shutil.disk_usage(out).free
    if free < need:
        raise TrainerError(
            f"{out}: only {free / 1e6:.1f} MB free on its disk, and this run needs about {need / 1e6:.0f} MB "
            "for its checkpoints and the exported model (free some space, or choose another --out)"
        )


# -- after training --------------------------------------------------------------------------------------
def finish(config: TrainConfig, net: CxrNet, data: PreparedData, out: Path, training: dict[str, Any],
           val_logits: np.ndarray | None = None) -> dict[str, Any]:
    """Calibrate and choose thresholds on validation, measure on test, export, draw the gallery.

    ``val_logits``: the validation logits of ``net`` when training already computed them.
    """
    labels = data.table.labels
    batch = max(1, config.batch_size * 2)
    net.eval()
    split = data.split
    val_targets, test_targets = data.targets("val"), data.targets("test")
    if val_logits is None or len(val_logits) != len(split.val):
        val_logits = (predict_logits(net, EvalImages(data.sources["val"], val_targets, config.size), batch)
                      if split.val else np.zeros((0, len(labels)), np.float32))
    test_logits = (predict_logits(net, EvalImages(data.sources["test"], test_targets, config.size), batch)
                   if split.test else np.zeros((0, len(labels)), np.float32))

    calibration = fit_calibration(val_logits, val_targets, config.calibration, labels)
    val_probs, test_probs = calibration.apply(val_logits), calibration.apply(test_logits)
    thresholds = choose_thresholds(val_targets, val_probs, labels).to_card()
    test_groups = [data.table.samples[i].patient_id for i in split.test]
    metrics = evaluate_scores(test_targets, test_probs, labels, config.bootstrap, config.seed,
                              groups=test_groups).to_dict()
    validation = evaluate_scores(val_targets, val_probs, labels, 0, config.seed).to_dict()
    metrics["validation_mean_auroc"] = validation["mean_auroc"]
    # operating points: each label flagged at its validation threshold, measured on test
    metrics["operating_points"] = operating_points(test_targets, test_probs, thresholds["values"], labels,
                                                   THRESHOLD_RULE).to_dict()
    sigmoid = lambda z: 1.0 / (1.0 + np.exp(-z))  # noqa: E731  the probabilities before calibration
    metrics["calibration_error"] = ece_report(test_targets, sigmoid(test_logits), test_probs, labels, "test",
                                              calibration.method).to_dict()
    summary_of_split = split_summary(data.table.samples, labels, split)
    metrics["split"] = {
        "method": split.method, "unit": "patient", "hash": data.split_hash, "sizes": split.sizes(),
        "patients": {name: summary_of_split[name]["patients"] for name in ("train", "val", "test")},
        "positives": {name: summary_of_split[name]["positives"] for name in ("train", "val", "test")},
    }
    _write_predictions(out, data, labels, thresholds["values"], {"val": val_probs, "test": test_probs})
    (out / "metrics.json").write_text(json.dumps(
        {"metrics": metrics, "thresholds": thresholds, "calibration": calibration.to_card(labels)}, indent=1),
        encoding="utf-8")
    title = f"{config.name} ({config.arch}, {config.size} px), test split"
    (out / "evaluation.md").write_text(comparison_table(metrics, title), encoding="utf-8")
    if split.test:
        plot_roc_curves(test_targets, test_probs, labels, out / "roc_curves.png", f"{title}: ROC curves",
                        thresholds["values"])
    mean = metrics["mean_auroc"]
    log.info("test mean AUROC %s over %d labels, micro-average %s (%d test images); table in %s",
             "n/a" if mean is None else f"{mean:.4f}", metrics["labels_with_auroc"],
             "n/a" if metrics["micro_auroc"] is None else f"{metrics['micro_auroc']:.4f}", len(split.test),
             out / "evaluation.md")
    summary: dict[str, Any] = {"finished": True, "out": str(out), "test_mean_auroc": mean,
                               "validation_mean_auroc": validation["mean_auroc"]}
    if config.no_export:
        return summary

    record = {
        "data": _data_description(config, data),
        "seed": config.seed,
        "arch": config.arch,
        "input_size": config.size,
        "initial_weights": Path(config.weights).name if config.weights else "random (trained from scratch)",
        "options": {k: v for k, v in config.to_dict().items()
                    if k not in ("data", "out", "labels_csv", "cache_dir", "workers", "threads", "log_every",
                                 "tried", "name", "weights", "no_export", "split_file", "split_lists",
                                 "progress")},
        "tried": list(config.tried),
        **training,
    }
    ood = fit_ood(_ood_images(config, data))
    fields = card_fields(name=config.name, arch=config.arch, labels=labels, size=config.size,
                         thresholds=thresholds, calibration=calibration.to_card(labels), metrics=metrics,
                         training=record, ood=ood)
    result = export_pair(net, calibration, fields, out, config.name, _check_images(config, data))
    checks = dict(result.checks)
    if config.int8:
        checks["int8"] = _int8_variant(config, data, result.classifier_path, out, test_targets, test_groups)
    (out / "export_checks.json").write_text(json.dumps(checks, indent=1), encoding="utf-8")
    summary.update({"model": str(result.classifier_path), "sidecar": str(result.sidecar_path),
                    "model_id": result.model_id})
    if config.gallery and split.test:
        summary["gallery"] = str(_gallery(config, data, result.classifier_path, out))
    return summary


def _int8_variant(config: TrainConfig, data: PreparedData, classifier: Path, out: Path,
                  test_targets: np.ndarray, test_groups: list[int]) -> dict[str, Any]:
    """``--int8``: the int8 pair, calibrated on training images, measured on the test split
    beside the fp32 pair and kept only if its mean AUROC is at most 0.005 lower (``trainer/int8_variant.py``)."""
    from .export.int8.variant import make_int8_variant

    if not data.split.test:
        log.warning("--int8: no test images to measure an int8 variant on; none made")
        return {"kept": False, "reason": "no test images to measure it on"}
    samples = data.table.samples
    report = make_int8_variant(
        classifier, [samples[i].path for i in data.split.train], [samples[i].path for i in data.split.test],
        test_targets, out, seed=config.seed, test_groups=test_groups, bootstrap=config.bootstrap,
        threads=config.threads or None)
    change = report["mean_auroc"]["change"]
    log.info("int8 variant: %s (test mean AUROC change %s, %.1fx the fp32 speed)",
             "kept" if report["kept"] else "not kept", "n/a" if change is None else f"{change:+.4f}",
             report["speed"]["speedup"])
    return report


def _data_description(config: TrainConfig, data: PreparedData) -> str:
    samples = data.table.samples
    return (f"{len(samples)} images of {len({s.patient_id for s in samples})} patients under "
            f"{Path(config.data).name}/ labelled by {data.table.csv_path.name}"
            + (f" (views {'/'.join(config.views)})" if config.views else ""))


def _write_predictions(out: Path, data: PreparedData, labels: tuple[str, ...],
                       thresholds: dict[str, float], probabilities: dict[str, np.ndarray]) -> None:
    root = Path(data.table.csv_path).parent
    for name, probs in probabilities.items():
        samples = [data.table.samples[i] for i in data.split.indices(name)]
        write_predictions_csv(
            out / f"predictions_{name}.csv", [s.image_index for s in samples],
            [Path(os.path.relpath(s.path, root)).as_posix() for s in samples], [s.patient_id for s in samples],
            probs, labels, thresholds,
        )


def _ood_images(config: TrainConfig, data: PreparedData) -> list[np.ndarray]:
    """Training images prepared exactly as the viewer prepares them (a seeded sample)."""
    train = list(data.split.train)
    rng = np.random.default_rng(config.seed)
    chosen = sorted(rng.choice(len(train), size=min(config.ood_sample, len(train)), replace=False))
    return [preprocess(data.table.samples[train[j]].path, config.size, config.size) for j in chosen]


def _check_images(config: TrainConfig, data: PreparedData) -> np.ndarray:
    """A few real prepared images for the export checks (test, else validation, else training)."""
    for name in ("test", "val", "train"):
        indices = data.split.indices(name)[:EXPORT_CHECK_IMAGES]
        if indices:
            return np.stack([preprocess(data.table.samples[i].path, config.size, config.size) for i in indices])
    raise TrainerError("no images to check the export on")


def _gallery(config: TrainConfig, data: PreparedData, model_path: Path, out: Path) -> Path:
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


# -- cxr-train export -------------------------------------------------------------------------------------
def export_checkpoint(checkpoint: str, out: str | None = None, data: str | None = None,
                      name: str | None = None, threads: int = 0, int8: bool = False) -> dict[str, Any]:
    """Evaluate and export a checkpoint of an earlier run on the same data and split
    (``int8``: and its int8 variant)."""
    state = load_checkpoint(checkpoint)
    values = dict(state["config"])
    values["out"] = out or values["out"]
    if data:
        values["data"] = data
    if name:
        values["name"] = name
    if threads:
        values["threads"] = threads
    values["no_export"] = False
    values["int8"] = int8 or values.get("int8", False)
    config = config_from_dict(values, source=str(checkpoint))
    out_dir = Path(config.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    _setup(config)
    prepared = prepare_data(config, out_dir)
    if prepared.split_hash != state["split_hash"]:
        raise TrainerError(
            f"{checkpoint}: was trained on another split than the images found now under {config.data} "
            "give (same data and split options needed, so that test images stay unseen)"
        )
    net = build_model(state["arch"], tuple(state["labels"]), config.drop_rate, aux_outputs(config))
    net.load_state_dict(state["model"])
    training = {"epochs": int(state["epoch"]), "chosen_weights": state.get("chosen", f"checkpoint {Path(checkpoint).name}")}
    return finish(config, net, prepared, out_dir, training)
