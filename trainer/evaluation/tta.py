"""Test-time augmentation for evaluation: the mean probability over views of each image.

* ``none``: the image as the viewer shows it to the model;
* ``flip``: that image and its left-right mirror. A chest is not symmetric (heart, aortic
  knob, gastric bubble), but a finding is the same finding on either side, and the trainer
  augments with flips (``--hflip``), so a model has seen mirrored chests;
* ``tencrop``: as the widely used PyTorch CheXNet reimplementation evaluates (torchvision
  ``Resize(256)`` + ``TenCrop(224)``): the image prepared at 256/224 of the model's input size,
  its four corner crops and centre crop at the input size, and their mirrors.

Every view comes from THE preprocessing function (``viewer.core.preprocess.preprocess``, at the
input size or the larger ten-crop size), so the pixels are prepared exactly as the viewer
prepares them before any crop or flip. Probabilities (calibrated, the classifier's output) are
averaged, as CheXNet averaged its crops' outputs. Heatmaps are not augmented.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .metrics import auroc, bootstrap_counts

TTA_MODES: tuple[str, ...] = ("none", "flip", "tencrop")
TENCROP_SCALE = 256 / 224  # CheXNet's Resize(256) before TenCrop(224)
Classify = Callable[[np.ndarray], np.ndarray]  # [N, 1, H, W] float32 -> probabilities [N, L]


def _check_mode(mode: str) -> None:
    if mode not in TTA_MODES:
        raise ValueError(f"unknown test-time augmentation {mode!r} (choose from {', '.join(TTA_MODES)})")


def prepare_size(mode: str, input_size: tuple[int, int]) -> tuple[int, int]:
    """(height, width) to prepare images at for ``mode``: larger than the input for ten-crop."""
    _check_mode(mode)
    if mode != "tencrop":
        return input_size
    return tuple(int(round(s * TENCROP_SCALE)) for s in input_size)  # type: ignore[return-value]


def views(prepared: np.ndarray, mode: str, input_size: tuple[int, int]) -> np.ndarray:
    """The views [V, H, W] of one prepared image (at ``prepare_size(mode, input_size)``).

    Order for ten-crop as torchvision's ``TenCrop``: top-left, top-right, bottom-left,
    bottom-right, centre, then the same five of the mirrored image.
    """
    _check_mode(mode)
    image = np.asarray(prepared, np.float32)
    expected = prepare_size(mode, input_size)
    if image.shape != expected:
        raise ValueError(f"a prepared image for {mode} must be {expected}, got {image.shape}")
    if mode == "none":
        return image[None]
    if mode == "flip":
        return np.stack([image, image[:, ::-1]])
    height, width = input_size
    big_h, big_w = image.shape
    top, left = int(round((big_h - height) / 2)), int(round((big_w - width) / 2))  # torchvision's centre
    corners = [(0, 0), (0, big_w - width), (big_h - height, 0), (big_h - height, big_w - width), (top, left)]
    crops = [image[y:y + height, x:x + width] for y, x in corners]
    mirrored = image[:, ::-1]
    # the mirrored image's crops are the mirrors of the crops at mirrored positions, as TenCrop's
    crops += [mirrored[y:y + height, x:x + width] for y, x in corners]
    return np.stack(crops)


def tta_probabilities(
    classify: Classify, prepared: Sequence[np.ndarray], mode: str, input_size: tuple[int, int], batch: int = 8,
) -> np.ndarray:
    """Mean probability [N, L] over the views of each prepared image.

    ``classify`` takes a batch [n, 1, H, W] float32 in [0, 1] and returns [n, L] probabilities
    (``ModelPair.classify(...)[0]``); at most ``batch`` views go in one call.
    """
    _check_mode(mode)
    if not prepared:
        raise ValueError("no images to classify")
    stacked = [views(image, mode, input_size) for image in prepared]
    per_image = len(stacked[0])
    flat = np.concatenate(stacked)[:, None]
    outputs = [np.asarray(classify(np.ascontiguousarray(flat[i:i + batch])), np.float64)
               for i in range(0, len(flat), batch)]
    probabilities = np.concatenate(outputs)
    return probabilities.reshape(len(prepared), per_image, -1).mean(axis=1)


def paired_auroc_change(
    targets: np.ndarray, plain: np.ndarray, augmented: np.ndarray, labels: Sequence[str],
    resamples: int = 1000, seed: int = 0, groups: Sequence[int] | None = None,
) -> dict[str, Any]:
    """AUROC with TTA minus without, per label and averaged, with a paired bootstrap 95% interval.

    Paired: both score sets are resampled with the same draws (whole patients with ``groups``),
    so the interval is that of the change itself, far narrower than the two AUROCs' own
    intervals would suggest. The mean is over the labels defined in both (the same labels: the
    targets are shared). Intervals are None without resamples or when too few are usable.
    """
    targets, plain, augmented = (np.asarray(a, np.float64) for a in (targets, plain, augmented))

    def changes(rows: np.ndarray) -> np.ndarray:
        out = np.full(len(labels), np.nan)
        for j in range(len(labels)):
            a, b = auroc(targets[rows, j], plain[rows, j]), auroc(targets[rows, j], augmented[rows, j])
            if a is not None and b is not None:
                out[j] = b - a
        return out

    point = changes(np.arange(len(targets)))
    draws: list[np.ndarray] = []
    if resamples and len(targets):
        for counts in bootstrap_counts(len(targets), resamples, seed, groups):
            draws += [changes(np.repeat(np.arange(len(targets)), row)) for row in counts]
    sampled = np.array(draws).reshape(-1, len(labels))

    def interval(values: np.ndarray) -> list[float] | None:
        values = values[~np.isnan(values)]
        if not resamples or len(values) < 0.5 * resamples:
            return None
        low, high = np.percentile(values, [2.5, 97.5])
        return [round(float(low), 6), round(float(high), 6)]

    per_label = {label: None if np.isnan(point[j]) else {"change": round(float(point[j]), 6),
                                                           "ci95": interval(sampled[:, j])}
                 for j, label in enumerate(labels)}
    defined = ~np.isnan(point)
    # a resample may lack a label's positives: its mean is over the labels it has (NaN if none)
    present = ~np.isnan(sampled[:, defined])
    totals = np.where(present, sampled[:, defined], 0.0).sum(axis=1)
    mean_draws = np.where(present.any(axis=1), totals / np.maximum(present.sum(axis=1), 1), np.nan)
    return {
        "per_label": per_label,
        "mean_change": round(float(point[defined].mean()), 6) if defined.any() else None,
        "mean_change_ci95": interval(mean_draws) if defined.any() else None,
        "bootstrap": {"resamples": resamples, "seed": seed, "paired": True,
                      "unit": "patient" if groups is not None else "image"},
    }
