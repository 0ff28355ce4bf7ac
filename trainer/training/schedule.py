"""The optimizer and the learning-rate schedule: Adam/AdamW/SGD, warm-up, step/cosine/constant, plateau.

``lr_factor`` is the learning rate of every optimizer step as a fraction of ``--lr`` (a torch
``LambdaLR`` applies it); ``Plateau`` is the reduce-on-plateau factor, kept apart so the
per-step warm-up cannot overwrite it, and saved in the checkpoint.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..config import TrainConfig


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """Adam, AdamW or SGD; no weight decay on biases and normalisation parameters (1-D tensors).

    Adam (the seeds' optimizer) adds the decay to the gradient (L2); AdamW decouples it.
    """
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, nesterov=config.nesterov)
    if config.optimizer == "adam":
        return torch.optim.Adam(groups, lr=config.lr)
    return torch.optim.AdamW(groups, lr=config.lr)


class Plateau:
    """Reduce-on-plateau of the validation loss, as a factor on the learning rate.

    The rule of ``torch.optim.lr_scheduler.ReduceLROnPlateau`` (mode min, relative threshold
    1e-4, no cooldown): after more than ``patience`` epochs without a loss below
    ``best * (1 - 1e-4)`` the factor is multiplied by ``decay``. Kept as a factor, not as a
    second torch scheduler, because the per-step warm-up (``LambdaLR``) would overwrite a
    learning rate another scheduler had set; its state goes into the checkpoint.
    """

    THRESHOLD = 1e-4

    def __init__(self, patience: int, decay: float) -> None:
        self.patience, self.decay = patience, decay
        self.best = math.inf
        self.bad_epochs = 0
        self.scale = 1.0

    def step(self, val_loss: float) -> bool:
        """Record one epoch's validation loss; True when the learning rate was just reduced."""
        if math.isnan(val_loss):  # no validation split: nothing to judge a plateau by
            return False
        if val_loss < self.best * (1.0 - self.THRESHOLD):
            self.best, self.bad_epochs = val_loss, 0
            return False
        self.bad_epochs += 1
        if self.bad_epochs > self.patience:
            self.scale *= self.decay
            self.bad_epochs = 0
            return True
        return False

    def state_dict(self) -> dict[str, float]:
        return {"best": self.best, "bad_epochs": self.bad_epochs, "scale": self.scale}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.best, self.bad_epochs, self.scale = float(state["best"]), int(state["bad_epochs"]), float(state["scale"])


def lr_factor(step: int, steps_per_epoch: int, config: TrainConfig) -> float:
    """The learning rate at optimizer step ``step`` as a fraction of ``--lr``.

    Linear warm-up over ``warmup_epochs``, then: ``step``, x ``lr_decay`` every ``step_epochs``
    (the seeds: x0.1 every 2 epochs); ``cosine`` to ``min_lr_ratio``; ``constant``; or
    ``plateau``, which is constant here and reduced by ``Plateau`` after validation.
    """
    total = max(1, config.epochs * steps_per_epoch)
    warmup = int(round(config.warmup_epochs * steps_per_epoch))
    if step < warmup:
        return (step + 1) / warmup
    if config.schedule in ("constant", "plateau"):
        return 1.0
    if config.schedule == "step":
        return config.lr_decay ** ((step // steps_per_epoch) // max(1, config.step_epochs))
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    low = config.min_lr_ratio
    return low + (1.0 - low) * 0.5 * (1.0 + math.cos(math.pi * progress))
