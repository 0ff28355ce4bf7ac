"""The training loss: binary cross-entropy per label, class weighting, smoothing, mixup, the aux head.

``--pos-weight`` weighs each label's positives and negatives from the training split's counts
(``class_weights``); ``loss_function`` is the mean weighted BCE with optional label smoothing;
``aux_loss`` is the training-only head's (``--aux-weight``); ``mixup`` blends a batch with itself.
``validation_loss`` is always plain BCE, so runs with different weightings compare.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


def positive_weights(targets: np.ndarray, how: str, max_weight: float) -> torch.Tensor | None:
    """Per-label weight of positives in the loss: ``balanced`` = negatives/positives,
    ``sqrt`` = its square root (a milder correction), clipped to ``max_weight``; 1 for a label
    without positives. None for ``none``."""
    if how == "none":
        return None
    positives = targets.sum(axis=0)
    negatives = len(targets) - positives
    ratio = np.where(positives > 0, negatives / np.maximum(positives, 1), 1.0)
    if how == "sqrt":
        ratio = np.sqrt(ratio)
    elif how != "balanced":
        raise ValueError(f"unknown positive weighting {how!r}")
    return torch.tensor(np.clip(ratio, 1.0, max_weight), dtype=torch.float32)


@dataclass(frozen=True)
class ClassWeights:
    """Per-label weights of the positive and the negative term of the binary cross-entropy."""

    positive: torch.Tensor  # [L]
    negative: torch.Tensor  # [L]

    def to(self, device: torch.device) -> ClassWeights:
        return ClassWeights(self.positive.to(device), self.negative.to(device))

    def describe(self, labels: tuple[str, ...] | list[str]) -> str:
        return ", ".join(f"{x} {p:.2f}/{n:.2f}" for x, p, n in
                         zip(labels, self.positive.tolist(), self.negative.tolist()))


def class_weights(targets: np.ndarray, how: str, max_ratio: float) -> ClassWeights | None:
    """The loss weights of ``--pos-weight``, computed on the training split's targets [N, L].

    ``posneg``: for a label with P positives and N negatives, positives weigh ``r * w`` and
    negatives ``w`` with ``r = N/P`` (limited to [1/max_ratio, max_ratio]) and ``w`` chosen so the
    weights average 1 over the training images (unlimited: (P+N)/2P and (P+N)/2N, so positives
    and negatives each carry half of the label's loss, the weighting of Wang et al. 2017 halved).
    Averaging 1 keeps the loss on the scale of the plain BCE, so learning rates carry over.
    ``balanced``/``sqrt``: positives only, as ``positive_weights``. None for ``none``. A label
    without positives or without negatives keeps weight 1 on both terms.
    """
    if how != "posneg":
        weights = positive_weights(targets, how, max_ratio)
        return None if weights is None else ClassWeights(weights, torch.ones_like(weights))
    n = len(targets)
    positives = targets.sum(axis=0).astype(np.float64)
    negatives = n - positives
    both = (positives > 0) & (negatives > 0)
    ratio = np.clip(negatives / np.maximum(positives, 1), 1.0 / max_ratio, max_ratio)
    negative = np.where(both, n / np.maximum(positives * ratio + negatives, 1e-12), 1.0)
    positive = np.where(both, ratio * negative, 1.0)
    return ClassWeights(torch.tensor(positive, dtype=torch.float32), torch.tensor(negative, dtype=torch.float32))


def loss_function(
    logits: torch.Tensor,
    targets: torch.Tensor,
    pos_weight: torch.Tensor | ClassWeights | None = None,
    smoothing: float = 0.0,
) -> torch.Tensor:
    """Mean binary cross-entropy over images and labels, with optional label smoothing.

    ``pos_weight``: a tensor weighs the positive term only (torch's ``pos_weight``);
    ``ClassWeights`` weigh both terms: ``-(w+ y log p + w- (1-y) log(1-p))``.
    """
    if smoothing:
        targets = targets * (1.0 - smoothing) + smoothing / 2
    if isinstance(pos_weight, ClassWeights):
        # torch computes -w [pw y log p + (1-y) log(1-p)]: w = w-, pw = w+/w- gives both terms
        return F.binary_cross_entropy_with_logits(logits, targets, weight=pos_weight.negative,
                                                  pos_weight=pos_weight.positive / pos_weight.negative)
    return F.binary_cross_entropy_with_logits(logits, targets, pos_weight=pos_weight)


def aux_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy of the auxiliary head over the targets the label file gives
    (NaN = unknown, left out); 0 when a batch has none."""
    known = torch.isfinite(targets)
    if not bool(known.any()):
        return logits.sum() * 0.0  # keeps the head in the graph (DDP expects every parameter used)
    return F.binary_cross_entropy_with_logits(logits[known], targets[known])


def mixup(images: torch.Tensor, targets: torch.Tensor, alpha: float,
          seed: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """Mixup (Zhang et al. 2018): ``l x + (1 - l) x[p]`` and the same for the targets, with
    ``l ~ Beta(alpha, alpha)`` and a permutation ``p`` of the batch, both drawn from ``seed`` (run
    seed, epoch, batch, process), so a resumed run mixes alike. Under DDP each process mixes
    within its share of the batch."""
    rng = np.random.default_rng(list(seed))
    weight = float(rng.beta(alpha, alpha))
    order = torch.from_numpy(rng.permutation(len(images))).to(images.device)
    return (images * weight + images[order] * (1.0 - weight),
            targets * weight + targets[order] * (1.0 - weight))


def validation_loss(logits: np.ndarray, targets: np.ndarray) -> float:
    """Unweighted, unsmoothed mean BCE: comparable across runs with any training loss."""
    if len(targets) == 0:
        return float("nan")
    value = F.binary_cross_entropy_with_logits(torch.from_numpy(logits), torch.from_numpy(targets))
    return float(value)
