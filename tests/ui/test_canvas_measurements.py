"""Rulers as a user draws them: with the Measure tool and real drags on the canvas, several per
image, kept while the image is open and when the user comes back to it, each deletable (click
it, then Delete; or Clear Measurements), and every label inside the view."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtWidgets import QApplication

from tests.ui.canvas_helpers import activate, click, drag, open_folder, wait_for_path
from tests.ui.images import chest_png
from viewer.ui.canvas import ImageCanvas, as_uint8_view


def _ruler_drawn_at(canvas: ImageCanvas, at: QPointF) -> bool:
    """A ruler's colour (a saturated one, on a grey image) within 2 pixels of ``at`` on screen."""
    QApplication.processEvents()
    pixels = as_uint8_view(canvas.grab().toImage()).astype(int)
    x, y = round(at.x()), round(at.y())
    near = pixels[y - 2: y + 3, x - 2: x + 3].reshape(-1, 3)
    return bool(np.any(near.max(axis=1) - near.min(axis=1) > 80))


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "study"
    for name in ("a", "b"):
        chest_png(folder / f"{name}.png", seed=ord(name), size=128)
    return folder


def test_several_rulers_are_kept_per_image_and_deleted_one_at_a_time(qtbot, make_window, tmp_path: Path,
                                                                      screenshot) -> None:
    folder = _folder(tmp_path)
    window = make_window(None, "no model in this test")
    open_folder(qtbot, window, folder)
    wait_for_path(qtbot, window, folder / "a.png")
    activate(qtbot, window)
    canvas = window.canvas
    window.act_ruler.trigger()  # the Measure tool, from its action (toolbar, menu or M)

    to_widget = canvas.image_to_widget
    drag(qtbot, canvas, to_widget(20, 20), to_widget(60, 30))
    drag(qtbot, canvas, to_widget(30, 90), to_widget(100, 100))
    assert _ruler_drawn_at(canvas, to_widget(40, 25)), "a second drag removed the first ruler"
    assert _ruler_drawn_at(canvas, to_widget(65, 95))
    # one more that ends at the right edge of the view, with its label where it would be cut off
    right = QPointF(canvas.width() - 3, canvas.height() / 2)
    drag(qtbot, canvas, right - QPointF(70, 0), right)
    assert len(canvas.measurements) == 3, "a second drag replaced the first ruler"
    view = QRectF(canvas.rect())
    for rect in canvas.measurement_label_rects():
        assert view.contains(rect), f"a ruler's label is cut off by the edge of the view: {rect} in {view}"
    screenshot(window, "three-rulers")

    # another image, and back: the rulers of a.png come back with it
    window.act_next.trigger()
    wait_for_path(qtbot, window, folder / "b.png")
    assert len(canvas.measurements) == 0
    window.act_prev.trigger()
    wait_for_path(qtbot, window, folder / "a.png")
    assert len(canvas.measurements) == 3, "the rulers were lost when the image changed"

    # click the second ruler, then Delete: that one goes, the others stay
    second = canvas.measurements[1]
    (ax, ay), (bx, by) = second.points
    middle = to_widget((ax + bx) / 2, (ay + by) / 2)
    click(qtbot, canvas, middle)
    qtbot.keyClick(canvas, Qt.Key.Key_Delete)
    assert len(canvas.measurements) == 2 and second not in canvas.measurements
    screenshot(window, "one-deleted")

    window.act_clear_measurements.trigger()
    assert canvas.measurements == []
    window.act_next.trigger()
    wait_for_path(qtbot, window, folder / "b.png")
    window.act_prev.trigger()
    wait_for_path(qtbot, window, folder / "a.png")
    assert canvas.measurements == [], "cleared rulers came back"
