"""The mask in the loss (issue 21): a target it excludes gives no gradient and no class-weight
count, and an all-ones mask is exactly the loss without one."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from trainer.training.losses import class_weights, loss_function, mixup, mixup_mask


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 4, generator=generator)
    targets = (torch.rand(6, 4, generator=generator) > 0.5).float()
    return logits, targets


@pytest.mark.parametrize("weighting", ["none", "balanced", "posneg"])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_an_all_ones_mask_is_exactly_the_loss_without_one(weighting: str, smoothing: float) -> None:
    logits, targets = _batch()
    weights = class_weights(targets.numpy(), weighting, 10.0)
    plain = loss_function(logits, targets, weights, smoothing)
    masked = loss_function(logits, targets, weights, smoothing, torch.ones_like(targets))
    assert torch.equal(plain, masked)


@pytest.mark.parametrize("weighting", ["none", "posneg"])
def test_a_masked_target_gives_no_gradient(weighting: str) -> None:
    logits, targets = _batch()
    mask = torch.ones_like(targets)
    mask[2, 1] = 0.0  # sample 2's label 1 is unknown (uncertain under ignore, or not annotated)
    weights = class_weights(targets.numpy(), weighting, 10.0, mask.numpy())
    logits.requires_grad_(True)
    loss_function(logits, targets, weights, 0.0, mask).backward()
    assert logits.grad is not None
    assert logits.grad[2, 1] == 0.0
    assert torch.count_nonzero(logits.grad) == targets.numel() - 1  # every known entry has a gradient
    # the loss is the mean over the known entries: whatever the masked entry's target, the same
    flipped = targets.clone()
    flipped[2, 1] = 1.0 - flipped[2, 1]
    assert torch.equal(loss_function(logits, targets, None, 0.0, mask), loss_function(logits, flipped, None, 0.0, mask))
    # and an unmasked target does move the loss (the test could fail)
    assert not torch.equal(loss_function(logits, targets, None), loss_function(logits, flipped, None))


def test_a_masked_inf_logit_still_gives_a_finite_loss() -> None:
    logits, targets = _batch()
    logits[0, 0], targets[0, 0] = -1e30, 1.0  # an infinite term, masked out
    mask = torch.ones_like(targets)
    mask[0, 0] = 0.0
    logits.requires_grad_(True)
    loss = loss_function(logits, targets, None, 0.0, mask)
    loss.backward()
    assert torch.isfinite(loss) and logits.grad is not None and torch.isfinite(logits.grad).all()


def test_class_weights_count_only_known_targets() -> None:
    targets = np.array([[1, 0], [0, 0], [0, 1], [1, 1]], np.float32)
    mask = np.array([[1, 1], [1, 0], [0, 1], [1, 1]], np.float32)
    masked = class_weights(targets, "posneg", 100.0, mask)
    known = class_weights(np.array([[1], [0], [1]], np.float32), "posneg", 100.0)  # label 0's known rows
    assert masked is not None and known is not None
    assert masked.positive[0] == known.positive[0] and masked.negative[0] == known.negative[0]
    # label 1: known rows 0, 2, 3 with targets 0, 1, 1
    other = class_weights(np.array([[0], [1], [1]], np.float32), "posneg", 100.0)
    assert other is not None and masked.positive[1] == other.positive[0]
    balanced = class_weights(targets, "balanced", 100.0, mask)
    assert balanced is not None and balanced.positive.tolist() == pytest.approx([1.0, 1.0])  # 1 neg / 2 pos -> 1
    for how in ("posneg", "balanced", "sqrt"):
        plain, ones = class_weights(targets, how, 5.0), class_weights(targets, how, 5.0, np.ones_like(targets))
        assert plain is not None and ones is not None
        assert torch.equal(plain.positive, ones.positive) and torch.equal(plain.negative, ones.negative)


def test_mixup_keeps_a_target_only_where_both_images_know_it() -> None:
    images = torch.arange(4, dtype=torch.float32).reshape(4, 1, 1, 1)
    targets = torch.zeros(4, 3)
    mask = torch.ones(4, 3)
    mask[1, 2] = 0.0
    seed = (0, 1, 2, 0)
    mixed, _ = mixup(images, targets, 0.4, seed)
    blended = mixup_mask(mask, 0.4, seed)
    weight = float(np.random.default_rng(list(seed)).beta(0.4, 0.4))
    partner = ((mixed.flatten() - images.flatten() * weight) / (1 - weight)).round().long()  # who each mixed with
    for i in range(4):
        expected = float(mask[i, 2] * mask[partner[i], 2])
        assert blended[i, 2] == expected
    assert blended[:, :2].min() == 1.0 and blended[1, 2] == 0.0
