"""The study browser's tree view: the keys a reader steps through images with, and a row kept
in its place on screen while the rows are re-sorted.

Up and Down go from image to image: the patient, study and series rows between are passed
over and folded groups opened on the way (``next_image``), because a reader goes through
images, not headers. Left and Right fold and open, PageUp and PageDown (the window's Next and
Previous Image) step too, as a tree does. ``KeptInPlace`` keeps the selected row (else the top
row) at the same height on screen across a re-sort, as mail clients keep the message read.
"""

from __future__ import annotations

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QTreeView

from .browser_model import KIND_ROLE

_STEP_KEYS = {Qt.Key.Key_Down: 1, Qt.Key.Key_Up: -1}
_PLAIN = (Qt.KeyboardModifier.NoModifier, Qt.KeyboardModifier.KeypadModifier)


class BrowserTree(QTreeView):
    """The tree; Up and Down emit ``image_step(+1 | -1)`` for the browser to go to the next or
    previous image. Every other key is the tree's."""

    image_step = Signal(int)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        step = _STEP_KEYS.get(Qt.Key(event.key()))
        if step is not None and event.modifiers() in _PLAIN:
            event.accept()
            self.image_step.emit(step)
            return
        super().keyPressEvent(event)


def next_image(model: QAbstractItemModel, index: QModelIndex, delta: int) -> QModelIndex:
    """The image row after (``delta`` > 0) or before ``index`` in the tree's order, folded
    groups included; invalid when there is none. From no row: the first (or last) image."""
    probe = index
    while True:
        probe = _after(model, probe) if delta > 0 else _before(model, probe)
        if not probe.isValid() or probe.data(KIND_ROLE) == "image":
            return probe


def _after(model: QAbstractItemModel, index: QModelIndex) -> QModelIndex:
    if model.rowCount(index) > 0:  # into its first row (from nowhere: the first row of all)
        return model.index(0, 0, index)
    while index.isValid():
        sibling = index.siblingAtRow(index.row() + 1)
        if sibling.isValid():
            return sibling
        index = index.parent()
    return QModelIndex()


def _before(model: QAbstractItemModel, index: QModelIndex) -> QModelIndex:
    if not index.isValid():  # from nowhere: the very last row
        rows = model.rowCount(QModelIndex())
        return _last_descendant(model, model.index(rows - 1, 0)) if rows else QModelIndex()
    if index.row() > 0:
        return _last_descendant(model, index.siblingAtRow(index.row() - 1))
    return index.parent()


def _last_descendant(model: QAbstractItemModel, index: QModelIndex) -> QModelIndex:
    while model.rowCount(index) > 0:
        index = model.index(model.rowCount(index) - 1, 0, index)
    return index


class KeptInPlace:
    """``with KeptInPlace(tree):`` around a re-sort keeps the selected row (when it is in view,
    else the top row) at the same height on screen."""

    def __init__(self, tree: QTreeView) -> None:
        self.tree = tree
        self.row = QPersistentModelIndex()
        self.top = 0

    def __enter__(self) -> KeptInPlace:
        tree = self.tree
        current = tree.currentIndex()
        if current.isValid() and tree.viewport().rect().intersects(tree.visualRect(current)):
            self.row = QPersistentModelIndex(current)
        else:
            self.row = QPersistentModelIndex(tree.indexAt(tree.viewport().rect().topLeft()))
        self.top = tree.visualRect(self._index()).top() if self.row.isValid() else 0
        return self

    def __exit__(self, *_exc: object) -> None:
        if not self.row.isValid():
            return
        rect = self.tree.visualRect(self._index())
        if rect.isValid():
            bar = self.tree.verticalScrollBar()
            bar.setValue(bar.value() + rect.top() - self.top)

    def _index(self) -> QModelIndex:
        row = self.row
        return row.model().index(row.row(), row.column(), row.parent())
