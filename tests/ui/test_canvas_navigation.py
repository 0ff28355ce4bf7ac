"""Reading from the keyboard, as a user presses the keys on the canvas: 1:1 keeps a small image
in the middle, the arrow and page keys step through the images, Shift+page keys through the
studies, and F11 / Esc enter and leave the full-screen reading mode."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QPointF, Qt

from tests.ui.canvas_helpers import activate, open_folder, wait_for_path, wheel
from tests.ui.conftest import wait_for_image
from tests.ui.images import chest_png

SHIFT = Qt.KeyboardModifier.ShiftModifier


def test_one_to_one_centres_an_image_smaller_than_the_view(qtbot, make_window, tmp_path: Path, screenshot) -> None:
    window = make_window(None, "no model in this test")
    window.open_path(chest_png(tmp_path / "small.png", size=128))
    wait_for_image(qtbot, window)
    activate(qtbot, window)
    canvas = window.canvas
    # zoom in around a point far from the middle, as a wheel turn over the top-left does
    wheel(canvas, canvas.image_to_widget(10, 10), 3)
    qtbot.keyClick(canvas, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    assert canvas.view.zoom == pytest.approx(1.0)
    middle = canvas.image_to_widget(64, 64)
    assert (middle.x(), middle.y()) == pytest.approx((canvas.width() / 2, canvas.height() / 2), abs=0.5), \
        "1:1 left the small image off-centre"
    screenshot(window, "one-to-one")


def _three_images(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "study"
    return [chest_png(folder / f"{name}.png", seed=i, size=96) for i, name in enumerate("abc")]


@pytest.mark.parametrize("forward, back", [(Qt.Key.Key_Right, Qt.Key.Key_Left), (Qt.Key.Key_Down, Qt.Key.Key_Up),
                                           (Qt.Key.Key_PageDown, Qt.Key.Key_PageUp)])
def test_arrow_and_page_keys_on_the_canvas_step_through_the_images(qtbot, make_window, tmp_path: Path,
                                                                   forward: Qt.Key, back: Qt.Key) -> None:
    a, b, c = _three_images(tmp_path)
    window = make_window(None, "no model in this test")
    open_folder(qtbot, window, a.parent)
    wait_for_path(qtbot, window, a)
    activate(qtbot, window)
    for key, expected in ((forward, b), (forward, c), (back, b), (back, a)):
        qtbot.keyClick(window.canvas, key)
        wait_for_path(qtbot, window, expected)


def test_shift_page_keys_step_through_the_studies(qtbot, make_window, tmp_path: Path) -> None:
    folder = tmp_path / "export"
    first = [chest_png(folder / "one" / f"{i}.png", seed=i, size=96) for i in range(3)]
    second = [chest_png(folder / "two" / f"{i}.png", seed=10 + i, size=96) for i in range(2)]
    window = make_window(None, "no model in this test")
    open_folder(qtbot, window, folder)
    wait_for_path(qtbot, window, first[0])
    activate(qtbot, window)
    qtbot.keyClick(window.canvas, Qt.Key.Key_PageDown, SHIFT)
    wait_for_path(qtbot, window, second[0])
    qtbot.keyClick(window.canvas, Qt.Key.Key_Right)
    wait_for_path(qtbot, window, second[1])
    qtbot.keyClick(window.canvas, Qt.Key.Key_PageUp, SHIFT)
    wait_for_path(qtbot, window, first[0])


def test_f11_enters_the_full_screen_reading_mode_and_esc_leaves_it(qtbot, make_window, tmp_path: Path,
                                                                   screenshot) -> None:
    window = make_window(None, "no model in this test")
    window.open_path(chest_png(tmp_path / "a.png", size=256))
    wait_for_image(qtbot, window)
    activate(qtbot, window)
    docks_before = {dock.objectName() for dock in window.docks if dock.isVisible()}
    assert docks_before and window.menuBar().isVisible()

    qtbot.keyClick(window.canvas, Qt.Key.Key_F11)
    qtbot.waitUntil(window.isFullScreen)
    assert not any(dock.isVisible() for dock in window.docks), "the panels stay in the reading mode"
    assert not window.menuBar().isVisible() and window.canvas.isVisible()
    screenshot(window, "full-screen")
    qtbot.keyClick(window.canvas, Qt.Key.Key_Right)  # the keys still work there

    qtbot.keyClick(window.canvas, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not window.isFullScreen())
    assert {dock.objectName() for dock in window.docks if dock.isVisible()} == docks_before
    assert window.menuBar().isVisible()
    centre = QPointF(window.canvas.width() / 2, window.canvas.height() / 2)
    assert window.canvas.widget_to_image(centre).x() == pytest.approx(128, abs=1)  # still fitted
