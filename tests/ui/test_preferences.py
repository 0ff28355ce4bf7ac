"""Display preferences survive a restart: the heatmap's colormap and opacity, the operating point
(per model: another model starts at its card's thresholds) and the browser's order. Changed as a
user changes them, with keys on the real widgets; the window is closed and a new one opened on
the same settings store."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt

from tests.factories import make_model_pair
from tests.ui.conftest import WAIT_MS, wait_for_findings
from tests.ui.images import chest_png
from viewer.ui.colormaps import DEFAULT_COLORMAP
from viewer.ui.main_window import MainWindow
from viewer.ui.settings import AppSettings
from viewer.viewmodel.browser_order import SORT_TRIAGE


def _open(qtbot, window: MainWindow, folder: Path) -> None:
    window.open_path(folder)
    wait_for_findings(qtbot, window)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=WAIT_MS)


def _press(qtbot, widget, key: Qt.Key, times: int = 1) -> None:
    widget.setFocus()
    for _ in range(times):
        qtbot.keyClick(widget, key)


def test_display_preferences_survive_a_restart(qtbot, make_window, tiny_model, settings, tmp_path: Path,
                                               screenshot) -> None:
    chest_png(tmp_path / "imgs" / "a.png", seed=5)
    window = make_window(tiny_model)
    _open(qtbot, window, tmp_path / "imgs")
    panel = window.findings
    assert panel.colormap.currentText() == DEFAULT_COLORMAP and panel.opacity.value() == 50
    _press(qtbot, panel.colormap, Qt.Key.Key_Down, 2)  # the third colormap
    chosen = panel.colormap.currentText()
    assert chosen != DEFAULT_COLORMAP
    _press(qtbot, panel.opacity, Qt.Key.Key_Right, 20)  # +20 % (PgUp is the previous image)
    _press(qtbot, panel.sensitivity, Qt.Key.Key_Right, 2)  # two steps more sensitive
    _press(qtbot, window.browser.sort_box, Qt.Key.Key_Down)
    assert (panel.opacity.value(), panel.sensitivity.value()) == (70, 2)
    assert window.browser.sort_mode() == SORT_TRIAGE
    window.close()

    again = make_window(tiny_model, store=AppSettings.at(settings.store.fileName()))
    _open(qtbot, again, tmp_path / "imgs")
    panel = again.findings
    assert panel.colormap.currentText() == chosen and again.image.colormap == chosen
    assert panel.opacity.value() == 70
    assert panel.sensitivity.value() == 2 and again.models.operating_point.step == 2
    assert "+2" in panel.sensitivity_text.text()
    assert again.browser.sort_mode() == SORT_TRIAGE
    screenshot(again, "restored")
    again.close()

    # Another model (another model_id) starts at its own card's thresholds; the display stays.
    other = make_model_pair(tmp_path / "other-model", seed=7)
    third = make_window(other, store=AppSettings.at(settings.store.fileName()))
    _open(qtbot, third, tmp_path / "imgs")
    assert third.findings.sensitivity.value() == 0 and third.models.operating_point.step == 0
    assert third.findings.colormap.currentText() == chosen and third.findings.opacity.value() == 70


def _preferences_dialog(window: MainWindow):
    from PySide6.QtWidgets import QApplication

    found = [w for w in QApplication.topLevelWidgets() if w.objectName() == "preferencesDialog" and w.isVisible()]
    return found[0] if found else None


def test_the_preferences_dialog_edits_the_display_preferences(qtbot, make_window, tiny_model, settings,
                                                              tmp_path: Path, screenshot) -> None:
    from PySide6.QtWidgets import QComboBox, QSpinBox, QTabWidget, QWidget

    chest_png(tmp_path / "imgs" / "a.png", seed=5)
    window = make_window(tiny_model)
    _open(qtbot, window, tmp_path / "imgs")
    file_menu = window.menuBar().actions()[0].menu()
    preferences = next(a for a in file_menu.actions() if a.text().replace("&", "").startswith("Preferences"))
    preferences.trigger()
    dialog = _preferences_dialog(window)
    assert dialog is not None, "File > Preferences... showed no dialog"
    tabs = dialog.findChild(QTabWidget)
    assert [tabs.tabText(i).replace("&", "") for i in range(tabs.count())][0] == "Display"
    page = tabs.widget(0)
    colormap = page.findChild(QComboBox, "preferredColormap")
    opacity = page.findChild(QSpinBox, "preferredOpacity")
    point = page.findChild(QSpinBox, "preferredOperatingPoint")
    order = page.findChild(QComboBox, "preferredSortMode")
    assert colormap.currentText() == DEFAULT_COLORMAP and opacity.value() == 50 and point.value() == 0

    _press(qtbot, colormap, Qt.Key.Key_Down)
    chosen = colormap.currentText()
    assert window.findings.colormap.currentText() == chosen and window.image.colormap == chosen
    opacity.selectAll()
    qtbot.keyClicks(opacity, "35")
    _press(qtbot, point, Qt.Key.Key_Up, 3)
    _press(qtbot, order, Qt.Key.Key_Down)
    assert window.findings.opacity.value() == 35
    assert window.findings.sensitivity.value() == 3 and window.models.operating_point.step == 3
    assert window.browser.sort_mode() == SORT_TRIAGE
    _press(qtbot, window.findings.sensitivity, Qt.Key.Key_Left)  # the panel's control moves the page's too
    assert point.value() == 2
    screenshot(dialog, "display-page")

    # The mouse layout has its page; another page is one call.
    assert tabs.count() == 2 and tabs.tabText(1) == "Mouse" and dialog.page("Mouse") is not None
    extra = QWidget()
    dialog.add_page("Extra", extra)
    assert tabs.count() == 3 and tabs.tabText(2) == "Extra" and dialog.page("Extra") is extra
    dialog.close()
    window.close()

    again = make_window(tiny_model, store=AppSettings.at(settings.store.fileName()))
    _open(qtbot, again, tmp_path / "imgs")
    assert again.findings.colormap.currentText() == chosen and again.findings.opacity.value() == 35
    assert again.findings.sensitivity.value() == 2
