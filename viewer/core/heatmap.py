"""THE heatmap-to-box function, shared by the viewer's agreement display and the trainer.

A Grad-CAM map at feature resolution (e.g. 7x7) becomes boxes the way Wang et al. 2017
(ChestX-ray8, CVPR, section 4.3, "disease localization") made theirs: the map, upsampled to the
image, is normalised to [0, 255] by its own minimum and maximum, thresholded at 60 and at 180
(``WANG_THRESHOLDS``: a loose and a tight region), and each connected region above the threshold
becomes one bounding box. A box is compared with a ground-truth box by IoBB, the intersection
over the area of the DETECTED box (Wang's measure), and by IoU; the pointing game asks whether
the map's maximum falls inside the ground-truth box.

Choices the paper leaves open, fixed here so viewer and trainer agree:

* order: ``upsample`` (bilinear, to the size of the image the box refers to) ->
  ``normalize_to_uint8`` -> threshold; a pixel is in a region when its value is ``>=`` the
  threshold;
* regions are 8-connected;
* coordinates are continuous pixel units with (0, 0) the image's top-left corner: a region
  covering pixel columns 3..5 is the box x=3, w=3. Ground-truth boxes from ``boxes.py`` use the
  same convention after scaling.
* a flat map (no maximum, e.g. all zero after ReLU) has no regions and no pointing hit.

The window's overlay (``viewer/ui/overlay.py``) draws the same normalised map, but upsampled to a
display grid of at most 512 pixels, coloured with an alpha ramp that leaves the lower values
transparent, and scaled onto the image by the painter: it shows where the map is high, not the
thresholded regions compared here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np

WANG_THRESHOLDS: tuple[int, ...] = (60, 180)


class Box(NamedTuple):
    """An axis-aligned box in pixel units: left, top, width, height."""

    x: float
    y: float
    w: float
    h: float

    @property
    def area(self) -> float:
        return max(self.w, 0.0) * max(self.h, 0.0)


BoxLike = Box | Sequence[float]


def upsample(heatmap: np.ndarray, height: int, width: int) -> np.ndarray:
    """A map [h, w] resized bilinearly to [height, width] float32 (the overlay's display grid, or
    the image's own size for ``agreement``).

    OpenCV's INTER_LINEAR with half-pixel centres (the same as torch's ``align_corners=False``).
    """
    values = np.asarray(heatmap, dtype=np.float32)
    if values.ndim != 2:
        raise ValueError(f"a heatmap must be 2-D [h, w], got shape {values.shape}")
    if height < 1 or width < 1:
        raise ValueError(f"cannot upsample to {height}x{width}")
    if values.shape == (height, width):
        return values.copy()
    return cv2.resize(values, (int(width), int(height)), interpolation=cv2.INTER_LINEAR)


def normalize_to_uint8(heatmap: np.ndarray) -> np.ndarray:
    """Min-max normalise a map to uint8 [0, 255] (Wang et al. 2017). A flat map gives all 0."""
    values = np.asarray(heatmap, dtype=np.float64)
    if not np.isfinite(values).all():
        raise ValueError("the heatmap has non-finite values (NaN or infinity)")
    if values.size == 0:
        return np.zeros(values.shape, np.uint8)
    low, high = float(values.min()), float(values.max())
    if not high > low:  # nothing stands out: no region may be drawn
        return np.zeros(values.shape, np.uint8)
    scaled = (values - low) * (255.0 / (high - low))
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def heatmap_boxes(map_uint8: np.ndarray, threshold: int) -> list[Box]:
    """Bounding boxes of the 8-connected regions where ``map_uint8 >= threshold``.

    Largest region first. ``threshold`` in 1..255 (Wang et al. used 60 and 180).
    """
    values = np.asarray(map_uint8)
    if values.dtype != np.uint8 or values.ndim != 2:
        raise ValueError(
            f"heatmap_boxes needs a 2-D uint8 map from normalize_to_uint8, got {values.dtype} {values.shape}"
        )
    if not 1 <= threshold <= 255:
        raise ValueError(f"threshold must be between 1 and 255, got {threshold}")
    mask = (values >= threshold).astype(np.uint8)
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    # row 0 is the background; each stat row is left, top, width, height, area
    regions = sorted(stats[1:count].tolist(), key=lambda s: (-s[4], s[1], s[0]))
    return [Box(float(x), float(y), float(w), float(h)) for x, y, w, h, _ in regions]


def _intersection(a: BoxLike, b: BoxLike) -> float:
    ax, ay, aw, ah = (float(v) for v in a)
    bx, by, bw, bh = (float(v) for v in b)
    width = min(ax + aw, bx + bw) - max(ax, bx)
    height = min(ay + ah, by + bh) - max(ay, by)
    return max(width, 0.0) * max(height, 0.0)


def _area(box: BoxLike) -> float:
    return max(float(box[2]), 0.0) * max(float(box[3]), 0.0)


def iobb(box_pred: BoxLike, box_gt: BoxLike) -> float:
    """Intersection over the DETECTED box's area (Wang et al. 2017's IoBB); 0 for an empty box."""
    area = _area(box_pred)
    # min(): rounding in x + w - x can make a tiny box's intersection exceed its own area
    return min(_intersection(box_pred, box_gt) / area, 1.0) if area > 0 else 0.0


def iou(a: BoxLike, b: BoxLike) -> float:
    """Intersection over union of two boxes; 0 when both are empty."""
    area_a, area_b = _area(a), _area(b)
    inter = min(_intersection(a, b), area_a, area_b)
    union = area_a + area_b - inter
    return inter / union if union > 0 else 0.0


def peak(heatmap: np.ndarray) -> tuple[float, float] | None:
    """Centre (x, y) of the map's maximum pixel (the first in row order), or None for a flat map."""
    values = np.asarray(heatmap)
    if values.size == 0 or not values.max() > values.min():
        return None
    row, col = np.unravel_index(int(np.argmax(values)), values.shape)
    return float(col) + 0.5, float(row) + 0.5


def pointing_hit(heatmap: np.ndarray, box: BoxLike) -> bool:
    """Pointing game: is the map's maximum inside ``box``? Map and box in the same pixel frame.

    A flat map points nowhere (False).
    """
    location = peak(heatmap)
    if location is None:
        return False
    x, y = location
    bx, by, bw, bh = (float(v) for v in box)
    return bx <= x <= bx + bw and by <= y <= by + bh


@dataclass(frozen=True)
class Agreement:
    """How one finding's heatmap agrees with one ground-truth box, in image pixel coordinates.

    ``boxes``/``iobb``/``iou`` are keyed by the [0, 255] threshold; ``iobb``/``iou`` are the best
    over that threshold's boxes (0 when there is none). ``peak`` is None for a flat map.
    """

    box: Box
    peak: tuple[float, float] | None
    pointing_hit: bool
    boxes: Mapping[int, tuple[Box, ...]]
    iobb: Mapping[int, float]
    iou: Mapping[int, float]

    def localized(self, t_iobb: float = 0.5, threshold: int | None = None) -> bool:
        """Wang's criterion: some detected box has IoBB above ``t_iobb`` (at ``threshold``, or any)."""
        keys = self.iobb if threshold is None else (threshold,)
        return any(self.iobb[k] > t_iobb for k in keys)


def agreement(
    heatmap: np.ndarray,
    box: BoxLike,
    image_size: tuple[int, int],
    thresholds: Sequence[int] = WANG_THRESHOLDS,
) -> Agreement:
    """Compare a raw Grad-CAM map [h, w] with a ground-truth box given in image pixels.

    ``image_size`` is (height, width) of the image the box refers to (numpy order, as in
    ``upsample``). The map is upsampled to it, normalised and thresholded as the module says.
    """
    height, width = (int(v) for v in image_size)
    shown = upsample(heatmap, height, width)
    normalised = normalize_to_uint8(shown)
    gt = Box(*(float(v) for v in box))
    found = {t: tuple(heatmap_boxes(normalised, t)) for t in thresholds}
    return Agreement(
        box=gt,
        peak=peak(shown),
        pointing_hit=pointing_hit(shown, gt),
        boxes=found,
        iobb={t: max((iobb(b, gt) for b in found[t]), default=0.0) for t in thresholds},
        iou={t: max((iou(b, gt) for b in found[t]), default=0.0) for t in thresholds},
    )
