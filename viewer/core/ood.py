"""Out-of-distribution check: does this prepared image look like a frontal chest X-ray?

Computed from the prepared pixels alone (the output of ``preprocess``), never from header fields,
so a PNG and a DICOM of the same image get the same answer.

Method ``thumbnail16-hog4x4x8-pca-v1``:

* features (``ood_features``): the image as a 16x16 thumbnail, standardised to zero mean and
  unit variance (the layout: two dark lung fields either side of a bright mediastinum, shoulders
  at the top, diaphragm below), plus a 4x4-cell histogram of gradient orientations (8 bins,
  magnitude-weighted, L2-normalised) on a 64x64 version (the direction of edges: ribs, the
  mediastinal and body outlines). Both blocks are invariant to brightness and contrast, so a
  chest windowed differently (a CR DICOM against an NIH PNG) scores the same, while a rotated
  or upside-down chest, a limb, a CT slice or a photograph does not.
* model (``fit_ood``): principal components of the training chests' features. The score is
  Hotelling's T^2 in the first ``k`` components divided by ``k``, plus the squared residual
  outside them divided by its training mean (the classic T^2 + Q monitoring pair); both terms
  are about 1 for a typical training image.
* threshold: the 99th percentile of 5-fold out-of-fold scores on the training images, i.e. of
  scores of chests the components were not fitted on. Training scores themselves would be
  optimistic and put the threshold too low.

The measured behaviour on real images is in ``docs/ood.md`` (``bench/ood_eval.py``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import cv2
import numpy as np

from .errors import CxrError

METHOD = "thumbnail16-hog4x4x8-pca-v1"
NO_CHECK = "none"  # a card may say it has no OOD check (test models); then nothing is flagged

THUMBNAIL = 16
HOG_SIZE = 64
HOG_CELLS = 4
HOG_BINS = 8
FEATURE_LENGTH = THUMBNAIL * THUMBNAIL + HOG_CELLS * HOG_CELLS * HOG_BINS

DEFAULT_COMPONENTS = 20
DEFAULT_PERCENTILE = 99.0
FOLDS = 5
MIN_IMAGES = 20  # fewer chests than this cannot describe what a chest X-ray looks like
_DIGITS = 7  # significant digits kept in the card: float32 precision, a compact JSON


class OodError(CxrError):
    """The OOD statistics are unusable (unknown method, wrong shapes) or cannot be fitted."""


# -- features --------------------------------------------------------------------------------
def ood_features(prepared: np.ndarray) -> np.ndarray:
    """Feature vector (float64, length ``FEATURE_LENGTH``) of one prepared image [H, W] in [0, 1].

    Independent of the input size and of any affine change of grey levels (brightness/contrast).
    """
    image = np.asarray(prepared, dtype=np.float32)
    if image.ndim != 2 or min(image.shape) < 2:
        raise ValueError(f"ood_features needs a 2-D prepared image, got shape {image.shape}")
    if not np.isfinite(image).all():
        raise ValueError("ood_features needs finite pixel values (the prepared image has NaN/inf)")
    return np.concatenate([_thumbnail(image) / THUMBNAIL, _orientation_histogram(image)])


def _resize(image: np.ndarray, size: int) -> np.ndarray:
    shrinking = image.shape[0] >= size and image.shape[1] >= size
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(image, (size, size), interpolation=interpolation).astype(np.float64)


def _thumbnail(image: np.ndarray) -> np.ndarray:
    """16x16 thumbnail standardised to zero mean, unit variance (a flat image stays all zero)."""
    thumb = _resize(image, THUMBNAIL).ravel()
    thumb -= thumb.mean()
    spread = thumb.std()
    # /THUMBNAIL in the caller gives the block unit norm, the same weight as the histogram's.
    return thumb / spread if spread > 1e-6 else thumb


def _orientation_histogram(image: np.ndarray) -> np.ndarray:
    """Magnitude-weighted histogram of unsigned gradient orientations per cell, L2-normalised."""
    small = _resize(image, HOG_SIZE).astype(np.float32)
    gx = cv2.Sobel(small, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(small, cv2.CV_32F, 0, 1, ksize=3)
    magnitude = np.hypot(gx, gy).astype(np.float64)
    angle = np.mod(np.arctan2(gy, gx), np.pi)  # unsigned: an edge and its mirror are one edge
    bins = np.minimum((angle / np.pi * HOG_BINS).astype(np.int64), HOG_BINS - 1)
    cell = HOG_SIZE // HOG_CELLS
    # cell index of every pixel, combined with its bin, gives one flat bincount for all cells
    rows = np.arange(HOG_SIZE) // cell
    cell_index = rows[:, None] * HOG_CELLS + rows[None, :]
    flat = (cell_index * HOG_BINS + bins).ravel()
    histogram = np.bincount(flat, weights=magnitude.ravel(), minlength=HOG_CELLS * HOG_CELLS * HOG_BINS)
    norm = np.linalg.norm(histogram)
    return histogram / norm if norm > 1e-12 else histogram


# -- fitting ---------------------------------------------------------------------------------
def fit_ood(
    prepared_images: Iterable[np.ndarray],
    components: int = DEFAULT_COMPONENTS,
    percentile: float = DEFAULT_PERCENTILE,
) -> dict[str, Any]:
    """The model card's ``ood`` object, fitted on prepared (training) chest X-rays.

    Returns ``{"method", "statistics", "threshold", "percentile", "n_images", "description"}``,
    JSON-ready. Raises ``OodError`` with fewer than ``MIN_IMAGES`` images.
    """
    if not 0.0 < percentile < 100.0:
        raise ValueError(f"percentile must be between 0 and 100, got {percentile}")
    rows = [ood_features(image) for image in prepared_images]
    if len(rows) < MIN_IMAGES:
        raise OodError(
            f"the out-of-distribution check needs at least {MIN_IMAGES} training chest X-rays, "
            f"got {len(rows)}; export from a training run on more images"
        )
    features = np.stack(rows)
    n = len(features)
    # Each fold's fit sees 4/5 of the images: keep k well below that so T^2 is defined.
    k = int(max(1, min(components, (n * (FOLDS - 1)) // FOLDS // 3, FEATURE_LENGTH - 1)))

    out_of_fold = np.empty(n)
    order = np.arange(n)
    for fold in range(FOLDS):
        held = order[fold::FOLDS]
        fitted = _fit_pca(features[np.setdiff1d(order, held)], k)
        out_of_fold[held] = _score_features(features[held], fitted)
    threshold = float(np.percentile(out_of_fold, percentile))

    statistics = {key: _rounded(value) for key, value in _fit_pca(features, k).items()}
    return {
        "method": METHOD,
        "statistics": statistics,
        "threshold": _rounded(threshold),
        "percentile": percentile,
        "n_images": n,
        "description": (
            "T^2/k + Q/mean(Q) of a PCA of 16x16 standardised thumbnails and 4x4x8 gradient "
            f"orientation histograms; threshold = {percentile:g}th percentile of 5-fold "
            "out-of-fold scores on the training chest X-rays (viewer/core/ood.py)"
        ),
    }


def _fit_pca(features: np.ndarray, k: int) -> dict[str, Any]:
    mean = features.mean(axis=0)
    centred = features - mean
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    basis = vt[:k]
    variances = singular[:k] ** 2 / max(len(features) - 1, 1)
    residual = centred - (centred @ basis.T) @ basis
    residual_mean = float((residual**2).sum(axis=1).mean())
    # floors: a degenerate training set (identical images) must not divide by zero
    variances = np.maximum(variances, 1e-12)
    return {
        "mean": mean,
        "components": basis,
        "variances": variances,
        "residual_mean": max(residual_mean, 1e-12),
    }


def _score_features(features: np.ndarray, fitted: dict[str, Any]) -> np.ndarray:
    centred = np.atleast_2d(features) - fitted["mean"]
    basis = fitted["components"]
    projected = centred @ basis.T
    t_squared = (projected**2 / fitted["variances"]).sum(axis=1) / len(fitted["variances"])
    residual = centred - projected @ basis
    q = (residual**2).sum(axis=1) / fitted["residual_mean"]
    score: np.ndarray = t_squared + q
    return score


def _rounded(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return [_rounded(v) for v in value.tolist()]
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return float(f"{float(value):.{_DIGITS}g}")


# -- scoring ---------------------------------------------------------------------------------
def has_check(ood: dict[str, Any]) -> bool:
    """False when the card says there is no OOD check (method "none")."""
    return ood.get("method") != NO_CHECK


class OodCheck:
    """The card's ``ood`` object turned into arrays once, to score many images quickly.

    Raises ``OodError`` when the method is unknown or the statistics do not fit it.
    """

    def __init__(self, ood: dict[str, Any]) -> None:
        self.ood = ood
        self.enabled = has_check(ood)
        self.threshold = float(ood.get("threshold", float("nan")))
        self._fitted = _arrays_from_card(ood) if self.enabled else None

    def score(self, prepared: np.ndarray) -> float:
        """Score of one prepared image (NaN when the card has no check)."""
        if self._fitted is None:
            return float("nan")
        return float(_score_features(ood_features(prepared), self._fitted)[0])

    def flag(self, score: float) -> bool:
        return is_ood(score, self.ood)


def _arrays_from_card(ood: dict[str, Any]) -> dict[str, Any]:
    method = ood.get("method")
    if method != METHOD:
        raise OodError(
            f"the model card's out-of-distribution method '{method}' is not one this viewer "
            f"knows ('{METHOD}'); update the viewer or re-export the model with a matching cxr-train"
        )
    stats = ood.get("statistics", {})
    try:
        mean = np.asarray(stats["mean"], dtype=np.float64)
        components = np.asarray(stats["components"], dtype=np.float64)
        variances = np.asarray(stats["variances"], dtype=np.float64)
        residual_mean = float(stats["residual_mean"])
        threshold = float(ood["threshold"])
    except (KeyError, TypeError, ValueError) as exc:
        raise OodError(
            f"the model card's ood object is incomplete or malformed ({exc}); re-export the model"
        ) from None
    k = variances.shape[0] if variances.ndim == 1 else 0
    if (
        k < 1
        or mean.shape != (FEATURE_LENGTH,)
        or components.shape != (k, FEATURE_LENGTH)
        or not all(np.isfinite(a).all() for a in (mean, components, variances))
        or not (variances > 0).all()
        or not (math.isfinite(residual_mean) and residual_mean > 0)
        or not math.isfinite(threshold)
    ):
        raise OodError(
            f"the model card's ood.statistics do not fit method '{METHOD}' (mean {mean.shape}, "
            f"components {components.shape}, variances {variances.shape}); re-export the model"
        )
    return {"mean": mean, "components": components, "variances": variances, "residual_mean": residual_mean}


def ood_score(prepared: np.ndarray, ood: dict[str, Any]) -> float:
    """How unlike the training chest X-rays ``prepared`` is (larger = less chest-like).

    About 2 for a typical training image; compare with ``ood["threshold"]`` via ``is_ood``.
    NaN when the card has no check (method "none"). Raises ``OodError`` for unusable statistics.
    To score many images with one card, build an ``OodCheck`` once instead.
    """
    return OodCheck(ood).score(prepared)


def is_ood(score: float, ood: dict[str, Any]) -> bool:
    """True when ``score`` is above the card's threshold (never for a card without a check)."""
    if not has_check(ood) or math.isnan(score):
        return False
    return bool(score > float(ood["threshold"]))
