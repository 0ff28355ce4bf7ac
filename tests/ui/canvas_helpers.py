"""What a user does on the canvas, as real events: drags, clicks, wheel turns and keys sent to
the widget (``QTest`` and ``QApplication.sendEvent``), and waiting for the image they lead to."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication, QWidget

from tests.ui.conftest import WAIT_MS
from viewer.ui.main_window import MainWindow

LEFT, MIDDLE, RIGHT = Qt.MouseButton.LeftButton, Qt.MouseButton.MiddleButton, Qt.MouseButton.RightButton
NO_MODIFIER = Qt.KeyboardModifier.NoModifier


def point(p: QPointF | QPoint | tuple[float, float]) -> QPoint:
    if isinstance(p, tuple):
        return QPoint(round(p[0]), round(p[1]))
    return p.toPoint() if isinstance(p, QPointF) else p


def drag(qtbot, widget: QWidget, start, end, button: Qt.MouseButton = LEFT,
         modifiers: Qt.KeyboardModifier = NO_MODIFIER, steps: int = 4) -> None:
    """Press at ``start``, move in a few steps to ``end``, release there."""
    a, b = point(start), point(end)
    qtbot.mousePress(widget, button, modifiers, a)
    for i in range(1, steps + 1):
        qtbot.mouseMove(widget, a + (b - a) * i / steps)
    qtbot.mouseRelease(widget, button, modifiers, b)


def click(qtbot, widget: QWidget, at, button: Qt.MouseButton = LEFT) -> None:
    """Press and release at one point, without moving."""
    qtbot.mousePress(widget, button, NO_MODIFIER, point(at))
    qtbot.mouseRelease(widget, button, NO_MODIFIER, point(at))


def wheel(widget: QWidget, at, notches: int, modifiers: Qt.KeyboardModifier = NO_MODIFIER) -> None:
    """Turn the wheel ``notches`` clicks (positive: away from the user) over ``at``."""
    pos = QPointF(point(at))
    event = QWheelEvent(pos, QPointF(widget.mapToGlobal(pos)), QPoint(0, 0), QPoint(0, 120 * notches),
                        Qt.MouseButton.NoButton, modifiers, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)


def activate(qtbot, window: MainWindow) -> None:
    """Make the window active with the canvas focused, so its shortcuts reach it."""
    window.activateWindow()
    window.canvas.setFocus()
    qtbot.waitUntil(window.isActiveWindow, timeout=WAIT_MS)


def wait_for_path(qtbot, window: MainWindow, path: Path) -> None:
    """Until ``path`` is the image on the canvas."""
    qtbot.waitUntil(lambda: window.canvas.radiograph is not None and window.canvas.radiograph.path == path,
                    timeout=WAIT_MS)


def open_folder(qtbot, window: MainWindow, folder: Path) -> None:
    """Open ``folder`` and wait for its scan to end and its first image to be on the canvas."""
    window.open_path(folder)
    qtbot.waitUntil(lambda: not window.folder.scanning and window.canvas.radiograph is not None, timeout=WAIT_MS)
