"""What the left button does to the measurements and annotations of the image frame on screen.

The canvas turns its mouse events into image points and a click tolerance in image units (a few
screen pixels at the zoom of the moment) and asks here. The rules, in order:

* a shape being drawn (``ShapeDraft``: an angle waits for its third point) takes every press;
* a press on a handle of the selected shape drags that handle (an edit), a press on the selected
  shape drags the whole of it (a move), a press on another shape selects it and drags nothing,
  so a click meant to select never moves anything; a press elsewhere drops the selection;
* elsewhere a drawing tool starts a new shape; a view tool (pan, zoom, window) is the canvas's.

A drag is one step of the ``EditHistory`` (one undo puts it back), and ``release`` says whether
the shapes changed: the window saves them then, not on every mouse move. What each shape measures
(``labels``) is kept per shape and measuring context: a repaint recomputes nothing, and a drag
recomputes the dragged shape's label only (an ROI's statistics read its pixels).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from viewer.core.measure_spacing import CALIBRATED, MeasureSpacing

from .edit_history import EditHistory
from .shape_draft import ShapeDraft
from .shape_hits import nearest_handle, nearest_shape
from .shapes import Distance, MeasureContext, Point, Shape, Text

MAX_CACHED_LABELS = 2000
KIND_NAMES = {"distance": "Distance", "angle": "Angle", "cobb": "Cobb angle", "ctr": "CTR",
              "ellipse": "Ellipse", "rect": "Rectangle", "arrow": "Arrow", "text": "Text"}


class Gesture(StrEnum):
    """What a press began."""

    NONE = "none"  # nothing of the shapes': the canvas's view tool, if any, has it
    SELECT = "select"  # a shape was picked; the drag does nothing
    MOVE = "move"  # the selected shape follows the drag
    HANDLE = "handle"  # a point of the selected shape follows the drag
    DRAW = "draw"  # the press went to a draft
    TEXT = "text"  # a text goes where the button comes up: the canvas asks for its words


@dataclass
class _Drag:
    index: int
    start: Point
    shape: Shape  # the shape as it was at the press
    point: int | None = None  # the handle, for an edit
    moved: bool = False


class ShapeEditor:
    """The shapes of one image frame (``history``), the selected one and the draft being drawn."""

    def __init__(self, history: EditHistory | None = None) -> None:
        self.history = history if history is not None else EditHistory()
        self.selected: int | None = None
        self.draft: ShapeDraft | None = None
        self._drag: _Drag | None = None
        self._labels: dict[tuple[Shape, MeasureSpacing | None], str] = {}
        self._context_key: tuple[int, MeasureSpacing | None] | None = None

    @property
    def shapes(self) -> tuple[Shape, ...]:
        return self.history.shapes

    @property
    def hint(self) -> str:
        """What to do next while a shape is drawn ('' otherwise), for the status bar."""
        return self.draft.hint if self.draft is not None else ""

    def select(self, index: int | None) -> None:
        """Select the shape at ``index`` (None, or an index out of range: none)."""
        self.selected = index if index is not None and 0 <= index < len(self.shapes) else None

    def cancel_draft(self) -> bool:
        """Drop the shape being drawn; False when there was none."""
        had, self.draft = self.draft is not None, None
        return had

    # -- the mouse ------------------------------------------------------------------------------
    def press(self, point: Point, tolerance: float, draw: str | None, *, pick: bool = True) -> Gesture:
        """The left button went down at ``point``. ``draw`` is the kind the tool draws (None: a
        view tool); ``pick`` False (a modifier held) draws without picking shapes."""
        self._drag = None
        if self.draft is not None and self.draft.kind == (draw or self.draft.kind):
            self.draft.press(point)
            return Gesture.DRAW
        self.draft = None
        if pick:
            if self.selected is not None:
                handle = nearest_handle(self.shapes, point, tolerance, only=self.selected)
                if handle is not None:
                    self._drag = _Drag(handle.shape, point, self.shapes[handle.shape], handle.point)
                    return Gesture.HANDLE
            picked = nearest_shape(self.shapes, point, tolerance)
            if picked is not None:
                if picked == self.selected:
                    self._drag = _Drag(picked, point, self.shapes[picked])
                    return Gesture.MOVE
                self.selected = picked
                return Gesture.SELECT
            self.selected = None  # a press elsewhere drops the selection
        if draw is None:
            return Gesture.NONE
        if draw == "text":
            return Gesture.TEXT
        self.selected = None
        self.draft = ShapeDraft(draw, slop=tolerance)
        self.draft.press(point)
        return Gesture.DRAW

    def move(self, point: Point, *, slop: float = 0.0) -> bool:
        """The pointer moved to ``point`` (a button down or not); True when what is drawn changed.
        A drag starts moving its shape once it is farther than ``slop`` from the press."""
        drag = self._drag
        if drag is not None:
            dx, dy = point[0] - drag.start[0], point[1] - drag.start[1]
            if not drag.moved and max(abs(dx), abs(dy)) <= slop:
                return False
            drag.moved = True
            shape = drag.shape.moved(dx, dy) if drag.point is None else drag.shape.with_point(drag.point, point)
            self.history.drag(drag.index, shape)
            return True
        if self.draft is not None:
            self.draft.move(point)
            return True
        return False

    def release(self, point: Point) -> bool:
        """The left button came up at ``point``; True when the shapes changed (save them now)."""
        drag, self._drag = self._drag, None
        if drag is not None:
            self.history.end_drag()
            return drag.moved
        if self.draft is None:
            return False
        self.draft.release(point)
        if not self.draft.complete or self.draft.shape is None:
            return False
        self.selected = self.history.add(self.draft.shape)
        self.draft = None
        return True

    def add_text(self, point: Point, words: str) -> None:
        """A text annotation of ``words`` at ``point``, selected. Raises ValueError (saying why)
        for words that cannot be one: none, too many, control characters."""
        draft = ShapeDraft("text", text=words)
        draft.press(point)
        draft.release(point)
        assert draft.shape is not None
        self.selected = self.history.add(draft.shape)

    # -- commands -------------------------------------------------------------------------------
    def delete_selected(self) -> bool:
        """Delete the selected shape; False when none is."""
        if self.selected is None:
            return False
        self.history.delete(self.selected)
        self.selected = None
        return True

    def clear(self) -> bool:
        """Delete every shape (one step: undo brings them back); False when there were none."""
        self.draft = None
        self.selected = None
        if not self.shapes:
            return False
        self.history.clear()
        return True

    def undo(self) -> bool:
        """Undo the last change; False when there is none."""
        return self._stepped(self.history.undo())

    def redo(self) -> bool:
        """Redo the last change undone; False when there is none."""
        return self._stepped(self.history.redo())

    def _stepped(self, changed: bool) -> bool:
        self.draft = None
        self._drag = None
        self.select(self.selected)
        return changed

    def selected_distance(self) -> Distance | None:
        """The selected shape when it is a ruler (what a calibration measures)."""
        shape = self.shapes[self.selected] if self.selected is not None else None
        return shape if isinstance(shape, Distance) else None

    # -- labels ---------------------------------------------------------------------------------
    def labels(self, context: MeasureContext) -> list[str]:
        """Each shape's label in ``context``; cached per shape while the context stays."""
        key = (id(context.pixels), context.spacing)
        if key != self._context_key or len(self._labels) > MAX_CACHED_LABELS:
            self._labels.clear()
            self._context_key = key
        labels = []
        for shape in self.shapes:
            cached = self._labels.get((shape, context.spacing))
            if cached is None:
                cached = self._labels[(shape, context.spacing)] = shape.label(context)
            labels.append(cached)
        return labels

    def draft_shape(self) -> Shape | None:
        """The shape being drawn as it is now (None: none)."""
        return self.draft.shape if self.draft is not None else None


def status_text(shape: Shape | None, label: str) -> str:
    """The status bar's line for a shape: 'Distance: 42.3 mm' ('' for none; a text's words are
    the user's, shown as they are on the image only)."""
    if shape is None or isinstance(shape, Text):
        return ""
    return f"{KIND_NAMES.get(shape.kind, shape.kind)}: {'  '.join(label.splitlines())}"


def spacing_note(spacing: MeasureSpacing | None) -> str:
    """Where lengths come from, in a few words: 'mm from PixelSpacing', 'mm, calibrated on a
    known length', 'px: no pixel spacing ...' (a source's details after a colon left out: an NIH
    PNG's says the original size and spacing it was scaled from)."""
    if spacing is None:
        return "px: no pixel spacing (Calibrate Ruler on a known length)"
    if spacing.source == CALIBRATED:
        return "mm, calibrated on a known length"
    return f"mm from {spacing.source.split(': ')[0]}"
