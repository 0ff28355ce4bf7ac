"""Which shape or handle a click picks, in image coordinates.

The canvas converts its screen tolerance (a few pixels) to image units at the current zoom and
asks here. A shape is picked by its outline (the lines drawn); a click inside a region picks it
too, but after any outline within reach, so a ruler drawn over a large ROI stays pickable. On a
tie the shape drawn last (on top) wins, as the eye expects.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from .measurement import distance_to_segment
from .shapes import Angle, EllipseRoi, Point, RectRoi, Shape, Text

ELLIPSE_SEGMENTS = 96  # the outline's polygon: within 0.06 % of the radius of the true ellipse


@dataclass(frozen=True)
class Handle:
    """Point ``point`` of shape ``shape`` (indices into the list and the shape's points)."""

    shape: int
    point: int


def outline(shape: Shape) -> list[list[Point]]:
    """The polylines the canvas draws for ``shape`` (a region's closed: last point = first)."""
    p = shape.points
    if isinstance(shape, Angle):
        return [[p[0], p[1], p[2]]]
    if isinstance(shape, Text):
        return [[p[0]]]
    if isinstance(shape, RectRoi):
        (x0, y0), (x1, y1) = p
        return [[(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]]
    if isinstance(shape, EllipseRoi):
        (x0, y0), (x1, y1) = p
        cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, abs(x1 - x0) / 2, abs(y1 - y0) / 2
        steps = [2 * math.pi * i / ELLIPSE_SEGMENTS for i in range(ELLIPSE_SEGMENTS + 1)]
        return [[(cx + rx * math.cos(t), cy + ry * math.sin(t)) for t in steps]]
    return [[p[i], p[i + 1]] for i in range(0, len(p) - 1, 2)]  # a ruler, an arrow, two lines


def distance_to(shape: Shape, point: Point) -> float:
    """How far ``point`` is from what is drawn of ``shape``."""
    best = math.inf
    for line in outline(shape):
        if len(line) == 1:
            best = min(best, math.hypot(point[0] - line[0][0], point[1] - line[0][1]))
        for a, b in zip(line, line[1:]):
            best = min(best, distance_to_segment(point, a, b))
    return best


def inside(shape: Shape, point: Point) -> bool:
    """Whether ``point`` is inside a region (False for shapes that enclose nothing)."""
    if not isinstance(shape, (RectRoi, EllipseRoi)):
        return False
    (x0, y0), (x1, y1) = shape.points
    cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, abs(x1 - x0) / 2, abs(y1 - y0) / 2
    if rx == 0 or ry == 0:
        return False
    dx, dy = (point[0] - cx) / rx, (point[1] - cy) / ry
    if isinstance(shape, RectRoi):
        return abs(dx) <= 1 and abs(dy) <= 1
    return dx * dx + dy * dy <= 1


def nearest_shape(shapes: Sequence[Shape], point: Point, tolerance: float) -> int | None:
    """The index of the shape whose outline is nearest ``point`` within ``tolerance`` (image
    units), else of the topmost region containing it, else None."""
    best, best_distance = None, tolerance
    for i, shape in enumerate(shapes):
        d = distance_to(shape, point)
        if d <= best_distance:
            best, best_distance = i, d
    if best is not None:
        return best
    return next((i for i in reversed(range(len(shapes))) if inside(shapes[i], point)), None)


def nearest_handle(shapes: Sequence[Shape], point: Point, tolerance: float,
                   only: int | None = None) -> Handle | None:
    """The shape point (handle) nearest ``point`` within ``tolerance``; with ``only``, among that
    shape's points alone (the selected one's handles)."""
    best, best_distance = None, tolerance
    for i, shape in enumerate(shapes):
        if only is not None and i != only:
            continue
        for j, (x, y) in enumerate(shape.points):
            d = math.hypot(point[0] - x, point[1] - y)
            if d <= best_distance:
                best, best_distance = Handle(i, j), d
    return best
