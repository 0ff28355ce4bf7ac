"""The canvas on its own: window/level by dragging, zoom around the cursor, pan, rotate/flip,
the pixel read-out and the ruler. Display pixels are checked against the core's
``to_unit_grey`` (THE windowing function), not against numbers copied from the code."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication

from tests.ui.images import chest_dicom, chest_png, ramp_png, write_dicom
from viewer.core.display_transforms import to_unit_grey
from viewer.core.loader import load_radiograph
from viewer.core.radiograph import Window
from viewer.ui.canvas import TOOL_RULER, ImageCanvas, as_uint8_view
from viewer.ui.display import GreyRenderer


def _canvas(qtbot, path: Path, size: tuple[int, int] = (600, 500)) -> ImageCanvas:
    radiograph = load_radiograph(path)
    canvas = ImageCanvas()
    qtbot.addWidget(canvas)
    canvas.resize(*size)
    canvas.show()
    canvas.set_image(radiograph, GreyRenderer(radiograph))
    return canvas


def _wheel(canvas: ImageCanvas, pos: QPointF, delta: int) -> None:
    event = QWheelEvent(pos, canvas.mapToGlobal(pos), QPoint(0, 0), QPoint(0, delta),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(canvas, event)


@pytest.mark.parametrize("photometric", ["MONOCHROME2", "MONOCHROME1"])
def test_display_lut_matches_the_core_windowing(tmp_path: Path, photometric: str) -> None:
    path = chest_dicom(tmp_path / "a.dcm", photometric=photometric, window=(1800, 3000))
    rg = load_radiograph(path)
    renderer = GreyRenderer(rg)
    for window in (renderer.default_window, Window(1000, 500, "narrow", "LINEAR"),
                   Window(2500, 800, "sigmoid", "SIGMOID")):
        expected = np.rint(to_unit_grey(rg, window) * 255)
        shown = renderer.unit_grey(window).astype(np.float64)
        assert np.abs(shown - expected).max() <= 1.0, window


def test_window_level_by_right_drag_and_ctrl_drag(qtbot, tmp_path: Path) -> None:
    canvas = _canvas(qtbot, chest_dicom(tmp_path / "a.dcm", window=(2048, 4096)))
    start = canvas.window
    assert (start.center, start.width) == (2048, 4096)
    step = canvas.window_drag_step()
    seen: list[Window] = []
    canvas.window_changed.connect(seen.append)
    before = as_uint8_view(canvas.grab().toImage()).mean()

    origin = QPoint(300, 250)
    qtbot.mousePress(canvas, Qt.MouseButton.RightButton, pos=origin)
    qtbot.mouseMove(canvas, origin + QPoint(-60, 40))
    qtbot.mouseRelease(canvas, Qt.MouseButton.RightButton, pos=origin + QPoint(-60, 40))
    after = canvas.window
    assert after.width == pytest.approx(start.width - 60 * step)
    assert after.center == pytest.approx(start.center + 40 * step)
    assert seen and seen[-1] == after
    # A higher level on a MONOCHROME2 image makes it darker.
    assert as_uint8_view(canvas.grab().toImage()).mean() < before

    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier, origin)
    qtbot.mouseMove(canvas, origin + QPoint(100, -20))
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier,
                       origin + QPoint(100, -20))
    assert canvas.window.width == pytest.approx(after.width + 100 * step)
    assert canvas.window.center == pytest.approx(after.center - 20 * step)


def test_wheel_zooms_around_the_cursor_and_drag_pans(qtbot, tmp_path: Path) -> None:
    canvas = _canvas(qtbot, chest_png(tmp_path / "a.png", size=256))
    cursor = QPointF(180, 140)
    under = canvas.widget_to_image(cursor)
    zoom = canvas.view.zoom
    _wheel(canvas, cursor, 240)
    assert canvas.view.zoom > zoom
    again = canvas.widget_to_image(cursor)
    assert (again.x(), again.y()) == pytest.approx((under.x(), under.y()), abs=1e-6)

    grabbed = canvas.widget_to_image(QPointF(300, 250))
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=QPoint(300, 250))
    qtbot.mouseMove(canvas, QPoint(340, 230))
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=QPoint(340, 230))
    moved = canvas.image_to_widget(grabbed.x(), grabbed.y())
    assert (moved.x(), moved.y()) == pytest.approx((340, 230), abs=1e-6)


def test_fit_and_actual_size(qtbot, tmp_path: Path) -> None:
    canvas = _canvas(qtbot, chest_png(tmp_path / "a.png", size=1000), size=(600, 500))
    canvas.fit()
    top_left, bottom_right = canvas.image_to_widget(0, 0), canvas.image_to_widget(1000, 1000)
    assert bottom_right.y() - top_left.y() <= 500 and bottom_right.x() - top_left.x() <= 600
    assert bottom_right.y() - top_left.y() >= 480  # fills the limiting side (a small margin)
    canvas.actual_size()
    a, b = canvas.image_to_widget(10, 10), canvas.image_to_widget(20, 10)
    assert b.x() - a.x() == pytest.approx(10.0)


def test_rotate_and_flip_move_the_corners_where_expected(qtbot, tmp_path: Path) -> None:
    canvas = _canvas(qtbot, chest_png(tmp_path / "a.png", size=200))
    w = h = 200

    def corner_on_screen() -> tuple[bool, bool]:
        p = canvas.image_to_widget(0, 0)  # the image's top-left corner
        c = canvas.image_to_widget(w / 2, h / 2)
        return p.x() < c.x(), p.y() < c.y()  # (is left, is top)

    assert corner_on_screen() == (True, True)
    canvas.rotate(clockwise=True)
    assert corner_on_screen() == (False, True)  # top-left goes to the top-right
    canvas.rotate(clockwise=False)
    canvas.flip(horizontal=True)
    assert corner_on_screen() == (False, True)
    canvas.flip(horizontal=True)
    canvas.flip(horizontal=False)
    assert corner_on_screen() == (True, False)
    canvas.rotate(clockwise=True)
    for point in (QPointF(12.5, 40.0), QPointF(150.0, 3.0)):  # mapping stays invertible
        back = canvas.widget_to_image(canvas.image_to_widget(point.x(), point.y()))
        assert (back.x(), back.y()) == pytest.approx((point.x(), point.y()), abs=1e-6)
    canvas.reset_view()
    assert corner_on_screen() == (True, True)


def test_invert_flips_the_grey_levels(qtbot, tmp_path: Path) -> None:
    canvas = _canvas(qtbot, chest_png(tmp_path / "a.png"))
    frame = canvas._frames[0].array.copy()
    canvas.set_invert(True)
    assert np.array_equal(canvas._frames[0].array, 255 - frame)


def test_cursor_reports_the_pixel_value_and_position(qtbot, tmp_path: Path) -> None:
    canvas = _canvas(qtbot, ramp_png(tmp_path / "ramp.png"))
    seen = []
    canvas.cursor_moved.connect(seen.append)
    target = canvas.image_to_widget(37.5, 20.5)
    qtbot.mouseMove(canvas, target.toPoint())
    info = seen[-1]
    assert info is not None
    expected_x = math.floor(canvas.widget_to_image(QPointF(target.toPoint())).x())
    assert info.x == expected_x and info.value == pytest.approx(expected_x * 2)


def test_ruler_in_mm_with_spacing_and_in_pixels_without(qtbot, tmp_path: Path) -> None:
    pixels = np.zeros((100, 100), np.uint16) + 500
    with_spacing = _canvas(qtbot, write_dicom(tmp_path / "mm.dcm", pixels, spacing=(0.5, 0.25)))
    with_spacing.tool = TOOL_RULER
    a, b = with_spacing.image_to_widget(10, 10), with_spacing.image_to_widget(50, 40)
    qtbot.mousePress(with_spacing, Qt.MouseButton.LeftButton, pos=a.toPoint())
    qtbot.mouseMove(with_spacing, b.toPoint())
    qtbot.mouseRelease(with_spacing, Qt.MouseButton.LeftButton, pos=b.toPoint())
    (ax, ay), (bx, by) = with_spacing.measurement.points
    dx, dy = bx - ax, by - ay
    label = with_spacing.measurement_labels()[-1]
    assert label.endswith(" mm") and float(label.split()[0]) == pytest.approx(math.hypot(dx * 0.25, dy * 0.5), abs=0.05)
    assert with_spacing.spacing_note() == "mm from PixelSpacing"

    for name, spacing in (("none.dcm", None), ("zero.dcm", (0.0, 0.0))):
        canvas = _canvas(qtbot, write_dicom(tmp_path / name, pixels, spacing=spacing))
        a, b = canvas.image_to_widget(10, 10), canvas.image_to_widget(50, 40)
        qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier, a.toPoint())
        qtbot.mouseMove(canvas, b.toPoint())
        qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier, b.toPoint())
        (ax, ay), (bx, by) = canvas.measurement.points
        label = canvas.measurement_labels()[-1]
        assert label.endswith(" px") and "no pixel spacing" in canvas.spacing_note()
        assert float(label.split()[0]) == pytest.approx(math.hypot(bx - ax, by - ay), abs=0.05)


def test_void_calls_and_emits_do_not_use_up_none_or_true(qtbot) -> None:
    """PySide6 6.12.0 on CPython 3.11 lost a reference to None on every void call and to True
    on every emit, and the viewer aborted (none_dealloc) after a few thousand; pyproject.toml
    pins it out. With an affected PySide6 this test aborts or fails."""
    import sys

    from PySide6.QtCore import QObject, Signal

    class Source(QObject):
        happened = Signal(int)

    source = Source()
    received = []
    source.happened.connect(received.append)
    none_before, true_before = sys.getrefcount(None), sys.getrefcount(True)
    for i in range(20_000):
        source.setObjectName("x")  # a void method
        source.happened.emit(i)
    assert len(received) == 20_000
    assert sys.getrefcount(None) > none_before - 1_000  # other threads may drop a few
    assert sys.getrefcount(True) > true_before - 1_000


def test_heatmap_set_marks_empty_maps_and_colours_only_the_high_part(qtbot) -> None:
    from viewer.ui.colormaps import ALPHA_START
    from viewer.ui.overlay import HeatmapSet

    maps = np.zeros((2, 7, 7), np.float32)
    maps[1, 2, 5] = 3.0  # one hot cell
    heatmaps = HeatmapSet.from_gradcam(("Empty", "Spot"), maps, 300, 200)
    assert heatmaps.is_empty("Empty") and not heatmaps.is_empty("Spot")
    assert heatmaps.maps.shape[1:] == (300, 200)  # the image grid (no larger than 512 px)
    assert HeatmapSet.from_gradcam(("A",), maps[1:], 2000, 1000).maps.shape[1:] == (512, 256)
    spot = heatmaps.normalised("Spot")
    y, x = np.unravel_index(int(np.argmax(spot)), spot.shape)
    assert (y * 7 // spot.shape[0], x * 7 // spot.shape[1]) == (2, 5)
    image = heatmaps.image("Spot").convertToFormat(heatmaps.image("Spot").Format.Format_RGBA8888)
    alpha = np.frombuffer(image.constBits(), np.uint8).reshape(spot.shape[0], -1, 4)[:, : spot.shape[1], 3]
    assert alpha[spot < ALPHA_START * 255].max() == 0 and alpha[spot == 255].min() == 255
