"""Part of the main window: the commands of the image canvas.

A mixin of ``MainWindow``: the rulers' commands. Its actions are made after the window's
other actions, menus and toolbar (``window_actions``), and put next to the related commands
there, found by the actions they hold, so the two modules only share the action names.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu

if TYPE_CHECKING:  # the QMainWindow this is mixed into, for type checkers only
    from PySide6.QtWidgets import QMainWindow as _Window

    from .canvas import ImageCanvas
else:
    _Window = object


class WindowCanvasMixin(_Window):
    """The canvas's commands (``act_*``)."""

    canvas: ImageCanvas
    act_ruler: QAction
    _action: Callable[..., QAction]

    def _build_canvas_actions(self) -> None:
        c = self.canvas
        self.act_delete_measurement = self._action(
            "&Delete Measurement", c.delete_selected_measurement, ["Del", "Backspace"],
            tip="Delete the selected ruler (click a ruler to select it)")
        self.act_clear_measurements = self._action("C&lear Measurements", c.clear_measurements, "Ctrl+Del",
                                                   tip="Delete every ruler of this image")
        self._insert_after(self.act_ruler, [self.act_delete_measurement, self.act_clear_measurements])

    def _insert_after(self, anchor: QAction, actions: Sequence[QAction]) -> None:
        """Put ``actions`` after ``anchor`` in the menu that holds it."""
        menu = self._menu_holding(anchor)
        if menu is None:
            return
        held = menu.actions()
        following = held[held.index(anchor) + 1] if held.index(anchor) + 1 < len(held) else None
        for action in actions:
            menu.insertAction(following, action) if following is not None else menu.addAction(action)

    def _menu_holding(self, action: QAction) -> QMenu | None:
        for top in self.menuBar().actions():
            menu = top.menu()
            if isinstance(menu, QMenu) and action in menu.actions():
                return menu
        return None
