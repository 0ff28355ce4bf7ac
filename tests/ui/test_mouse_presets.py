"""Mouse layouts and tool modes as a user sets them: the Mouse page of the preferences (its radio
button clicked), View > Mouse Layout, the tool buttons of the toolbar and their keys; then real
drags, clicks and wheel turns on the canvas do what the layout says. Today's layout stays the
default, and the chosen one is remembered."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication, QMenu, QRadioButton, QTabWidget, QToolBar

from tests.ui.canvas_helpers import LEFT, MIDDLE, RIGHT, activate, click, drag, open_folder, wait_for_path, wheel
from tests.ui.images import chest_png
from viewer.ui.settings import AppSettings


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    folder = tmp_path / "study"
    for i, name in enumerate("abc"):
        chest_png(folder / f"{name}.png", seed=i, size=160)
    return folder


def _opened(qtbot, make_window, folder: Path, store: AppSettings | None = None):
    window = make_window(None, "no model in this test", store)
    open_folder(qtbot, window, folder)
    wait_for_path(qtbot, window, folder / "a.png")
    activate(qtbot, window)
    return window


def _middle(canvas) -> QPoint:
    return QPoint(canvas.width() // 2, canvas.height() // 2)


def _state(canvas) -> tuple[float, float, tuple[float, float], str]:
    """What a gesture may change: zoom, window width, the image point in the middle, the image."""
    centre = canvas.widget_to_image(_middle(canvas).toPointF())
    return canvas.view.zoom, canvas.window.width, (round(centre.x(), 3), round(centre.y(), 3)), \
        canvas.radiograph.path.name


def _what_changed(before, after) -> set[str]:
    """Which of zoom, window, pan and image changed (a zoom moves the middle too: not a pan)."""
    names = ("zoom", "window", "pan", "image")
    changed = {name for name, a, b in zip(names, before, after) if a != b}
    return changed - {"pan"} if "zoom" in changed else changed


def _gesture(qtbot, canvas, do) -> set[str]:
    before = _state(canvas)
    do()
    qtbot.wait(1)
    return _what_changed(before, _state(canvas))


def _open_menu() -> QMenu | None:
    popup = QApplication.activePopupWidget()
    return popup if isinstance(popup, QMenu) else None


def _close_menu(qtbot) -> None:
    menu = _open_menu()
    if menu is not None:
        menu.close()
        qtbot.waitUntil(lambda: _open_menu() is None)


def test_today_s_layout_is_the_default_and_the_preferences_page_changes_it(qtbot, make_window, folder: Path,
                                                                          settings: AppSettings,
                                                                          screenshot) -> None:
    window = _opened(qtbot, make_window, folder)
    canvas, m = window.canvas, _middle(window.canvas)
    # the default: wheel zooms, left-drag pans, right-drag windows
    assert _gesture(qtbot, canvas, lambda: wheel(canvas, m, 2)) == {"zoom"}
    assert _gesture(qtbot, canvas, lambda: drag(qtbot, canvas, m, m + QPoint(30, 20))) == {"pan"}
    assert _gesture(qtbot, canvas, lambda: drag(qtbot, canvas, m, m + QPoint(30, 20), RIGHT)) == {"window"}

    from viewer.ui.preferences_dialog import PreferencesDialog

    window.act_preferences.trigger()  # File > Preferences, then its Mouse page
    dialog = window.findChild(PreferencesDialog)
    qtbot.waitExposed(dialog)
    tabs = dialog.findChild(QTabWidget)
    tabs.setCurrentIndex([tabs.tabText(i) for i in range(tabs.count())].index("Mouse"))
    page = dialog.page("Mouse")
    radiant = next(b for b in page.findChildren(QRadioButton) if "RadiAnt" in b.text())
    qtbot.mouseClick(radiant, LEFT, pos=QPoint(8, radiant.height() // 2))
    assert radiant.isChecked()
    assert ("wheel", "next / previous image") in page.description_rows()
    screenshot(dialog, "mouse-page")
    dialog.close()
    activate(qtbot, window)

    # RadiAnt / Weasis: the wheel goes through the images, left-drag windows, middle-drag pans
    wheel(canvas, m, -1)  # towards the user: the next image
    wait_for_path(qtbot, window, folder / "b.png")
    wheel(canvas, m, 1)
    wait_for_path(qtbot, window, folder / "a.png")
    assert _gesture(qtbot, canvas, lambda: drag(qtbot, canvas, m, m + QPoint(30, 20))) == {"window"}
    assert _gesture(qtbot, canvas, lambda: drag(qtbot, canvas, m, m + QPoint(30, 20), MIDDLE)) == {"pan"}
    # the right button is the menu's
    assert _gesture(qtbot, canvas, lambda: click(qtbot, canvas, m, RIGHT)) == set()
    qtbot.waitUntil(lambda: _open_menu() is not None)
    texts = [a.text().replace("&", "") for a in _open_menu().actions()]
    assert "Fit" in texts and "Window/Level" in texts
    _close_menu(qtbot)

    # remembered: a new window with the same settings starts with this layout
    assert AppSettings(settings.store).mouse_preset() == "radiant"
    again = _opened(qtbot, make_window, folder, AppSettings(settings.store))
    wheel(again.canvas, _middle(again.canvas), -1)
    wait_for_path(qtbot, again, folder / "b.png")


def test_the_ohif_layout_from_the_view_menu(qtbot, make_window, folder: Path) -> None:
    window = _opened(qtbot, make_window, folder)
    window.mouse_layout_actions["ohif"].trigger()  # View > Mouse Layout > OHIF
    canvas, m = window.canvas, _middle(window.canvas)
    assert _gesture(qtbot, canvas, lambda: drag(qtbot, canvas, m, m + QPoint(0, -40), RIGHT)) == {"zoom"}
    assert canvas.view.zoom > 1.0  # dragging up zooms in
    assert _gesture(qtbot, canvas, lambda: drag(qtbot, canvas, m, m + QPoint(25, 10), MIDDLE)) == {"pan"}
    assert _gesture(qtbot, canvas, lambda: drag(qtbot, canvas, m, m + QPoint(25, 10))) == {"window"}
    wheel(canvas, m, -1)
    wait_for_path(qtbot, window, folder / "b.png")
    # a right click that does not move still opens the menu
    assert _gesture(qtbot, canvas, lambda: click(qtbot, canvas, m, RIGHT)) == set()
    qtbot.waitUntil(lambda: _open_menu() is not None)
    _close_menu(qtbot)


def test_tool_modes_from_the_toolbar_and_the_keys(qtbot, make_window, folder: Path, screenshot) -> None:
    window = _opened(qtbot, make_window, folder)
    canvas, m = window.canvas, _middle(window.canvas)
    toolbar = next(bar for bar in window.findChildren(QToolBar) if bar.widgetForAction(window.act_tool_zoom))
    toolbar_button = toolbar.widgetForAction(window.act_tool_zoom)
    qtbot.mouseClick(toolbar_button, LEFT)
    assert window.act_tool_zoom.isChecked()
    screenshot(window, "zoom-tool")
    assert _gesture(qtbot, canvas, lambda: drag(qtbot, canvas, m, m + QPoint(0, -30))) == {"zoom"}
    activate(qtbot, window)
    for key, expected in ((Qt.Key.Key_W, "window"), (Qt.Key.Key_P, "pan"), (Qt.Key.Key_Z, "zoom")):
        qtbot.keyClick(canvas, key)
        assert _gesture(qtbot, canvas, lambda: drag(qtbot, canvas, m, m + QPoint(20, -25))) == {expected}, key
    qtbot.keyClick(canvas, Qt.Key.Key_M)
    assert window.act_ruler.isChecked()
    drag(qtbot, canvas, m, m + QPoint(60, 0))
    assert len(canvas.measurements) == 1
    # Ctrl+left windows and Shift+left measures whatever the tool
    qtbot.keyClick(canvas, Qt.Key.Key_P)
    assert _gesture(qtbot, canvas, lambda: drag(qtbot, canvas, m, m + QPoint(20, 20), LEFT,
                                                 Qt.KeyboardModifier.ControlModifier)) == {"window"}
    drag(qtbot, canvas, m + QPoint(0, 40), m + QPoint(60, 40), LEFT, Qt.KeyboardModifier.ShiftModifier)
    assert len(canvas.measurements) == 2


def test_a_short_right_click_opens_the_menu_in_the_default_layout(qtbot, make_window, folder: Path,
                                                                   screenshot) -> None:
    window = _opened(qtbot, make_window, folder)
    canvas, m = window.canvas, _middle(window.canvas)
    drag(qtbot, canvas, m - QPoint(50, 0), m + QPoint(40, 0), LEFT, Qt.KeyboardModifier.ShiftModifier)
    assert _gesture(qtbot, canvas, lambda: click(qtbot, canvas, m, RIGHT)) == set()
    qtbot.waitUntil(lambda: _open_menu() is not None)
    menu = _open_menu()
    texts = [a.text().replace("&", "") for a in menu.actions()]
    assert {"Fit", "1:1", "Invert", "Delete Measurement", "Clear Measurements", "Full Screen Reading"} <= set(texts)
    screenshot(menu, "menu")
    assert canvas.selected_measurement == 0  # the ruler under the click, for Delete Measurement
    _close_menu(qtbot)
    # a right-drag is still window/level, with no menu
    assert _gesture(qtbot, canvas, lambda: drag(qtbot, canvas, m, m + QPoint(30, 20), RIGHT)) == {"window"}
    assert _open_menu() is None
