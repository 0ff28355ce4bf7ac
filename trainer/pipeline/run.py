"""One training run from folder to model pair: ``cxr-train train`` and ``cxr-train export``.

``train_run`` prepares the data (``prepare.py``), builds the network of ``--arch`` (with
``--weights``), trains it (``trainer.training``, under torchrun on every process) and, on the
main process, ends in ``finish.finish``: calibration, thresholds, the test figures, the export
and the gallery. ``export_checkpoint`` runs ``finish`` on a checkpoint of an earlier run, on the
same data and split. The run folder's layout is in ``trainer/pipeline/__init__.py``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..config import TrainConfig, config_from_dict, save_resolved, with_dataset
from ..data.augment import AugmentConfig
from ..data.datasets import EvalImages, TrainImages
from ..data.labels import AUX_TARGETS
from ..errors import TrainerError
from ..models.network import CxrNet, build_model
from ..models.weights import load_weights
from ..training import distributed
from ..training.checkpoints import load_checkpoint
from ..training.devices import resolve_device
from ..training.history import EpochRecord
from ..training.loop import FitResult, Trainer
from .finish import RunSummary, TrainingOutcome, finish
from .prepare import PreparedData, prepare_data

log = logging.getLogger(__name__)
TENSORBOARD_IMAGES = 4


@dataclass(frozen=True)
class UnfinishedRun:
    """A run that ``--stop-after`` ended before its last epoch: continue it with ``--resume``."""

    epochs_run: int

    def to_dict(self) -> dict[str, Any]:
        """The JSON the command line prints."""
        return {"finished": False, "epochs_run": self.epochs_run}


@dataclass(frozen=True)
class OtherProcess:
    """What a torchrun process other than the main one did: it trained, the main one reports."""

    finished: bool
    rank: int


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
def train_run(config: TrainConfig, resume: str | None = None,
              stop_after: int | None = None) -> RunSummary | UnfinishedRun | OtherProcess:
    """Train, then (unless stopped early by ``stop_after``) evaluate and export. Returns what it made."""
    config = with_dataset(config)  # what config.yaml and the checkpoints record: never "auto"
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
               stop_after: int | None) -> RunSummary | UnfinishedRun | OtherProcess:
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
        mask=train_mask(data),
    )
    val_set = EvalImages(data.sources["val"], data.targets("val"), config.size) if data.split.val else None
    trainer = Trainer(config, net, train_set, val_set, data.known_targets("val"), out, data.split_hash, context)
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
        return OtherProcess(result.finished, context.rank)
    distributed.stop(context)  # the rest is the main process's alone (no collective calls)
    if context.enabled:  # export the plain network, not the DDP-converted one
        net = build_network(config, data.table.labels, initial_weights=False)
    (out / "history.json").write_text(json.dumps([r.__dict__ for r in trainer.history], indent=1), encoding="utf-8")
    if not result.finished:
        log.info("stopped after epoch %d of %d as asked; continue with --resume %s", result.epochs_run,
                 config.epochs, out / "checkpoints" / "last.pt")
        return UnfinishedRun(result.epochs_run)
    net.load_state_dict(result.final_state)
    torch.save({**trainer.header(), "model": result.final_state, "chosen": result.chosen},
               out / "checkpoints" / "model.pt")
    log.info("weights for export: %s", result.chosen)
    summary = finish(config, net, data, out, training_outcome(result, trainer.history), val_logits=result.val_logits)
    return dataclasses.replace(summary, seconds=round(time.perf_counter() - started, 1))


def train_mask(data: PreparedData) -> np.ndarray | None:
    """The training split's mask for the loss, or None when every target is known (NIH): the
    loss and class weights are then exactly those of a run without masks."""
    mask = data.mask("train")
    return None if bool(mask.all()) else mask


def training_outcome(result: FitResult, history: list[EpochRecord]) -> TrainingOutcome:
    """The card's account of a training run: epochs, the weights chosen, early stopping, the
    losses and validation AUROC of each epoch (5 decimals), the median training speed."""
    rates = [r.images_per_second for r in history]
    return TrainingOutcome(
        epochs=result.epochs_run,
        chosen_weights=result.chosen,
        stopped_early=result.stopped_early,
        history=[{"epoch": r.epoch, "train_loss": round(r.train_loss, 5),
                  "val_loss": round(r.val_loss, 5) if not np.isnan(r.val_loss) else None,
                  "val_auroc": None if r.val_auroc is None else round(r.val_auroc, 5)} for r in history],
        train_images_per_second=round(float(np.median(rates)), 2) if rates else None,
    )


def _tensorboard(config: TrainConfig, out: Path, data: PreparedData, purge_step: int | None = None) -> Any:
    """The run's TensorBoard log (``OUT/tensorboard``), with the first few validation images
    whose Grad-CAM it draws each epoch."""
    from ..training.tensorboard_log import TensorBoardLog  # needs the optional tensorboard package

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


# -- cxr-train export -------------------------------------------------------------------------------------
def export_checkpoint(checkpoint: str, out: str | None = None, data: str | None = None,
                      name: str | None = None, threads: int = 0, int8: bool = False) -> RunSummary:
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
    config = with_dataset(config_from_dict(values, source=str(checkpoint)))  # a run before --dataset: auto
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
    training = TrainingOutcome(int(state["epoch"]), state.get("chosen", f"checkpoint {Path(checkpoint).name}"))
    return finish(config, net, prepared, out_dir, training)
