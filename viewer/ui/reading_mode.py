"""The full-screen reading mode: the image alone on the whole screen, and back.

Entering it remembers the window's docks and toolbars (``saveState``) and whether it was
maximised, hides them with the menu and status bars, and shows the window full screen; leaving
it puts everything back as it was. The window's commands keep their keys in between: they are
actions of the window, not of the hidden menus.
"""

from __future__ import annotations

from PySide6.QtCore import QByteArray
from PySide6.QtWidgets import QDockWidget, QMainWindow, QToolBar


class ReadingMode:
    """Full screen for ``window``, with nothing but its central widget."""

    def __init__(self, window: QMainWindow) -> None:
        self._window = window
        self._state: QByteArray | None = None
        self._was_maximized = False

    @property
    def active(self) -> bool:
        return self._state is not None

    def set_active(self, on: bool) -> None:
        if on and not self.active:
            self._enter()
        elif not on and self.active:
            self._leave()

    def _enter(self) -> None:
        window = self._window
        self._state = window.saveState()
        self._was_maximized = window.isMaximized()
        for bar in window.findChildren(QToolBar) + window.findChildren(QDockWidget):
            if bar.parent() is window:
                bar.hide()
        window.menuBar().hide()
        window.statusBar().hide()
        window.showFullScreen()

    def _leave(self) -> None:
        window = self._window
        state, self._state = self._state, None
        if self._was_maximized:
            window.showMaximized()
        else:
            window.showNormal()
        window.menuBar().show()
        window.statusBar().show()
        if state is not None:
            window.restoreState(state)  # the docks and toolbars as they were
