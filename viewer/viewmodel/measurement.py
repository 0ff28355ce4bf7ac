"""Where a measurement's label goes on screen, how near a click is to a line, and the pixel under
the cursor.

A label goes inside the view (``label_origin``), at the middle of the visible part of the
segment it belongs to, never cut off at the edge. The shapes themselves are ``shapes``'; the
rulers of one image frame, with undo, are an ``edit_history.EditHistory``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

Point = tuple[float, float]
Size = tuple[float, float]
HIT_TOLERANCE_PX = 6.0  # how near (screen pixels) a click must be to a shape to pick it


@dataclass(frozen=True)
class CursorInfo:
    """The image pixel under the cursor: position and value in modality units."""

    x: int
    y: int
    value: float


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
