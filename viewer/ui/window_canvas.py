"""Part of the main window: the commands of the image canvas and of reading.

A mixin of ``MainWindow``: the rulers' commands, the next and previous study, the arrow keys
of the canvas, and the full-screen reading mode. Its actions are made after the window's other
actions, menus and toolbar (``window_actions``), and put next to the related commands there,
found by the actions they hold, so the two modules only share the action names.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu

from viewer.viewmodel.navigation import study_step

from .reading_mode import ReadingMode

if TYPE_CHECKING:  # the QMainWindow this is mixed into, for type checkers only
    from PySide6.QtWidgets import QMainWindow as _Window

    from .browser import StudyBrowser
    from .canvas import ImageCanvas
else:
    _Window = object


class WindowCanvasMixin(_Window):
    """The canvas's commands (``act_*``)."""

    canvas: ImageCanvas
    browser: StudyBrowser
    act_ruler: QAction
    act_next: QAction
    act_prev: QAction
    act_reset: QAction
    _action: Callable[..., QAction]

    def _build_canvas_actions(self) -> None:
        c = self.canvas
        self.act_delete_measurement = self._action(
            "&Delete Measurement", c.delete_selected_measurement, ["Del", "Backspace"],
            tip="Delete the selected ruler (click a ruler to select it)")
        self.act_clear_measurements = self._action("C&lear Measurements", c.clear_measurements, "Ctrl+Del",
                                                   tip="Delete every ruler of this image")
        self._insert_after(self.act_ruler, [self.act_delete_measurement, self.act_clear_measurements])

        # the arrow keys of the canvas do what the next / previous image commands do
        c.step_requested.connect(lambda delta: (self.act_next if delta > 0 else self.act_prev).trigger())
        self.act_next_study = self._action("Next &Study", lambda: self.step_study(1), ["Shift+PgDown", "Shift+J"],
                                           tip="First image of the next study in the browser")
        self.act_prev_study = self._action("Previous S&tudy", lambda: self.step_study(-1), ["Shift+PgUp", "Shift+K"],
                                           tip="First image of the previous study in the browser")
        self._insert_after(self.act_prev, [self.act_next_study, self.act_prev_study])

        self.reading_mode = ReadingMode(self)
        self.act_full_screen = self._action("F&ull Screen Reading", self._set_full_screen, "F11", checkable=True,
                                            tip="The image alone on the whole screen (Esc leaves)")
        self.act_leave_full_screen = self._action("Leave Full Screen", lambda: self.act_full_screen.setChecked(False),
                                                  "Esc")
        self.act_leave_full_screen.setEnabled(False)  # Esc means something else outside it
        self._insert_after(self.act_reset, [self.act_full_screen])

    def step_study(self, delta: int) -> None:
        """Open the first image of the next (+1) or previous (-1) study in the browser."""
        images = self.browser.visible_images()
        current = self.browser.current_image()
        paths = [image.path for image in images]
        if current is None or current.path not in paths:
            return
        target = study_step([image.study_key for image in images], paths.index(current.path), delta)
        if target is not None:
            self.browser.select_path(paths[target])

    def _set_full_screen(self, on: bool) -> None:
        self.reading_mode.set_active(on)
        self.act_leave_full_screen.setEnabled(on)
        self.canvas.setFocus()

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
