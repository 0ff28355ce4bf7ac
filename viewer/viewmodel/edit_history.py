"""The shapes of one image frame, with undo and redo of every change.

Shapes are immutable values, so a step of history is the whole list before it (a tuple of a
few shapes: cheap), and undo swaps lists. The history is bounded (``limit`` steps; the oldest
are forgotten). A drag sends many changes, one per mouse move: ``drag`` merges them into one
step until ``end_drag``, so one undo puts the shape back where the drag began. ``revision``
changes with every change the user sees, which tells the window when to save the list.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Any

from .shapes import Point, Shape

HISTORY_LIMIT = 100


class EditHistory:
    """The shapes of one image frame in drawing order (the last on top), with undo and redo."""

    def __init__(self, shapes: Iterable[Shape] = (), *, limit: int = HISTORY_LIMIT) -> None:
        if limit < 1:
            raise ValueError("an edit history keeps at least one step")
        self._shapes: tuple[Shape, ...] = tuple(shapes)
        self._undo: deque[tuple[Shape, ...]] = deque(maxlen=limit)
        self._redo: list[tuple[Shape, ...]] = []
        self._dragging: int | None = None
        self.revision = 0

    @property
    def shapes(self) -> tuple[Shape, ...]:
        """The shapes now, in drawing order."""
        return self._shapes

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    def add(self, shape: Shape) -> int:
        """Add ``shape`` on top; returns its index."""
        self._change(self._shapes + (shape,))
        return len(self._shapes) - 1

    def delete(self, index: int) -> None:
        """Remove the shape at ``index``."""
        self._check(index)
        self._change(self._shapes[:index] + self._shapes[index + 1:])

    def replace(self, index: int, shape: Shape) -> None:
        """Put ``shape`` in place of the one at ``index`` (an edit: one step)."""
        self._check(index)
        self._change(self._shapes[:index] + (shape,) + self._shapes[index + 1:])

    def move(self, index: int, dx: float, dy: float) -> None:
        """Move the shape at ``index`` by (``dx``, ``dy``) image pixels (one step)."""
        self._check(index)
        self.replace(index, self._shapes[index].moved(dx, dy))

    def set_point(self, index: int, point: int, to: Point) -> None:
        """Move handle ``point`` of the shape at ``index`` to ``to`` (one step)."""
        self._check(index)
        self.replace(index, self._shapes[index].with_point(point, to))

    def drag(self, index: int, shape: Shape) -> None:
        """Show ``shape`` in place of the one at ``index`` while a drag goes on: every call until
        ``end_drag`` (or another change) is one step of history."""
        self._check(index)
        shapes = self._shapes[:index] + (shape,) + self._shapes[index + 1:]
        if self._dragging == index:
            self._shapes = shapes
            self.revision += 1
            return
        self._change(shapes)
        self._dragging = index

    def end_drag(self) -> None:
        """The drag is over: the next change is a step of its own."""
        self._dragging = None

    def clear(self) -> None:
        """Remove every shape (one step: undo brings them back)."""
        if self._shapes:
            self._change(())

    def undo(self) -> bool:
        """Go back one step; False when there is none."""
        if not self._undo:
            return False
        self._redo.append(self._shapes)
        self._restore(self._undo.pop())
        return True

    def redo(self) -> bool:
        """Do again the step last undone; False when there is none."""
        if not self._redo:
            return False
        self._undo.append(self._shapes)
        self._restore(self._redo.pop())
        return True

    def to_dicts(self) -> list[dict[str, Any]]:
        """The shapes as the annotation store keeps them."""
        return [shape.to_dict() for shape in self._shapes]

    def _change(self, shapes: tuple[Shape, ...]) -> None:
        self._undo.append(self._shapes)
        self._redo.clear()
        self._restore(shapes)

    def _restore(self, shapes: tuple[Shape, ...]) -> None:
        self._shapes = shapes
        self._dragging = None
        self.revision += 1

    def _check(self, index: int) -> None:
        if not 0 <= index < len(self._shapes):
            raise IndexError(f"no shape {index} (there are {len(self._shapes)})")
