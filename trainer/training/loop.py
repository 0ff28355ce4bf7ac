"""The training loop: epochs, validation, weight averaging, early stopping, checkpoints, resume.

After every epoch a checkpoint (``checkpoints/last.pt``) records the configuration, the labels,
the model, the optimizer, the learning-rate schedule (and the reduce-on-plateau state), the
weight average, the gradient scaler, the RNG state, the history and the best validation result;
``checkpoints/best.pt`` holds the weights of the best epoch so far. ``--resume`` continues from
the end of the last completed epoch (an epoch cut short is run again from its start), and the
continued run computes the same numbers as an uninterrupted one: batches are drawn from
generators seeded by (seed, epoch), augmentation by (seed, epoch, image) and mixup by (seed,
epoch, batch, process).

After each epoch ``history.csv`` in the run folder is rewritten whole (``history.py``); a
progress bar (tqdm, on stderr) follows the batches when stderr is a terminal or ``--progress on``.
The pieces the loop drives are modules of their own: the loss (``losses.py``), the optimizer and
schedule (``schedule.py``), the checkpoint files (``checkpoints.py``), mixed precision
(``precision.py``), torchrun (``distributed.py``) and TensorBoard (``tensorboard_log.py``).
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn, update_bn
from torch.utils.data import DataLoader, Subset
from tqdm import tqdm

from ..config import TrainConfig
from ..data.datasets import EvalImages, TrainImages
from ..errors import TrainerError
from ..evaluation.metrics import mean_auroc, per_label_auroc
from .checkpoints import atomic_save, checkpoint_header, load_checkpoint, plain_state
from .devices import resolve_device, resolve_workers
from .distributed import SINGLE, Distributed, ShardedPermutation, check_batch, wrap_model
from .history import EpochRecord, write_history_csv
from .losses import aux_loss, class_weights, loss_function, mixup, mixup_mask, validation_loss
from .precision import choose_precision
from .predict import predict_logits
from .schedule import Plateau, lr_factor, make_optimizer

log = logging.getLogger(__name__)


@dataclass
class FitResult:
    """What training produced: the weights to export and how they were chosen."""

    final_state: dict[str, torch.Tensor]
    chosen: str  # "best epoch N by val_auroc", "SWA of epochs ...", "last epoch"
    history: list[EpochRecord] = field(default_factory=list)
    epochs_run: int = 0
    stopped_early: bool = False
    finished: bool = True  # False when --stop-after ended the run before its last epoch
    val_logits: np.ndarray | None = None  # validation logits of final_state, when already computed


class Trainer:
    """Owns the model, optimizer, schedule and weight average of one run."""

    def __init__(
        self,
        config: TrainConfig,
        model: nn.Module,
        train_set: TrainImages,
        val_set: EvalImages | None,
        val_targets: np.ndarray,
        out: Path,
        split_hash: str,
        context: Distributed = SINGLE,
        tensorboard: Any | None = None,
    ) -> None:
        self.config = config
        self.context = context
        self.tensorboard = tensorboard  # a TensorBoardLog, on the main process only
        self.model = model  # the plain network: weights, averages, checkpoints, evaluation
        self.train_set = train_set
        self.val_set = val_set if val_set is not None and len(val_set) else None
        self.val_targets = val_targets
        self.out = out
        self.split_hash = split_hash
        self.checkpoints = out / "checkpoints"
        self.device = context.device(resolve_device(config.device))
        self.model.to(self.device)
        self.precision = choose_precision(config.precision, self.device)
        set_channels_last = getattr(model, "set_channels_last", None)  # CxrNet's
        if (self.precision.mixed or self.device.type == "cuda") and set_channels_last is not None:
            # measured on this project's 2-core AMX machine: bf16 autocast alone gains little,
            # with channels-last tensors DenseNet121 trains about 3-4x faster than in fp32
            set_channels_last(True)
        self.local_batch = check_batch(context, config.batch_size, len(train_set))
        self.workers = resolve_workers(config.workers, self.device, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
        # the module the training steps call: the network itself, or its DDP wrapper (which also
        # makes BatchNorm use the global batch; built before the optimizer sees the parameters)
        self.step_model = wrap_model(model, context, self.device)
        self.steps_per_epoch = max(1, len(train_set) // config.batch_size) if len(train_set) >= config.batch_size else 1
        weights = class_weights(train_set.targets, config.pos_weight, config.pos_weight_max, train_set.mask)
        self.class_weights = weights.to(self.device) if weights is not None else None
        if weights is not None:
            log.info("loss weights (%s, positive/negative, from %d training images): %s", config.pos_weight,
                     len(train_set), weights.describe(getattr(model, "labels", ())))
        self.optimizer = make_optimizer(model, config)
        self.plateau = Plateau(config.plateau_patience, config.lr_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self._lr_lambda)
        self.average: AveragedModel | None = None
        if config.average == "ema":
            self.average = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(config.ema_decay), use_buffers=True)
        elif config.average == "swa":
            self.average = AveragedModel(model)
        self.epoch = 0  # epochs completed
        self.history: list[EpochRecord] = []
        self.best_value: float | None = None
        self.best_epoch = 0
        self.bad_epochs = 0
        self.last_val_logits: np.ndarray | None = None
        self.best_val_logits: np.ndarray | None = None  # kept so finishing need not predict again

    def _lr_lambda(self, step: int) -> float:
        scale = self.plateau.scale if self.config.schedule == "plateau" else 1.0
        return lr_factor(step, self.steps_per_epoch, self.config) * scale

    def _reapply_lr(self) -> None:
        """Set the learning rate of the current step now (after the plateau factor changed)."""
        for group, base in zip(self.optimizer.param_groups, self.scheduler.base_lrs):
            group["lr"] = base * self._lr_lambda(self.scheduler.last_epoch)

    def _show_progress(self) -> bool:
        if self.config.progress == "auto":
            return sys.stderr.isatty()
        return self.config.progress == "on"

    # -- the steps --------------------------------------------------------------------------------
    def _loader(self, epoch: int) -> DataLoader:
        self.train_set.set_epoch(epoch)
        order = ShardedPermutation(
            len(self.train_set), self.config.batch_size, self.config.seed * 100_003 + epoch, self.context,
            # a last batch of one image would break BatchNorm; drop the remainder when possible
            drop_last=len(self.train_set) >= self.config.batch_size,
        )
        return DataLoader(self.train_set, batch_size=self.local_batch, sampler=order, num_workers=self.workers,
                          pin_memory=self.device.type == "cuda")

    def train_epoch(self, epoch: int) -> tuple[float, float, float]:
        """One pass over the training images; returns (mean loss, images/s, waiting share)."""
        self.step_model.train()
        total_loss, seen, waited = 0.0, 0, 0.0
        start = mark = time.perf_counter()
        loader = self._loader(epoch)
        show = self._show_progress()
        bar = tqdm(total=len(loader), desc=f"epoch {epoch + 1}/{self.config.epochs}", unit="batch",
                   file=sys.stderr, disable=not show, leave=False, dynamic_ncols=True)
        for batch, items in enumerate(loader):
            waited += time.perf_counter() - mark
            images, targets = (t.to(self.device, non_blocking=True) for t in items[:2])
            with_aux = self.train_set.aux is not None
            mask = items[-1].to(self.device, non_blocking=True) if self.train_set.mask is not None else None
            # the auxiliary targets ride along as extra columns, so mixup blends them alike
            n_labels = targets.shape[1]
            if with_aux:
                targets = torch.cat([targets, items[2].to(self.device, non_blocking=True)], dim=1)
            if self.config.mixup > 0:
                mix_seed = (self.config.seed, epoch, batch, self.context.rank)
                images, targets = mixup(images, targets, self.config.mixup, mix_seed)
                if mask is not None:
                    mask = mixup_mask(mask, self.config.mixup, mix_seed)
            with self.precision.autocast():
                if with_aux:
                    logits, aux_logits = self.step_model(images, with_aux=True)
                else:
                    logits, aux_logits = self.step_model(images), None
            loss = loss_function(logits.float(), targets[:, :n_labels], self.class_weights,
                                 self.config.label_smoothing, mask)
            if aux_logits is not None:
                loss = loss + self.config.aux_weight * aux_loss(aux_logits.float(), targets[:, n_labels:])
            if not torch.isfinite(loss):
                raise TrainerError(
                    f"the training loss became {loss.item()} in epoch {epoch + 1} (try a smaller --lr)"
                )
            self.precision.step(loss, self.optimizer, self.model.parameters(), self.config.grad_clip)
            self.scheduler.step()
            if self.config.average == "ema" and self.average is not None:
                self.average.update_parameters(self.model)
            total_loss += loss.item() * len(images)
            seen += len(images)
            bar.update(1)
            bar.set_postfix(loss=f"{total_loss / seen:.4f}", refresh=False)
            # without a bar (a log file, a pipe) the same news as a line now and then
            if not show and self.config.log_every and (batch + 1) % self.config.log_every == 0:
                rate = seen / (time.perf_counter() - start)
                log.info("  epoch %d batch %d/%d  loss %.4f  %.1f img/s", epoch + 1, batch + 1,
                         self.steps_per_epoch, total_loss / seen, rate)
            mark = time.perf_counter()
        bar.close()
        elapsed = self.context.max(time.perf_counter() - start)
        total_loss, total_seen, waited = self.context.sum([total_loss, float(seen), waited])
        waited /= self.context.world_size  # the processes' mean waiting time
        return total_loss / max(total_seen, 1), total_seen / max(elapsed, 1e-9), waited / max(elapsed, 1e-9)

    def evaluation_model(self) -> nn.Module:
        """The weights validation judges: the EMA when averaging that way, else the model."""
        if self.config.average == "ema" and self.average is not None:
            return self.average.module
        return self.model

    def validate(self) -> tuple[float, float | None]:
        """Validation loss and mean AUROC; under DDP each process predicts its share of the images
        and all of them compute the figures from the gathered logits (the same decisions)."""
        if self.val_set is None:
            return float("nan"), None
        n = len(self.val_set)
        shard = Subset(self.val_set, self.context.shard(n)) if self.context.enabled else self.val_set
        logits = self.context.gather_rows(
            predict_logits(self.evaluation_model(), shard, self.config.batch_size * 2, self.workers), n)
        self.last_val_logits = logits
        return validation_loss(logits, self.val_targets), mean_auroc(self.val_targets, logits)

    def _improved(self, val_loss: float, val_auroc: float | None) -> tuple[bool, float | None]:
        value = val_auroc if self.config.monitor == "val_auroc" else (None if math.isnan(val_loss) else -val_loss)
        if value is None:
            return False, None
        return self.best_value is None or value > self.best_value, value

    # -- the run ---------------------------------------------------------------------------------------
    def fit(self, stop_after: int | None = None, on_epoch: Callable[[EpochRecord], None] | None = None) -> FitResult:
        """Train from ``self.epoch`` to ``config.epochs`` (or ``stop_after`` more epochs)."""
        self.checkpoints.mkdir(parents=True, exist_ok=True)
        config = self.config
        swa_from = int(math.floor(config.swa_start * config.epochs))
        stopped_early = False
        last_epoch = config.epochs if stop_after is None else min(config.epochs, self.epoch + stop_after)
        while self.epoch < last_epoch:
            epoch = self.epoch
            start = time.perf_counter()
            lr = self.optimizer.param_groups[0]["lr"]
            train_loss, rate, waiting = self.train_epoch(epoch)
            if config.average == "swa" and self.average is not None and epoch >= swa_from:
                self.average.update_parameters(self.model)
            val_loss, val_auroc = self.validate()
            self.epoch = epoch + 1
            record = EpochRecord(self.epoch, train_loss, val_loss, val_auroc, lr, rate, waiting,
                                 time.perf_counter() - start)
            self.history.append(record)
            log.info(record.line(config.epochs))
            main = self.context.is_main  # one process writes; all take the same decisions
            if main:
                self.write_history_csv()
                if self.tensorboard is not None:
                    self._log_tensorboard(record)
            if config.schedule == "plateau" and self.plateau.step(val_loss):
                self._reapply_lr()
                log.info("validation loss on a plateau for %d epoch(s): learning rate now %.2e",
                         config.plateau_patience + 1, self.optimizer.param_groups[0]["lr"])
            improved, value = self._improved(val_loss, val_auroc)
            if improved:
                self.best_value, self.best_epoch, self.bad_epochs = value, self.epoch, 0
                self.best_val_logits = self.last_val_logits
                if main:
                    self._save_weights(self.checkpoints / "best.pt", self.evaluation_model().state_dict())
            elif value is not None:  # without a validation figure there is nothing to be patient about
                self.bad_epochs += 1
            if main:
                self.save(self.checkpoints / "last.pt")
            if on_epoch:
                on_epoch(record)
            if config.patience and self.bad_epochs >= config.patience and self.epoch < config.epochs:
                log.info("stopping early: no better %s for %d epochs (best: epoch %d)",
                         config.monitor, self.bad_epochs, self.best_epoch)
                stopped_early = True
                break
        finished = stopped_early or self.epoch >= config.epochs
        final_state, chosen, val_logits = (self._final_weights() if finished
                                           else (self.model.state_dict(), "unfinished", None))
        return FitResult(final_state, chosen, list(self.history), self.epoch, stopped_early, finished, val_logits)

    def _final_weights(self) -> tuple[dict[str, torch.Tensor], str, np.ndarray | None]:
        config = self.config
        if config.average == "swa" and self.average is not None and int(self.average.n_averaged) > 0:
            # averaged weights need BatchNorm statistics of their own: one pass over the training set
            self.train_set.set_epoch(self.epoch)
            # (under DDP every process runs it: the averaged BatchNorm layers reduce across them)
            update_bn(DataLoader(self.train_set, batch_size=config.batch_size, num_workers=self.workers),
                      self.average, device=self.device)
            n = int(self.average.n_averaged)
            return plain_state(self.average.module.state_dict()), f"SWA average of the last {n} epochs", None
        best = self.checkpoints / "best.pt"
        if not self.context.is_main:  # only the main process wrote best.pt, and it alone exports
            return plain_state(self.model.state_dict()), "the main process exports", None
        if self.best_value is not None and best.is_file():
            state = torch.load(best, map_location="cpu", weights_only=True)["model"]
            which = "EMA weights" if config.average == "ema" else "weights"
            return state, f"{which} of epoch {self.best_epoch}, the best by {config.monitor}", self.best_val_logits
        return (plain_state(self.evaluation_model().state_dict()),
                f"last epoch ({self.epoch}); no validation figure to choose by", None)

    def _log_tensorboard(self, record: EpochRecord) -> None:
        board = self.tensorboard
        if board is None:
            return
        per_label = (per_label_auroc(self.val_targets, self.last_val_logits, getattr(self.model, "labels", ()))
                     if self.last_val_logits is not None else {})
        board.epoch(record.epoch, train_loss=record.train_loss, val_loss=record.val_loss,
                    val_auroc=per_label, mean_auroc=record.val_auroc, lr=record.lr,
                    images_per_second=record.images_per_second, model=self.evaluation_model())

    def write_history_csv(self) -> Path:
        """The per-epoch log, ``history.csv`` in the run folder (``history.write_history_csv``)."""
        return write_history_csv(self.out / "history.csv", self.history)

    # -- checkpoints -------------------------------------------------------------------------------------
    def header(self) -> dict[str, Any]:
        """What every checkpoint file carries besides tensors: config, arch, labels, split."""
        model = self.model
        return checkpoint_header(self.config, getattr(model, "arch", self.config.arch),
                                 list(getattr(model, "labels", ())), self.split_hash, self.epoch)

    def _save_weights(self, path: Path, state: dict[str, torch.Tensor]) -> None:
        atomic_save({**self.header(), "model": plain_state(state)}, path)

    def save(self, path: Path) -> None:
        """Everything a resumed run needs to continue exactly."""
        state = {
            **self.header(),
            "model": plain_state(self.model.state_dict()),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "plateau": self.plateau.state_dict(),
            "average": self.average.state_dict() if self.average is not None else None,
            "history": [record.__dict__ for record in self.history],
            "best_value": self.best_value,
            "best_val_loss": min((r.val_loss for r in self.history if not math.isnan(r.val_loss)), default=None),
            "best_epoch": self.best_epoch,
            "bad_epochs": self.bad_epochs,
            "rng": torch.get_rng_state(),
            "grad_scaler": self.precision.state_dict(),
        }
        atomic_save(state, path)

    def restore(self, path: Path) -> None:
        """Continue from a ``last.pt`` of the same configuration and split."""
        state = load_checkpoint(path)
        if "optimizer" not in state:
            raise TrainerError(f"{path}: holds only weights; resume from the run's checkpoints/last.pt")
        if state["split_hash"] != self.split_hash:
            raise TrainerError(
                f"{path}: was trained on another split (the images or the split options differ); "
                "resume with the same data and options"
            )
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if state.get("plateau") is not None:  # absent from checkpoints of the earlier trainer
            self.plateau.load_state_dict(state["plateau"])
        if self.average is not None and state["average"] is not None:
            self.average.load_state_dict(state["average"])
        self.history = [EpochRecord(**record) for record in state["history"]]
        self.epoch = int(state["epoch"])
        self.best_value = state["best_value"]
        self.best_epoch = int(state["best_epoch"])
        self.bad_epochs = int(state["bad_epochs"])
        torch.set_rng_state(state["rng"])
        self.precision.load_state_dict(state.get("grad_scaler"))
        log.info("resumed %s after epoch %d", path, self.epoch)
