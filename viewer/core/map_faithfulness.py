"""Is a heatmap faithful to the model? A deletion test with ROAD's imputation.

A Grad-CAM map claims that the model's probability for a finding rests on the pixels where the
map is high. The test takes the claim at its word: remove the map's top pixels and the
probability should fall, and fall more than when as many pixels are removed at random.

For one prepared image [H, W] (``Predictor.prepare``), one label and its raw map [h, w]:

* the map is upsampled to the image (``heatmap.upsample``, as every use of a map here) and its
  pixels ranked, highest first (ties in random order, from ``seed``);
* for each fraction f of ``FRACTIONS`` the top f of the pixels are removed and the classifier
  run: ``map_curve[f]``. The same is done ``RANDOM_DRAWS`` times with a random map of the same
  grid [h, w] upsampled the same way, and averaged: ``random_curve[f]``. Removing as many
  pixels as the map but in blobs of the same size keeps the comparison about *where* the map
  points: single scattered pixels are filled back almost perfectly by the imputation below, so
  a baseline of scattered pixels would make any map with connected regions look faithful;
* ``score`` is the area between the two curves over [0, max f] (the trapezoid rule, both curves
  starting at the unperturbed probability p0 at f = 0), divided by max f and by p0, clipped to
  [-1, 1]: the share of its probability that the model loses on average more when the map's
  pixels go than when random ones do. Positive: the map points at pixels the model uses;
  about 0: no better than chance; negative: removing the map's pixels costs less than random.

Removing = ROAD's noisy linear imputation (Rong, Leemann, Borisov, Kasneci, Kasneci 2022,
"A Consistent and Efficient Evaluation Strategy for Attribution Methods", ICML, section 4): each
removed pixel becomes the weighted mean of its 8 neighbours (weight 1/6 for the 4 direct ones,
1/12 for the diagonals; removed neighbours are unknowns too, so the removed region is the
solution of one sparse linear system, a smooth fill from its border), plus Gaussian noise of
standard deviation ``NOISE``. Black-filling would be out of the training distribution, and the
probability would fall for that alone. The system is solved here by conjugate gradients on the
8-neighbour stencil (numpy and OpenCV, no SciPy in the viewer), started from a coarse-to-fine
fill, to a relative residual of ``TOLERANCE``; the tests compare it with ROAD's own code (the
copy in pytorch-grad-cam). The result is clipped to [0, 1], the range the model is promised.

``FRACTIONS`` = 5, 10, 20, 40 and 80% of the pixels: spaced about evenly in log f, so small
precise maps and broad ones both show; 80% stops short of removing everything (where both
curves meet again). Limits: the score says whether the model uses the pixels the map points at,
not whether the finding is there; it depends on the imputation (a model may react to the smooth
fill itself), and on one image it is noisy (the report averages over images).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from .heatmap import upsample

FRACTIONS: tuple[float, ...] = (0.05, 0.1, 0.2, 0.4, 0.8)
RANDOM_DRAWS = 3  # random maps per image: the random curve is their mean
NOISE = 0.01  # ROAD's default noise (absolute, in the [0, 1] units of the prepared image)
TOLERANCE = 1e-4  # relative residual of the imputation's system: within ~0.003 of the exact fill, under NOISE
SUMMARY_FRACTION = 0.2  # the fraction the one-line summary quotes
MAX_BATCH = 32  # perturbed images per classifier call: bounds memory, one call for one label's 20

# ROAD's neighbour weights (pytorch_grad_cam.metrics.road.neighbors_weights), as a 3x3 kernel
NEIGHBOURS = np.array([[1 / 12, 1 / 6, 1 / 12], [1 / 6, 0.0, 1 / 6], [1 / 12, 1 / 6, 1 / 12]], np.float64)

Classifier = Callable[[np.ndarray], np.ndarray]  # [N, 1, H, W] float32 in [0, 1] -> probabilities [N, L]


@dataclass(frozen=True)
class Faithfulness:
    """The deletion test of one label's map on one image."""

    label: str
    fractions: tuple[float, ...]
    original: float  # the probability before anything is removed
    map_curve: tuple[float, ...]  # the probability after removing the map's top fraction, per fraction
    random_curve: tuple[float, ...]  # ... after removing as many random pixels (mean over the draws)
    score: float  # in [-1, 1]; positive = the map points at pixels the model uses

    def summary(self, fraction: float = SUMMARY_FRACTION) -> str:
        """One line: 'top 20% of the map removed: probability 0.71 -> 0.32; random 20%: 0.69;
        faithfulness +0.41' (at ``fraction``, or the nearest fraction measured)."""
        at = int(np.argmin([abs(f - fraction) for f in self.fractions]))
        percent = f"{self.fractions[at] * 100:.0f}%"
        return (f"top {percent} of the map removed: probability {self.original:.2f} -> "
                f"{self.map_curve[at]:.2f}; random {percent}: {self.random_curve[at]:.2f}; "
                f"faithfulness {self.score:+.2f}")


# -- removing pixels ----------------------------------------------------------------------------------
def _neighbour_sum(values: np.ndarray) -> np.ndarray:
    """Sum of the 8 neighbours with ROAD's weights; pixels outside the image count as 0."""
    out: np.ndarray = cv2.filter2D(values, cv2.CV_64F, NEIGHBOURS, borderType=cv2.BORDER_CONSTANT)
    return out


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    # not np.dot/np.linalg.norm: their BLAS call cost ~10 ms per 224 x 224 array here (threads
    # competing for 2 cores), einsum a few microseconds
    return float(np.einsum("ij,ij->", a, b))


def _norm(values: np.ndarray) -> float:
    return float(np.sqrt(_dot(values, values)))


def _first_guess(image: np.ndarray, known: np.ndarray, tolerance: float) -> np.ndarray:
    """A first guess for the removed pixels: the same fill solved at half the resolution and
    upsampled (cascadic multigrid), so the solver starts near the smooth solution and only has
    the fine detail left to do; below 16 pixels, the mean of the known pixels."""
    height, width = image.shape
    if min(height, width) < 16:
        return np.where(known, image, float(image[known].mean()))
    weight = known.astype(np.float64)
    size = ((width + 1) // 2, (height + 1) // 2)
    small_total = cv2.resize(image * weight, size, interpolation=cv2.INTER_AREA)
    small_weight = cv2.resize(weight, size, interpolation=cv2.INTER_AREA)
    small_known = small_weight > 0  # a coarse pixel is known when any of its fine pixels is
    small = np.where(small_known, small_total / np.maximum(small_weight, 1e-12), 0.0)
    coarse = linear_imputation(small, ~small_known, tolerance=tolerance) if not small_known.all() else small
    up = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_LINEAR)
    return np.where(known, image, up)


def linear_imputation(image: np.ndarray, removed: np.ndarray, *, tolerance: float = TOLERANCE,
                      max_iterations: int = 2000) -> np.ndarray:
    """ROAD's linear imputation without noise: ``image`` [H, W] with the ``removed`` pixels
    replaced by the solution of "each removed pixel is the weighted mean of its neighbours"
    (module doc). float64 [H, W]; the known pixels are unchanged."""
    values = np.asarray(image, np.float64)
    removed = np.asarray(removed, bool)
    if values.ndim != 2 or removed.shape != values.shape:
        raise ValueError(f"image {values.shape} and mask {removed.shape} must be the same 2-D shape")
    if not removed.any():
        return values.copy()
    if removed.all():
        raise ValueError("cannot impute an image with every pixel removed")
    known = ~removed
    inside = removed.astype(np.float64)
    degree = _neighbour_sum(np.ones_like(values))  # the weights of the neighbours inside the image
    inverse = 1.0 / degree
    rhs = _neighbour_sum(values * (1.0 - inside))
    rhs *= inside

    def apply(u: np.ndarray) -> np.ndarray:  # the system's matrix on the removed pixels (u = 0 elsewhere)
        out = _neighbour_sum(u)
        np.subtract(degree * u, out, out=out)
        out *= inside
        return out

    # preconditioned conjugate gradients (the matrix is symmetric positive definite: every region
    # of removed pixels touches a known one), Jacobi preconditioner
    u = _first_guess(values, known, tolerance) * inside
    r = rhs - apply(u)
    z = r * inverse
    p = z.copy()
    rz = _dot(r, z)
    limit = tolerance * _norm(rhs) or tolerance
    for _iteration in range(max_iterations):
        if _norm(r) <= limit:
            break
        ap = apply(p)
        alpha = rz / _dot(p, ap)
        u += alpha * p
        r -= alpha * ap
        np.multiply(r, inverse, out=z)
        rz_next = _dot(r, z)
        p *= rz_next / rz
        p += z
        rz = rz_next
    return np.where(removed, u, values)


def road_impute(image: np.ndarray, removed: np.ndarray, rng: np.random.Generator, noise: float = NOISE) -> np.ndarray:
    """ROAD's noisy linear imputation of the ``removed`` pixels of a prepared image, clipped to
    [0, 1]: float32 [H, W]."""
    filled = linear_imputation(image, removed)
    filled[removed] += noise * rng.standard_normal(int(removed.sum()))
    out: np.ndarray = np.clip(filled, 0.0, 1.0).astype(np.float32)
    return out


def _ranked_masks(values: np.ndarray, fractions: Sequence[float], rng: np.random.Generator) -> list[np.ndarray]:
    """The nested masks of every fraction from one ranking of ``values``."""
    tiebreak = rng.random(values.size)
    order = np.lexsort((tiebreak, -np.asarray(values, np.float64).ravel()))
    masks = []
    for fraction in fractions:
        if not 0.0 < fraction < 1.0:
            raise ValueError(f"a fraction of pixels to remove must be between 0 and 1, got {fraction}")
        mask = np.zeros(values.size, bool)
        mask[order[: int(round(fraction * values.size))]] = True
        masks.append(mask.reshape(values.shape))
    return masks


# -- the score -----------------------------------------------------------------------------------------
def curve_score(original: float, map_curve: Sequence[float], random_curve: Sequence[float],
                fractions: Sequence[float]) -> float:
    """The area between the random and the map curves (both starting at ``original`` at 0) over
    [0, max fraction], divided by max fraction and by ``original``, clipped to [-1, 1]."""
    x = np.concatenate([[0.0], np.asarray(fractions, np.float64)])
    gap = np.concatenate([[0.0], np.asarray(random_curve, np.float64) - np.asarray(map_curve, np.float64)])
    area = float(np.sum((gap[1:] + gap[:-1]) * np.diff(x)) / 2.0)
    return float(np.clip(area / (x[-1] * max(original, 1e-6)), -1.0, 1.0))


def _classify(classify: Classifier, images: list[np.ndarray], batch: int | None) -> np.ndarray:
    size = min(batch or MAX_BATCH, MAX_BATCH)
    out = []
    for start in range(0, len(images), size):
        chunk = np.ascontiguousarray(np.stack(images[start:start + size])[:, None], np.float32)
        out.append(np.asarray(classify(chunk), np.float64))
    return np.concatenate(out)


def faithfulness_of_image(
    image: np.ndarray,
    heatmaps: dict[int, np.ndarray],
    labels: Sequence[str],
    classify: Classifier,
    *,
    fractions: Sequence[float] = FRACTIONS,
    draws: int = RANDOM_DRAWS,
    seed: int = 0,
    batch: int | None = None,
    noise: float = NOISE,
) -> dict[int, Faithfulness]:
    """The deletion test of several labels' maps on one prepared image [H, W].

    ``heatmaps`` maps a label's index (a column of the classifier's output) to its raw map
    [h, w]; ``labels`` names the columns. The random removals do not depend on the label, so
    they are made once and serve every label. ``batch``: the most images the classifier takes
    per call (1 for a model with a fixed batch of one; None: up to ``MAX_BATCH``). Every random
    choice comes from ``seed`` and the label's index, so one label's result is the same whether
    it is tested alone or with others.
    """
    prepared = np.asarray(image, np.float32)
    if prepared.ndim != 2:
        raise ValueError(f"a prepared image must be 2-D [H, W], got {prepared.shape}")
    if not heatmaps:
        return {}
    if draws < 1:
        raise ValueError(f"draws must be at least 1, got {draws}")
    fractions = tuple(float(f) for f in fractions)
    height, width = prepared.shape
    grid = next(iter(heatmaps.values())).shape
    images = [prepared]
    random_rng = np.random.default_rng([seed, 0])
    for _ in range(draws):
        shuffled = upsample(random_rng.random(grid), height, width)
        images += [road_impute(prepared, m, random_rng, noise) for m in _ranked_masks(shuffled, fractions, random_rng)]
    order = sorted(heatmaps)
    for index in order:
        rng = np.random.default_rng([seed, 1, index])
        shown = upsample(heatmaps[index], height, width)
        images += [road_impute(prepared, m, rng, noise) for m in _ranked_masks(shown, fractions, rng)]
    probabilities = _classify(classify, images, batch)
    n = len(fractions)
    random_part = probabilities[1:1 + draws * n].reshape(draws, n, -1).mean(axis=0)  # [fractions, L]
    results = {}
    for k, index in enumerate(order):
        start = 1 + draws * n + k * n
        original = float(probabilities[0, index])
        map_curve = tuple(float(p) for p in probabilities[start:start + n, index])
        random_curve = tuple(float(p) for p in random_part[:, index])
        results[index] = Faithfulness(labels[index], fractions, original, map_curve, random_curve,
                                      curve_score(original, map_curve, random_curve, fractions))
    return results


def map_faithfulness(image: np.ndarray, heatmap: np.ndarray, label_index: int, labels: Sequence[str],
                     classify: Classifier, *, fractions: Sequence[float] = FRACTIONS, draws: int = RANDOM_DRAWS,
                     seed: int = 0, batch: int | None = None, noise: float = NOISE) -> Faithfulness:
    """The deletion test of one label's map [h, w] on one prepared image [H, W] (module doc)."""
    return faithfulness_of_image(image, {label_index: heatmap}, labels, classify, fractions=fractions, draws=draws,
                                 seed=seed, batch=batch, noise=noise)[label_index]
