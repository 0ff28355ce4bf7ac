"""The training loss: binary cross-entropy per label, class weighting, smoothing, mixup, the aux head.

``--pos-weight`` weighs each label's positives and negatives from the training split's counts
(``class_weights``); ``loss_function`` is the mean weighted BCE with optional label smoothing;
``aux_loss`` is the training-only head's (``--aux-weight``); ``mixup`` blends a batch with itself.
``validation_loss`` is always plain BCE, so runs with different weightings compare.

A mask (``LabelledImages.mask``: 0 where a target is unknown, an uncertain finding under
``--uncertainty ignore`` or a label the dataset does not annotate) leaves those entries out of
the loss, which is then the mean over the known entries, and out of the class weights' counts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


def _counts(targets: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Per label: (known entries, known positives) of [N, L] targets; all entries without a mask."""
    if mask is None:
        return np.full(targets.shape[1], len(targets)), targets.sum(axis=0)
    return mask.sum(axis=0), (targets * mask).sum(axis=0)


def positive_weights(targets: np.ndarray, how: str, max_weight: float,
                     mask: np.ndarray | None = None) -> torch.Tensor | None:
    """Per-label weight of positives in the loss: ``balanced`` = negatives/positives,
    ``sqrt`` = its square root (a milder correction), clipped to ``max_weight``; 1 for a label
    without positives. None for ``none``. ``mask``: count only the known targets."""
    if how == "none":
        return None
    known, positives = _counts(targets, mask)
    negatives = known - positives
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


def class_weights(targets: np.ndarray, how: str, max_ratio: float,
                  mask: np.ndarray | None = None) -> ClassWeights | None:
    """The loss weights of ``--pos-weight``, computed on the training split's targets [N, L].

    ``posneg``: for a label with P positives and N negatives, positives weigh ``r * w`` and
    negatives ``w`` with ``r = N/P`` (limited to [1/max_ratio, max_ratio]) and ``w`` chosen so the
    weights average 1 over the training images (unlimited: (P+N)/2P and (P+N)/2N, so positives
    and negatives each carry half of the label's loss, the weighting of Wang et al. 2017 halved).
    Averaging 1 keeps the loss on the scale of the plain BCE, so learning rates carry over.
    ``balanced``/``sqrt``: positives only, as ``positive_weights``. None for ``none``. A label
    without positives or without negatives keeps weight 1 on both terms. ``mask`` [N, L]: the
    counts (P, N and the images averaged over) are of the known targets only.
    """
    if how != "posneg":
        weights = positive_weights(targets, how, max_ratio, mask)
        return None if weights is None else ClassWeights(weights, torch.ones_like(weights))
    n, positives = _counts(targets, mask)
    positives = positives.astype(np.float64)
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
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean binary cross-entropy over images and labels, with optional label smoothing.

    ``pos_weight``: a tensor weighs the positive term only (torch's ``pos_weight``);
    ``ClassWeights`` weigh both terms: ``-(w+ y log p + w- (1-y) log(1-p))``. ``mask`` [N, L]:
    entries where it is 0 contribute nothing (no gradient); the mean is over the others.
    """
    if smoothing:
        targets = targets * (1.0 - smoothing) + smoothing / 2
    weight: torch.Tensor | None = None
    positive: torch.Tensor | None
    if isinstance(pos_weight, ClassWeights):
        # torch computes -w [pw y log p + (1-y) log(1-p)]: w = w-, pw = w+/w- gives both terms
        weight, positive = pos_weight.negative, pos_weight.positive / pos_weight.negative
    else:
        positive = pos_weight
    if mask is None:
        return F.binary_cross_entropy_with_logits(logits, targets, weight=weight, pos_weight=positive)
    terms = F.binary_cross_entropy_with_logits(logits, targets, weight=weight, pos_weight=positive, reduction="none")
    # where(), not a product: a masked entry's term may be inf or NaN and must still give no gradient
    kept = torch.where(mask > 0, terms, torch.zeros_like(terms))
    return kept.sum() / mask.sum().clamp(min=1.0)


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
    weight, order = _mixup_draw(len(images), alpha, seed, images.device)
    return (images * weight + images[order] * (1.0 - weight),
            targets * weight + targets[order] * (1.0 - weight))


def mixup_mask(mask: torch.Tensor, alpha: float, seed: tuple[int, ...]) -> torch.Tensor:
    """The mask of a batch that ``mixup`` blended with the same ``alpha`` and ``seed``: a target
    is known only where both blended images' targets are."""
    _, order = _mixup_draw(len(mask), alpha, seed, mask.device)
    return mask * mask[order]


def _mixup_draw(n: int, alpha: float, seed: tuple[int, ...], device: torch.device) -> tuple[float, torch.Tensor]:
    """Mixup's blending weight and permutation of a batch of ``n``, drawn from ``seed``."""
    rng = np.random.default_rng(list(seed))
    weight = float(rng.beta(alpha, alpha))
    return weight, torch.from_numpy(rng.permutation(n)).to(device)


def validation_loss(logits: np.ndarray, targets: np.ndarray) -> float:
    """Unweighted, unsmoothed mean BCE over the known targets (NaN: unknown, left out):
    comparable across runs with any training loss."""
    known = ~np.isnan(targets)
    if not known.any():
        return float("nan")
    known_logits, known_targets = torch.from_numpy(logits[known]), torch.from_numpy(targets[known].astype(logits.dtype))
    value = F.binary_cross_entropy_with_logits(known_logits, known_targets)
    return float(value)
