"""Every measurement and annotation tool as a user draws it: the tool's key, real drags and clicks
on the canvas, and the label checked against the same measurement computed here from the image's
pixels and spacing; then selecting, moving, editing, deleting, undo and redo with the mouse and
the keys, and the shapes in an exported view."""

from __future__ import annotations

import math
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtWidgets import QInputDialog

from tests.ui.canvas_helpers import activate, click, drag
from tests.ui.conftest import wait_for_image
from tests.ui.images import write_dicom
from viewer.ui.main_window import MainWindow

ROW_MM, COL_MM = 0.5, 0.25  # not square: a length that ignored one axis would be wrong
SHIFT = Qt.KeyboardModifier.ShiftModifier


def _pixels() -> np.ndarray:
    """A 160 x 200 image of known, varied values (12-bit)."""
    return np.random.default_rng(5).integers(0, 4096, (160, 200)).astype(np.uint16)


def _window(qtbot, make_window, tmp_path: Path) -> MainWindow:
    window = make_window(None, "no model in this test")
    window.open_path(write_dicom(tmp_path / "image.dcm", _pixels(), spacing=(ROW_MM, COL_MM)))
    wait_for_image(qtbot, window)
    activate(qtbot, window)
    return window


def _at(window: MainWindow, x: float, y: float) -> QPoint:
    return window.canvas.image_to_widget(x, y).toPoint()


def _mm(a: tuple[float, float], b: tuple[float, float]) -> tuple[float, float]:
    """The vector a -> b in mm."""
    return (b[0] - a[0]) * COL_MM, (b[1] - a[1]) * ROW_MM


def _near(points, expected, tolerance: float) -> bool:
    return all(math.hypot(p[0] - e[0], p[1] - e[1]) <= tolerance for p, e in zip(points, expected, strict=True))


def _last(window: MainWindow):
    canvas = window.canvas
    return canvas.measurements[-1], canvas.measurement_labels()[-1]


def _region_stats(kind: str, a, b) -> tuple[float, float, float, float]:
    """Mean, SD, min, max of the pixels whose centres are inside the region, over the whole image."""
    pixels = _pixels().astype(np.float64)
    ys, xs = np.mgrid[0:pixels.shape[0], 0:pixels.shape[1]] + 0.5
    (x0, x1), (y0, y1) = sorted((a[0], b[0])), sorted((a[1], b[1]))
    if kind == "rect":
        inside = (xs >= x0) & (xs <= x1) & (ys >= y0) & (ys <= y1)
    else:
        cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2
        inside = ((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2 <= 1
    values = pixels[inside]
    return values.mean(), values.std(), values.min(), values.max()


def test_every_tool_draws_its_shape_with_the_mouse_and_measures_it(qtbot, make_window, tmp_path: Path,
                                                                 monkeypatch, screenshot) -> None:
    window = _window(qtbot, make_window, tmp_path)
    canvas = window.canvas
    tolerance = 1.0 / canvas.view.zoom  # a screen pixel, in image pixels
    assert window.spacing_label.text() == "mm from PixelSpacing"

    # M: a ruler, one drag
    qtbot.keyClick(canvas, Qt.Key.Key_M)
    drag(qtbot, canvas, _at(window, 20, 20), _at(window, 60, 50))
    shape, label = _last(window)
    assert shape.kind == "distance" and _near(shape.points, [(20, 20), (60, 50)], tolerance)
    assert float(label.removesuffix(" mm")) == pytest.approx(math.hypot(*_mm(*shape.points)), abs=0.05)
    assert window.measure_label.text() == f"Distance: {label}"

    # A: an angle, a drag from an arm's end to the vertex, then a click at the other arm's end
    qtbot.keyClick(canvas, Qt.Key.Key_A)
    drag(qtbot, canvas, _at(window, 100, 30), _at(window, 130, 70))
    assert "click the other arm" in window.statusBar().currentMessage()  # the hint says what is next
    click(qtbot, canvas, _at(window, 170, 40))
    shape, label = _last(window)
    assert shape.kind == "angle" and _near(shape.points, [(100, 30), (130, 70), (170, 40)], tolerance)
    u, v = np.array(_mm(shape.points[1], shape.points[0])), np.array(_mm(shape.points[1], shape.points[2]))
    expected = math.degrees(math.acos(u @ v / np.linalg.norm(u) / np.linalg.norm(v)))
    assert float(label.removesuffix("°")) == pytest.approx(expected, abs=0.05)
    assert window.statusBar().currentMessage() == ""

    # B: a Cobb angle, a drag along each endplate
    qtbot.keyClick(canvas, Qt.Key.Key_B)
    drag(qtbot, canvas, _at(window, 20, 80), _at(window, 70, 90))
    drag(qtbot, canvas, _at(window, 25, 120), _at(window, 75, 100))
    shape, label = _last(window)
    assert shape.kind == "cobb"
    first, second = _mm(shape.points[0], shape.points[1]), _mm(shape.points[2], shape.points[3])
    between = abs(math.degrees(math.atan2(first[1], first[0]) - math.atan2(second[1], second[0]))) % 180
    assert float(label.removeprefix("Cobb ").removesuffix("°")) == pytest.approx(min(between, 180 - between),
                                                                                 abs=0.05)

    # T: a cardiothoracic ratio, the heart's diameter then the thorax's, each kept horizontal
    qtbot.keyClick(canvas, Qt.Key.Key_T)
    drag(qtbot, canvas, _at(window, 80, 110), _at(window, 125, 113))
    drag(qtbot, canvas, _at(window, 60, 140), _at(window, 150, 137))
    shape, label = _last(window)
    (a, b, c, d) = shape.points
    assert shape.kind == "ctr" and a[1] == b[1] and c[1] == d[1]
    assert label == f"CTR {abs(b[0] - a[0]) / abs(d[0] - c[0]):.2f}"
    assert abs(b[0] - a[0]) == pytest.approx(45, abs=2 * tolerance)

    # E and G: regions, with their pixels' statistics and their area in mm²
    for key, kind, corners in ((Qt.Key.Key_E, "ellipse", ((140, 90), (190, 150))),
                               (Qt.Key.Key_G, "rect", ((5, 130), (45, 155)))):
        qtbot.keyClick(canvas, key)
        drag(qtbot, canvas, _at(window, *corners[0]), _at(window, *corners[1]))
        shape, label = _last(window)
        assert shape.kind == kind and _near(shape.points, corners, tolerance)
        mean, sd, low, high = _region_stats(kind, *shape.points)
        numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", label)]
        assert numbers[:4] == pytest.approx([mean, sd, low, high], abs=0.051), label
        width, height = (abs(q - p) for p, q in zip(*shape.points))
        area = width * COL_MM * height * ROW_MM * (math.pi / 4 if kind == "ellipse" else 1)
        assert label.endswith("mm²") and numbers[4] == pytest.approx(area, abs=0.051)

    # Shift+A: an arrow, from its tip to its tail
    qtbot.keyClick(canvas, Qt.Key.Key_A, SHIFT)
    assert window.tool_actions[window.canvas.tool].text().replace("&", "") == "Arrow"
    drag(qtbot, canvas, _at(window, 85, 60), _at(window, 110, 75))
    shape, label = _last(window)
    assert shape.kind == "arrow" and _near(shape.points, [(85, 60), (110, 75)], tolerance) and label == ""

    # Shift+T: a text, its words asked for when the button comes up
    monkeypatch.setattr(QInputDialog, "getText", lambda *args, **kwargs: ("Line tip here?", True))
    qtbot.keyClick(canvas, Qt.Key.Key_T, SHIFT)
    click(qtbot, canvas, _at(window, 60, 8))
    shape, label = _last(window)
    assert shape.kind == "text" and label == "Line tip here?" and _near(shape.points, [(60, 8)], tolerance)
    monkeypatch.setattr(QInputDialog, "getText", lambda *args, **kwargs: ("", False))  # cancelled: none
    click(qtbot, canvas, _at(window, 80, 8))
    assert len(canvas.measurements) == 8
    screenshot(window, "every-tool")


def test_select_move_edit_delete_undo_and_redo_with_the_mouse_and_keys(qtbot, make_window, tmp_path: Path,
                                                                      screenshot) -> None:
    window = _window(qtbot, make_window, tmp_path)
    canvas = window.canvas
    tolerance = 1.0 / canvas.view.zoom
    qtbot.keyClick(canvas, Qt.Key.Key_M)
    drag(qtbot, canvas, _at(window, 20, 20), _at(window, 80, 20))
    drag(qtbot, canvas, _at(window, 20, 100), _at(window, 80, 140))
    drawn = canvas.measurements[0]

    qtbot.keyClick(canvas, Qt.Key.Key_P)  # a view tool: a click on empty image draws nothing
    click(qtbot, canvas, _at(window, 150, 60))
    assert canvas.selected_measurement is None and len(canvas.measurements) == 2
    click(qtbot, canvas, _at(window, 50, 20))  # on the first ruler: selected, not moved
    assert canvas.selected_measurement == 0 and canvas.measurements[0] == drawn

    drag(qtbot, canvas, _at(window, 50, 20), _at(window, 70, 40))  # the selected ruler follows
    moved = canvas.measurements[0]
    assert _near(moved.points, [(40, 40), (100, 40)], 2 * tolerance)
    drag(qtbot, canvas, _at(window, *moved.points[1]), _at(window, 120, 70))  # its end's handle
    edited = canvas.measurements[0]
    assert edited.points[0] == moved.points[0] and _near(edited.points[1:], [(120, 70)], tolerance)
    screenshot(window, "edited")

    qtbot.keyClick(canvas, Qt.Key.Key_Delete)
    assert canvas.measurements == [canvas.measurements[0]] and edited not in canvas.measurements
    qtbot.keyClick(canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert canvas.measurements[0] == edited
    qtbot.keyClick(canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert canvas.measurements[0] == moved, "a handle drag is one step of undo"
    qtbot.keyClick(canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert canvas.measurements[0] == drawn, "a move is one step of undo"
    qtbot.keyClick(canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | SHIFT)
    assert canvas.measurements[0] == moved
    qtbot.keyClick(canvas, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)
    assert canvas.measurements[0] == edited

    qtbot.keyClick(canvas, Qt.Key.Key_Delete, Qt.KeyboardModifier.ControlModifier)
    assert canvas.measurements == []
    qtbot.keyClick(canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert len(canvas.measurements) == 2, "undo brings back what Clear removed"

    # Esc stops a shape half drawn: nothing is added
    qtbot.keyClick(canvas, Qt.Key.Key_A)
    drag(qtbot, canvas, _at(window, 120, 100), _at(window, 150, 120))
    assert canvas.editor.draft is not None
    qtbot.keyClick(canvas, Qt.Key.Key_Escape)
    assert canvas.editor.draft is None and len(canvas.measurements) == 2
    # the mouse layouts still work around the tools: Ctrl+left-drag windows, not draws
    before = canvas.window
    drag(qtbot, canvas, _at(window, 120, 100), _at(window, 150, 130), modifiers=Qt.KeyboardModifier.ControlModifier)
    assert canvas.window != before and len(canvas.measurements) == 2


def test_an_exported_view_carries_the_annotations_without_the_selection(qtbot, make_window, tmp_path: Path) -> None:
    window = _window(qtbot, make_window, tmp_path)
    canvas = window.canvas
    plain = cv2.imread(str(window.export_png(tmp_path / "plain.png")))
    qtbot.keyClick(canvas, Qt.Key.Key_G)
    drag(qtbot, canvas, _at(window, 40, 40), _at(window, 120, 100))
    qtbot.keyClick(canvas, Qt.Key.Key_A, SHIFT)
    drag(qtbot, canvas, _at(window, 150, 30), _at(window, 190, 60))
    annotated = cv2.imread(str(window.export_png(tmp_path / "annotated.png")))
    assert plain.shape == annotated.shape
    differs = np.any(plain != annotated, axis=2)
    for x, y in ((40, 70), (120, 70), (80, 40), (170, 45)):  # the rectangle's sides, the arrow's middle
        p = _at(window, x, y)
        assert differs[p.y() - 2: p.y() + 3, p.x() - 2: p.x() + 3].any(), f"nothing drawn at image ({x}, {y})"
    # the selected arrow's handles are the screen's, not the export's: selecting changes nothing
    canvas.select_measurement(None)
    unselected = cv2.imread(str(window.export_png(tmp_path / "unselected.png")))
    assert np.array_equal(unselected, annotated)
    assert not differs[_at(window, 10, 150).y(), _at(window, 10, 150).x()]


def test_the_status_bar_says_where_lengths_come_from(qtbot, make_window, tmp_path: Path) -> None:
    window = make_window(None, "no model in this test")
    window.open_path(write_dicom(tmp_path / "none.dcm", _pixels(), spacing=None))
    wait_for_image(qtbot, window)
    activate(qtbot, window)
    assert window.spacing_label.text().startswith("px: no pixel spacing")
    drag(qtbot, window.canvas, _at(window, 10, 10), _at(window, 50, 40), modifiers=SHIFT)  # measures anywhere
    assert window.measure_label.text().endswith(" px")
    assert window.canvas.measurement_at(QPointF(_at(window, 30, 25))) == 0
