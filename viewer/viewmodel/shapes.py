"""The measurement and annotation shapes a reader draws, as values the canvas paints and the store keeps.

Each shape is a frozen dataclass of image points (pixel coordinates, x right, y down): a canvas
edits one by making a new one (``with_point`` for a handle, ``moved`` for the whole), the edit
history keeps the old ones, and ``to_dict``/``shape_from_dict`` are what the annotation store
holds, checked on the way in (a hand-edited or damaged store costs a shape, not the viewer).
What a shape measures depends on the image, so ``label`` takes a ``MeasureContext``: the
spacing (with where it came from) and, for regions, the frame's pixel values.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Self

import numpy as np

from viewer.core.measure_spacing import MeasureSpacing

from .roi_stats import RegionKind, region_area, region_stats

Point = tuple[float, float]
MAX_COORDINATE = 1e6  # image pixels: no radiograph is a million pixels across
MAX_TEXT_CHARS = 500
NO_VALUE = "\N{EN DASH}"


@dataclass(frozen=True)
class MeasureContext:
    """What labels are measured with: ``spacing`` (None: in pixels) and the frame's
    ``pixels`` in modality units (None: regions give their area only)."""

    spacing: MeasureSpacing | None = None
    pixels: np.ndarray | None = field(default=None, repr=False, compare=False)

    def scaled(self, p: Point) -> Point:
        """``p`` in mm from the origin with a spacing, else in pixels."""
        if self.spacing is None:
            return p
        return p[0] * self.spacing.col_mm, p[1] * self.spacing.row_mm

    def length_text(self, a: Point, b: Point) -> str:
        """The length of ``a``-``b``: '42.3 mm', or '42.3 px' without a spacing."""
        (ax, ay), (bx, by) = self.scaled(a), self.scaled(b)
        return f"{math.hypot(bx - ax, by - ay):.1f} {'mm' if self.spacing else 'px'}"

    @property
    def units_note(self) -> str:
        """Where lengths come from, for a status line: 'mm from PixelSpacing'."""
        if self.spacing is None:
            return "lengths in pixels: no usable pixel spacing (calibrate on a known length)"
        return f"mm from {self.spacing.source}"


@dataclass(frozen=True)
class Shape:
    """The base of every shape: ``COUNT`` points, each a finite (x, y) pair."""

    points: tuple[Point, ...]
    KIND: ClassVar[str] = ""
    COUNT: ClassVar[int] = 0

    def __post_init__(self) -> None:
        points = _points(self.points)
        if len(points) != self.COUNT:
            raise ValueError(f"{_a(self.KIND)} has {self.COUNT} point{'s' * (self.COUNT > 1)} (got {len(points)})")
        object.__setattr__(self, "points", points)

    @property
    def kind(self) -> str:
        """The shape's name in the store and the tool list ('distance', 'cobb', ...)."""
        return self.KIND

    def with_point(self, index: int, point: Point) -> Self:
        """This shape with point ``index`` (a handle) at ``point``."""
        if not 0 <= index < self.COUNT:
            raise IndexError(f"{_a(self.KIND)} has no point {index}")
        return replace(self, points=self.points[:index] + (point,) + self.points[index + 1:])

    def moved(self, dx: float, dy: float) -> Self:
        """This shape moved by (``dx``, ``dy``) image pixels."""
        return replace(self, points=tuple((x + dx, y + dy) for x, y in self.points))

    def label(self, context: MeasureContext) -> str:
        """What the canvas writes beside the shape (lines separated by newlines; '' for none)."""
        return ""

    def to_dict(self) -> dict[str, Any]:
        """The shape as JSON-able data, as ``shape_from_dict`` reads it."""
        return {"kind": self.KIND, "points": [[x, y] for x, y in self.points]}


@dataclass(frozen=True)
class Distance(Shape):
    """A ruler from ``points[0]`` to ``points[1]``."""

    KIND = "distance"
    COUNT = 2

    def label(self, context: MeasureContext) -> str:
        return context.length_text(*self.points)


@dataclass(frozen=True)
class Angle(Shape):
    """The angle at ``points[1]`` (the vertex) between the arms to ``points[0]`` and ``points[2]``."""

    KIND = "angle"
    COUNT = 3

    def degrees(self, context: MeasureContext) -> float | None:
        """The angle, 0 to 180 degrees, in the patient's geometry (with the spacing); None for an
        arm of no length."""
        a, vertex, c = (context.scaled(p) for p in self.points)
        return _angle_between((a[0] - vertex[0], a[1] - vertex[1]), (c[0] - vertex[0], c[1] - vertex[1]))

    def label(self, context: MeasureContext) -> str:
        return _degrees_text(self.degrees(context))


@dataclass(frozen=True)
class CobbAngle(Shape):
    """The Cobb angle between the line ``points[0]``-``points[1]`` and ``points[2]``-``points[3]``:
    the acute angle between the lines, 0 to 90 degrees, whichever way each was drawn."""

    KIND = "cobb"
    COUNT = 4

    def degrees(self, context: MeasureContext) -> float | None:
        """The angle between the lines; None when one has no length."""
        a, b, c, d = (context.scaled(p) for p in self.points)
        angle = _angle_between((b[0] - a[0], b[1] - a[1]), (d[0] - c[0], d[1] - c[1]))
        return None if angle is None else min(angle, 180.0 - angle)

    def label(self, context: MeasureContext) -> str:
        return f"Cobb {_degrees_text(self.degrees(context))}"


@dataclass(frozen=True)
class CardiothoracicRatio(Shape):
    """The heart's widest horizontal diameter (``points[0]``-``points[1]``) over the thorax's
    (``points[2]``-``points[3]``). Each diameter stays horizontal: moving one end moves the
    other's height with it. Widths are horizontal extents, so the spacing cancels."""

    KIND = "ctr"
    COUNT = 4

    def with_point(self, index: int, point: Point) -> Self:
        points = list(super().with_point(index, point).points)
        partner = index ^ 1  # 0 <-> 1, 2 <-> 3
        points[partner] = (points[partner][0], points[index][1])
        return replace(self, points=tuple(points))

    def ratio(self) -> float | None:
        """Cardiac width / thoracic width; None without a thoracic width."""
        cardiac = abs(self.points[1][0] - self.points[0][0])
        thoracic = abs(self.points[3][0] - self.points[2][0])
        return cardiac / thoracic if thoracic > 0 else None

    def label(self, context: MeasureContext) -> str:
        ratio = self.ratio()
        return f"CTR {NO_VALUE if ratio is None else f'{ratio:.2f}'}"


@dataclass(frozen=True)
class _Region(Shape):
    """A region given by two opposite corners of its bounding box."""

    COUNT = 2
    REGION: ClassVar[RegionKind] = "rect"

    def area(self, context: MeasureContext) -> float:
        """The shape's area: mm² with a spacing, else square pixels."""
        spacing = context.spacing.pair if context.spacing else None
        return region_area(self.REGION, self.points[0], self.points[1], spacing)

    def label(self, context: MeasureContext) -> str:
        lines = []
        if context.pixels is not None:
            stats = region_stats(context.pixels, self.REGION, self.points[0], self.points[1])
            if stats.count:
                lines += [f"mean {stats.mean:.1f}  SD {stats.sd:.1f}", f"min {stats.minimum:g}  max {stats.maximum:g}"]
            else:
                lines.append("no pixel inside")
        lines.append(f"area {self.area(context):.1f} {'mm²' if context.spacing else 'px²'}")
        return "\n".join(lines)


@dataclass(frozen=True)
class EllipseRoi(_Region):
    """The ellipse inscribed in the box with corners ``points[0]`` and ``points[1]``."""

    KIND = "ellipse"
    REGION = "ellipse"


@dataclass(frozen=True)
class RectRoi(_Region):
    """The rectangle with corners ``points[0]`` and ``points[1]``."""

    KIND = "rect"
    REGION = "rect"


@dataclass(frozen=True)
class Arrow(Shape):
    """An arrow pointing at ``points[0]`` from ``points[1]``."""

    KIND = "arrow"
    COUNT = 2


@dataclass(frozen=True)
class Text(Shape):
    """Words (1 to ``MAX_TEXT_CHARS`` characters) written at ``points[0]``."""

    text: str = ""
    KIND = "text"
    COUNT = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.text, str) or not self.text.strip() or len(self.text) > MAX_TEXT_CHARS:
            raise ValueError(f"a text annotation has 1 to {MAX_TEXT_CHARS} characters, not only spaces")
        if any(ord(c) < 32 and c not in "\n\t" for c in self.text):
            raise ValueError("a text annotation's text has no control characters but line breaks and tabs")

    def label(self, context: MeasureContext) -> str:
        return self.text

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "text": self.text}


SHAPE_TYPES: dict[str, type[Shape]] = {
    cls.KIND: cls for cls in (Distance, Angle, CobbAngle, CardiothoracicRatio, EllipseRoi, RectRoi, Arrow, Text)
}


def shape_from_dict(data: Mapping[str, Any]) -> Shape:
    """The shape ``data`` describes (``Shape.to_dict``'s form). Raises ValueError saying what is
    wrong for anything else: an unknown kind or key, a wrong number of points, a coordinate
    that is not a finite number within a million pixels, a text too long."""
    if not isinstance(data, Mapping):
        raise ValueError(f"a shape is a JSON object (got {type(data).__name__})")
    kind = data.get("kind")
    cls = SHAPE_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ValueError(f"unknown shape kind {str(kind)[:40]!r} (known: {', '.join(SHAPE_TYPES)})")
    allowed = {"kind", "points"} | ({"text"} if cls is Text else set())
    unknown = sorted(str(k)[:40] for k in data if k not in allowed)
    if unknown:
        raise ValueError(f"{_a(cls.KIND)} has no {', '.join(unknown)}")
    if "points" not in data:
        raise ValueError(f"{_a(cls.KIND)} needs its points")
    if cls is Text:
        return Text(data["points"], data.get("text", ""))
    return cls(data["points"])


def shapes_from_dicts(items: Iterable[Mapping[str, Any]]) -> tuple[list[Shape], list[str]]:
    """The shapes of a stored list, and one line for each item that is not a shape (left out)."""
    shapes, problems = [], []
    for i, item in enumerate(items):
        try:
            shapes.append(shape_from_dict(item))
        except ValueError as exc:
            problems.append(f"stored shape {i + 1} was left out: {exc}")
    return shapes, problems


def _points(value: Any) -> tuple[Point, ...]:
    """``value`` as a tuple of (x, y) float pairs; ValueError when it is not one."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) > 16:
        raise ValueError("points are a short list of [x, y] pairs")
    points = []
    for item in value:
        if isinstance(item, (str, bytes)) or not isinstance(item, Sequence) or len(item) != 2:
            raise ValueError("each point is an [x, y] pair")
        if any(isinstance(c, bool) or not isinstance(c, (int, float)) for c in item):
            raise ValueError("a point's coordinates are numbers")
        x, y = float(item[0]), float(item[1])
        if not (math.isfinite(x) and math.isfinite(y) and abs(x) <= MAX_COORDINATE and abs(y) <= MAX_COORDINATE):
            raise ValueError(f"a point's coordinates are finite and within {MAX_COORDINATE:g} pixels")
        points.append((x, y))
    return tuple(points)


def _a(kind: str) -> str:
    return f"{'an' if kind[:1] in 'aeiou' else 'a'} {kind}"


def _angle_between(u: Point, v: Point) -> float | None:
    """The angle between vectors ``u`` and ``v`` in degrees (0 to 180); None for a zero vector."""
    if math.hypot(*u) == 0 or math.hypot(*v) == 0:
        return None
    return math.degrees(abs(math.atan2(u[0] * v[1] - u[1] * v[0], u[0] * v[0] + u[1] * v[1])))


def _degrees_text(degrees: float | None) -> str:
    return f"{NO_VALUE}°" if degrees is None else f"{degrees:.1f}°"
