"""The exports as a user reaches them: the shortcut keys, the toolbar button and the File menu's
actions, each through a save dialog (``QFileDialog.getSaveFileName`` replaced by one that
returns a path): the file is written, the status bar says so, the next dialog proposes the
same file, and the actions are off while there is nothing to export."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QToolBar, QToolButton

from tests.ui.conftest import WAIT_MS, wait_for_findings
from tests.ui.images import chest_png
from viewer.ui.main_window import MainWindow
from viewer.ui.settings import AppSettings

CTRL = Qt.KeyboardModifier.ControlModifier
CTRL_SHIFT = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier


class SaveDialog:
    """Stands in for ``QFileDialog.getSaveFileName``: records what it was offered, answers a path."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.offered: list[tuple[str, str]] = []  # (caption, proposed path)
        self.answers: list[Path] = []
        monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(self._ask))

    def _ask(self, _parent, caption: str = "", proposed: str = "", _filter: str = "", *_rest, **_kw):
        self.offered.append((caption, proposed))
        return (str(self.answers.pop(0)), "") if self.answers else ("", "")


def _activate(qtbot, window: MainWindow) -> None:
    window.activateWindow()
    window.canvas.setFocus()
    qtbot.waitUntil(window.isActiveWindow, timeout=WAIT_MS)


def _open_analysed(qtbot, window: MainWindow, folder: Path) -> None:
    done: list[int] = []
    window.folder.analysis_done.connect(lambda: done.append(1))
    window.open_path(folder)
    qtbot.waitUntil(lambda: bool(done), timeout=WAIT_MS)
    wait_for_findings(qtbot, window)


def _confirmed(window: MainWindow, verb: str, path: Path) -> bool:
    """The status bar says what was written, and where."""
    message = window.statusBar().currentMessage()
    return message.startswith(verb) and path.name in message


def _toolbar_button(window: MainWindow, action) -> QToolButton:
    toolbar = window.findChild(QToolBar, "mainToolbar")
    button = toolbar.widgetForAction(action)
    assert isinstance(button, QToolButton)
    return button


def test_export_keys_and_toolbar_ask_write_confirm_and_remember(qtbot, make_window, tiny_model, settings,
                                                                 tmp_path: Path, monkeypatch, screenshot) -> None:
    for i in range(2):
        chest_png(tmp_path / "imgs" / f"c{i}.png", seed=60 + i)
    out = tmp_path / "exports"
    out.mkdir()
    dialog = SaveDialog(monkeypatch)
    window = make_window(tiny_model)
    _open_analysed(qtbot, window, tmp_path / "imgs")
    _activate(qtbot, window)

    dialog.answers = [out / "first view.png"]
    qtbot.keyClick(window.canvas, Qt.Key.Key_E, CTRL)
    assert dialog.offered[-1][0] == "Export View as PNG"
    assert (out / "first view.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert _confirmed(window, "Saved", out / "first view.png")
    screenshot(window, "png-saved")

    # The toolbar button: the dialog now proposes the file (and folder) chosen last time.
    dialog.answers = [out / "second.png"]
    qtbot.mouseClick(_toolbar_button(window, window.act_export_png), Qt.MouseButton.LeftButton)
    assert dialog.offered[-1] == ("Export View as PNG", str(out / "first view.png"))
    assert (out / "second.png").is_file()
    assert _confirmed(window, "Saved", out / "second.png")

    dialog.answers = [out / "folder findings.csv"]
    qtbot.keyClick(window.canvas, Qt.Key.Key_E, CTRL_SHIFT)
    assert dialog.offered[-1][0] == "Export Folder Findings"
    assert (out / "folder findings.csv").read_text().startswith("Image Index,path,status")
    assert _confirmed(window, "Wrote 2 rows to", out / "folder findings.csv")
    screenshot(window, "csv-saved")
    dialog.answers = []  # cancelled: nothing written, nothing changed
    qtbot.keyClick(window.canvas, Qt.Key.Key_E, CTRL_SHIFT)
    assert dialog.offered[-1] == ("Export Folder Findings", str(out / "folder findings.csv"))
    window.close()

    # After a restart the dialogs still propose the last files.
    again = make_window(tiny_model, store=AppSettings.at(settings.store.fileName()))
    _open_analysed(qtbot, again, tmp_path / "imgs")
    again.act_export_png.trigger()
    again.act_export_csv.trigger()
    assert dialog.offered[-2:] == [("Export View as PNG", str(out / "second.png")),
                                   ("Export Folder Findings", str(out / "folder findings.csv"))]


def test_export_actions_are_off_while_there_is_nothing_to_export(qtbot, make_window, tiny_model, tmp_path: Path,
                                                                  monkeypatch, screenshot) -> None:
    chest_png(tmp_path / "imgs" / "a.png", seed=3)
    dialog = SaveDialog(monkeypatch)
    window = make_window(tiny_model)
    qtbot.waitUntil(lambda: window.models.predictor is not None, timeout=WAIT_MS)
    _activate(qtbot, window)
    png_button = _toolbar_button(window, window.act_export_png)
    assert not window.act_export_png.isEnabled() and not png_button.isEnabled()
    assert not window.act_export_csv.isEnabled()
    qtbot.keyClick(window.canvas, Qt.Key.Key_E, CTRL)
    qtbot.keyClick(window.canvas, Qt.Key.Key_E, CTRL_SHIFT)
    assert dialog.offered == []  # no dialog for nothing
    screenshot(window, "nothing-open")

    _open_analysed(qtbot, window, tmp_path / "imgs")
    assert window.act_export_png.isEnabled() and png_button.isEnabled()
    assert window.act_export_csv.isEnabled()

    # A folder without images: nothing on screen, nothing analysed.
    (tmp_path / "empty").mkdir()
    scanned: list[int] = []
    window.folder.scan_done.connect(scanned.append)
    window.open_path(tmp_path / "empty")
    qtbot.waitUntil(lambda: bool(scanned), timeout=WAIT_MS)
    assert not window.act_export_png.isEnabled() and not window.act_export_csv.isEnabled()


def test_the_csv_export_is_off_without_a_model(qtbot, make_window, tmp_path: Path) -> None:
    chest_png(tmp_path / "imgs" / "a.png", seed=4)
    window = make_window(None, "no model")
    done: list[int] = []
    window.folder.analysis_done.connect(lambda: done.append(1))
    window.open_path(tmp_path / "imgs")
    qtbot.waitUntil(lambda: bool(done) and window.canvas.radiograph is not None, timeout=WAIT_MS)
    assert window.act_export_png.isEnabled()
    assert not window.act_export_csv.isEnabled()
