"""F1 opens the keyboard and mouse help as a table: every command that has a key is listed with
it (the list is built from the window's actions, so it cannot fall behind), the mouse bindings
come from their data table, and no key name is wrapped over two lines."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QFontMetrics, QKeySequence
from PySide6.QtWidgets import QApplication, QTableWidget, QWidget

from tests.ui.conftest import WAIT_MS


def _help_dialogs() -> list[QWidget]:
    return [w for w in QApplication.topLevelWidgets() if w.objectName() == "keyboardMouseHelp" and w.isVisible()]


def _close_any_modal_box() -> None:
    """A modal box would block the test; close it so the test can fail instead of hang."""
    box = QApplication.activeModalWidget()
    if box is not None:
        box.close()


def test_f1_shows_every_key_and_mouse_binding_in_a_table(qtbot, make_window, tiny_model, screenshot) -> None:
    window = make_window(tiny_model)
    window.activateWindow()
    window.canvas.setFocus()
    qtbot.waitUntil(window.isActiveWindow, timeout=WAIT_MS)
    QTimer.singleShot(1000, _close_any_modal_box)
    qtbot.keyClick(window.canvas, Qt.Key.Key_F1)
    qtbot.waitUntil(lambda: bool(_help_dialogs()), timeout=5000)
    dialog = _help_dialogs()[0]
    table = dialog.findChild(QTableWidget)
    cells = [(table.item(r, 0).text() if table.item(r, 0) else "", table.item(r, 1).text() if table.item(r, 1) else "")
             for r in range(table.rowCount())]
    keys_text = " | ".join(k for k, _ in cells)

    shortcuts = {s.toString(QKeySequence.SequenceFormat.NativeText)
                 for action in window.findChildren(type(window.act_fit)) for s in action.shortcuts()}
    assert shortcuts >= {"Ctrl+E", "Ctrl+Shift+E", "F1", "PgDown", "Shift+P", "Ctrl+,"}
    missing = [s for s in shortcuts if s not in keys_text]
    assert not missing, f"keys missing from the help: {missing}"
    from viewer.viewmodel.bindings import mouse_rows

    for gesture, does in mouse_rows(window.canvas.bindings.layout):  # the mouse of the layout in force
        assert (gesture, does) in cells

    metrics = QFontMetrics(table.font())
    for row, (keys, _does) in enumerate(cells):
        if keys and table.columnSpan(row, 0) == 1:
            assert metrics.horizontalAdvance(keys) < table.columnWidth(0), f"{keys!r} is wrapped or cut"
    screenshot(dialog, "help")
    dialog.close()
