"""How mouse presses, moves and releases build a shape: one rule for every tool.

A shape's points are placed in order. A press places the next point. Releasing after a drag
(farther than ``slop`` from the press) places the point after it at the release; releasing
where it was pressed (a click) does not, and the next press places it. The last point follows
the pointer while the button is down and is placed where it is released. So:

* distance, arrow (tip first), ellipse, rectangle: one drag, or two clicks;
* angle: a drag from one arm's end to the vertex, then a click at the other arm's end
  (or three clicks);
* Cobb angle: two drags, one along each endplate (or four clicks);
* cardiothoracic ratio: two drags, the heart's widest diameter then the thorax's; each
  diameter is kept horizontal (its second end takes the first's height);
* text: one click, with the words given to the draft (the canvas asks for them first).

Between presses the shape's remaining points follow the pointer, so ``shape`` is always what
to paint. ``complete`` says the shape is finished; the canvas then adds ``shape`` to the image's
``EditHistory`` and starts a new draft.
"""

from __future__ import annotations

import math

from .shapes import SHAPE_TYPES, CardiothoracicRatio, Point, Shape, Text

HINTS = {
    "distance": ("drag from one end to the other",),
    "arrow": ("drag from the tip to the tail",),
    "ellipse": ("drag across the region",),
    "rect": ("drag across the region",),
    "angle": ("drag from an arm's end to the vertex", "drag from an arm's end to the vertex",
              "click the other arm's end"),
    "cobb": ("drag along the first endplate", "drag along the first endplate",
             "drag along the second endplate", "drag along the second endplate"),
    "ctr": ("drag across the heart at its widest", "drag across the heart at its widest",
            "drag across the thorax at its widest", "drag across the thorax at its widest"),
    "text": ("click where the words go",),
}


class ShapeDraft:
    """A shape of ``kind`` being drawn (see the module's rule). ``slop`` is the click tolerance
    in image units; ``text`` the words of a text annotation (required for one)."""

    def __init__(self, kind: str, *, slop: float = 0.0, text: str = "") -> None:
        if kind not in SHAPE_TYPES:
            raise ValueError(f"unknown shape kind {kind[:40]!r} (known: {', '.join(SHAPE_TYPES)})")
        self.kind = kind
        self.slop = slop
        self.text = text
        self._type = SHAPE_TYPES[kind]
        if self._type is Text:
            Text(((0.0, 0.0),), text)  # the words are checked now, not at the click
        self._placed: list[Point] = []
        self._pressed_at: Point | None = None
        self._pointer: Point | None = None
        self.complete = False

    @property
    def placed(self) -> int:
        """How many points are placed."""
        return len(self._placed)

    @property
    def pressed(self) -> bool:
        """Whether the button is down on this draft."""
        return self._pressed_at is not None

    @property
    def hint(self) -> str:
        """What the user does next, for the status bar ('' once complete)."""
        if self.complete:
            return ""
        steps = HINTS[self.kind]
        return steps[min(len(self._placed), len(steps) - 1)]

    def press(self, point: Point) -> None:
        """The button went down at ``point``: the next point is placed there."""
        if self.complete or self.pressed:
            return
        self._placed.append(self._constrained(len(self._placed), point))
        self._pressed_at = self._pointer = point

    def move(self, point: Point) -> None:
        """The pointer moved to ``point`` (button down or up)."""
        if not self.complete:
            self._pointer = point

    def release(self, point: Point) -> None:
        """The button came up at ``point``: after a drag, the next point is placed there."""
        if self.complete or self._pressed_at is None:
            return
        pressed_at, self._pressed_at = self._pressed_at, None
        self._pointer = point
        if len(self._placed) == self._type.COUNT:  # the last point was dragged: it goes here
            self._placed[-1] = self._constrained(len(self._placed) - 1, point)
        elif math.hypot(point[0] - pressed_at[0], point[1] - pressed_at[1]) > self.slop:
            self._placed.append(self._constrained(len(self._placed), point))
        self.complete = len(self._placed) == self._type.COUNT

    @property
    def shape(self) -> Shape | None:
        """The shape as it would be now (the final one once ``complete``); None before a press."""
        if not self._placed:
            return None
        points = list(self._placed)
        pointer = self._pointer if self._pointer is not None else points[-1]
        if self.pressed and len(points) == self._type.COUNT and not self.complete:
            points[-1] = self._constrained(len(points) - 1, pointer)
        while len(points) < self._type.COUNT:
            points.append(self._constrained(len(points), pointer, points))
        if self._type is Text:
            return Text(tuple(points), self.text)
        return self._type(tuple(points))

    def _constrained(self, index: int, point: Point, points: list[Point] | None = None) -> Point:
        """``point`` as point ``index`` may be: a CTR diameter's second end at its first's height."""
        placed = self._placed if points is None else points
        if self._type is CardiothoracicRatio and index % 2 == 1 and len(placed) >= index:
            return point[0], placed[index - 1][1]
        return point
