"""The rulers and the pixel read-out: distances and values in the image's own units.

An image can hold several rulers. ``MeasurementStore`` keeps them for every image opened in the
session, by the image's path, so they come back with the image. Where a ruler's label goes on
screen is decided here too (``label_origin``): inside the view, at the middle of the part of
the ruler that is visible, never cut off at the edge.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

Point = tuple[float, float]
Size = tuple[float, float]
HIT_TOLERANCE_PX = 6.0  # how near (screen pixels) a click must be to a ruler to pick it


@dataclass(frozen=True)
class CursorInfo:
    """The image pixel under the cursor: position and value in modality units."""

    x: int
    y: int
    value: float


@dataclass(frozen=True)
class Measurement:
    """A ruler between two image points; ``mm`` is None when the pixel spacing is unknown."""

    start: Point
    end: Point
    pixels: float
    mm: float | None

    @property
    def text(self) -> str:
        if self.mm is not None:
            return f"{self.mm:.1f} mm"
        return f"{self.pixels:.1f} px (no pixel spacing: length in pixels)"


def measure(start: Point, end: Point, pixel_spacing: tuple[float, float] | None) -> Measurement:
    """The ruler from ``start`` to ``end`` (image pixels); in mm with a usable spacing
    (row, column mm per pixel, both > 0)."""
    dx, dy = end[0] - start[0], end[1] - start[1]
    mm = None
    if pixel_spacing is not None and pixel_spacing[0] > 0 and pixel_spacing[1] > 0:
        row, col = pixel_spacing
        mm = math.hypot(dx * col, dy * row)
    return Measurement((float(start[0]), float(start[1])), (float(end[0]), float(end[1])), math.hypot(dx, dy), mm)


def pixel_under(point: Point, pixels: np.ndarray) -> CursorInfo | None:
    """The pixel of ``pixels`` [h, w] containing image point ``point``, or None outside."""
    x, y = math.floor(point[0]), math.floor(point[1])
    height, width = pixels.shape[:2]
    if 0 <= x < width and 0 <= y < height:
        return CursorInfo(x, y, float(pixels[y, x]))
    return None


def distance_to_segment(p: Point, a: Point, b: Point) -> float:
    """The distance from ``p`` to the segment ``a``-``b``."""
    ax, ay = a
    dx, dy = b[0] - ax, b[1] - ay
    length2 = dx * dx + dy * dy
    t = 0.0 if length2 == 0 else min(1.0, max(0.0, ((p[0] - ax) * dx + (p[1] - ay) * dy) / length2))
    return math.hypot(p[0] - (ax + t * dx), p[1] - (ay + t * dy))


def nearest(measurements: Sequence[Measurement], point: Point, tolerance: float) -> int | None:
    """The index of the ruler nearest ``point`` (image coordinates) within ``tolerance``, else None."""
    best, best_distance = None, tolerance
    for i, m in enumerate(measurements):
        d = distance_to_segment(point, m.start, m.end)
        if d <= best_distance:
            best, best_distance = i, d
    return best


def visible_part(a: Point, b: Point, viewport: Size) -> tuple[Point, Point] | None:
    """The part of the segment ``a``-``b`` (widget coordinates) inside a viewport of ``viewport``
    = (width, height), or None when none of it is (Liang-Barsky clipping)."""
    t0, t1 = 0.0, 1.0
    dx, dy = b[0] - a[0], b[1] - a[1]
    for p, q in ((-dx, a[0]), (dx, viewport[0] - a[0]), (-dy, a[1]), (dy, viewport[1] - a[1])):
        if p == 0:
            if q < 0:
                return None
            continue
        t = q / p
        if p < 0:
            t0 = max(t0, t)
        else:
            t1 = min(t1, t)
        if t0 > t1:
            return None
    return (a[0] + t0 * dx, a[1] + t0 * dy), (a[0] + t1 * dx, a[1] + t1 * dy)


LABEL_OFFSET = (8.0, -8.0)  # from the ruler's middle to the label's bottom-left corner
LABEL_MARGIN = 2.0


def label_origin(a: Point, b: Point, size: Size, viewport: Size) -> Point | None:
    """Top-left corner of a ruler's label of ``size`` for the ruler ``a``-``b`` (widget
    coordinates): beside the middle of the visible part, moved inside the view when it would
    be cut off; None when no part of the ruler is in view."""
    part = visible_part(a, b, viewport)
    if part is None:
        return None
    (ax, ay), (bx, by) = part
    x = (ax + bx) / 2 + LABEL_OFFSET[0]
    y = (ay + by) / 2 + LABEL_OFFSET[1] - size[1]
    width, height = size
    if x + width > viewport[0] - LABEL_MARGIN:  # no room on the right: put it on the left
        x = (ax + bx) / 2 - LABEL_OFFSET[0] - width
    x = min(max(x, LABEL_MARGIN), max(LABEL_MARGIN, viewport[0] - LABEL_MARGIN - width))
    y = min(max(y, LABEL_MARGIN), max(LABEL_MARGIN, viewport[1] - LABEL_MARGIN - height))
    return x, y


class MeasurementStore:
    """The rulers of each image opened in this session, by a key of the image (its path).

    Kept in memory only: they last while the window is open, not across sessions.
    """

    def __init__(self) -> None:
        self._by_image: dict[str, list[Measurement]] = {}

    def of(self, image: str) -> list[Measurement]:
        """The rulers of ``image``, in the order they were drawn (a copy)."""
        return list(self._by_image.get(image, ()))

    def add(self, image: str, measurement: Measurement) -> int:
        """Add a ruler; returns its index."""
        rulers = self._by_image.setdefault(image, [])
        rulers.append(measurement)
        return len(rulers) - 1

    def replace(self, image: str, index: int, measurement: Measurement) -> None:
        """Change the ruler at ``index`` (while it is being drawn)."""
        self._by_image[image][index] = measurement

    def remove(self, image: str, index: int) -> None:
        rulers = self._by_image.get(image, [])
        if 0 <= index < len(rulers):
            del rulers[index]

    def clear(self, image: str) -> None:
        self._by_image.pop(image, None)
