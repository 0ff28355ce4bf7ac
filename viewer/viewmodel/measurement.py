"""The ruler and the pixel read-out: distances and values in the image's own units."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

Point = tuple[float, float]


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
