"""What an ellipse or rectangle region holds: the pixels inside, their statistics, its area.

A pixel is inside when its centre is: pixel (column x, row y) covers image coordinates
[x, x + 1) x [y, y + 1), as ``measurement.pixel_under`` reads it, so its centre is at
(x + 0.5, y + 0.5). The area is the shape's own (width x height, or pi a b), not the count of
pixels, so a small region's area does not jump as it moves by part of a pixel. Only the region's
bounding rows and columns are looked at: the cost is the region's, not the image's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

Point = tuple[float, float]
RegionKind = Literal["ellipse", "rect"]


@dataclass(frozen=True)
class RoiStats:
    """Statistics of the pixel values inside a region (population SD); ``count`` 0: none inside."""

    count: int
    mean: float = math.nan
    sd: float = math.nan
    minimum: float = math.nan
    maximum: float = math.nan


def region_area(kind: RegionKind, a: Point, b: Point, spacing: tuple[float, float] | None) -> float:
    """The area of the region with corners ``a`` and ``b``: mm² with ``spacing`` (row, column
    mm per pixel), else square pixels."""
    width, height = abs(b[0] - a[0]), abs(b[1] - a[1])
    if spacing is not None:
        width, height = width * spacing[1], height * spacing[0]
    return width * height * (math.pi / 4 if kind == "ellipse" else 1.0)


def region_mask(kind: RegionKind, a: Point, b: Point, size: tuple[int, int]) -> tuple[slice, slice, np.ndarray]:
    """The rows and columns around the region in an image of ``size`` = (height, width), and
    the mask of the pixels inside over them. A region of no width or height has none."""
    x0, x1 = sorted((a[0], b[0]))
    y0, y1 = sorted((a[1], b[1]))
    height, width = size
    # the columns whose centres c + 0.5 lie within [x0, x1], inside the image
    first_col, last_col = max(0, math.ceil(x0 - 0.5)), min(width - 1, math.floor(x1 - 0.5))
    first_row, last_row = max(0, math.ceil(y0 - 0.5)), min(height - 1, math.floor(y1 - 0.5))
    rows, cols = slice(first_row, max(first_row, last_row + 1)), slice(first_col, max(first_col, last_col + 1))
    if x1 <= x0 or y1 <= y0 or last_col < first_col or last_row < first_row:
        return rows, cols, np.zeros((rows.stop - rows.start, cols.stop - cols.start), dtype=bool)
    xs = np.arange(cols.start, cols.stop, dtype=np.float64) + 0.5
    ys = np.arange(rows.start, rows.stop, dtype=np.float64) + 0.5
    if kind == "rect":
        return rows, cols, np.ones((ys.size, xs.size), dtype=bool)
    cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2
    inside = ((xs[None, :] - cx) / rx) ** 2 + ((ys[:, None] - cy) / ry) ** 2 <= 1.0
    return rows, cols, inside


def region_stats(pixels: np.ndarray, kind: RegionKind, a: Point, b: Point) -> RoiStats:
    """Mean, SD, minimum and maximum of ``pixels`` [h, w] (modality values) inside the region."""
    rows, cols, mask = region_mask(kind, a, b, (int(pixels.shape[0]), int(pixels.shape[1])))
    values = np.asarray(pixels[rows, cols], dtype=np.float64)[mask]
    if values.size == 0:
        return RoiStats(0)
    return RoiStats(int(values.size), float(values.mean()), float(values.std()), float(values.min()),
                    float(values.max()))
