"""Stacks on the canvas: a generated 5-frame DICOM scrolls (Up/Down, the wheel in the RadiAnt
layout) and plays (cine), the counter says the frame, the model runs on the frame shown and says
so; a series of single-frame files scrolls the same way; Left/Right still change image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
from PySide6.QtCore import QPointF, Qt

from tests.frames_factory import frames_from, radiograph_from_pydicom, write_native
from tests.ui.browser_helpers import dicom_instance
from tests.ui.canvas_helpers import activate, open_folder, wait_for_path, wheel
from tests.ui.conftest import WAIT_MS
from viewer.core.inference import Predictor
from viewer.core.loader import load_radiograph
from viewer.ui.main_window import MainWindow


def five_frames(folder: Path) -> Path:
    frames = frames_from(radiograph_from_pydicom(), 12)
    folder.mkdir(parents=True, exist_ok=True)
    path = write_native(folder / "cine.dcm", frames, bits_stored=12, RecommendedDisplayFrameRate=25,
                        PatientID="ID-CINE", PatientName="CINE^TEST", StudyDate="20240301")
    return path


def open_five_frames(qtbot, make_window, model: Path, tmp_path: Path) -> tuple[MainWindow, Path]:
    """A window on a folder holding the 5-frame file, its first frame on screen."""
    path = five_frames(tmp_path / "cine")
    window = make_window(model)
    open_folder(qtbot, window, tmp_path / "cine")
    wait_for_path(qtbot, window, path)
    return window, path


def corner_text(window: MainWindow) -> str:
    return " ".join(window.canvas.annotations().top_left)


def shown_frame(window: MainWindow) -> int | None:
    rg = window.canvas.radiograph
    return rg.frame_index if rg is not None else None


def wait_frame(qtbot, window: MainWindow, frame: int) -> None:
    qtbot.waitUntil(lambda: shown_frame(window) == frame, timeout=WAIT_MS)


def key(qtbot, window: MainWindow, k: Qt.Key) -> None:
    activate(qtbot, window)
    qtbot.keyClick(window.canvas, k)


def test_up_and_down_scroll_the_frames_keeping_the_view_and_the_model_runs_on_the_frame_shown(
        qtbot, make_window, tiny_model, tmp_path) -> None:
    window, path = open_five_frames(qtbot, make_window, tiny_model, tmp_path)
    assert window.image.frame_count == 5 and "Frame 1/5" in corner_text(window)
    assert "5 frames" in window.browser.row_text(path)[0]  # the browser says it is a stack
    window.canvas.zoom_by(2.0)
    zoom = window.canvas.view.zoom

    key(qtbot, window, Qt.Key.Key_Down)
    key(qtbot, window, Qt.Key.Key_Down)
    wait_frame(qtbot, window, 2)
    assert np.array_equal(window.canvas.radiograph.pixels, load_radiograph(path, frame=2).pixels)
    assert window.canvas.view.zoom == zoom  # another frame of the same image: the view stays
    assert "Frame 3/5" in corner_text(window)
    qtbot.waitUntil(lambda: window.image.analysed is not None, timeout=WAIT_MS)
    expected = Predictor(tiny_model).predict(load_radiograph(path, frame=2))
    assert np.allclose(window.image.analysed.findings.probabilities, expected.probabilities, atol=1e-5)
    assert "frame 3 of 5" in window.findings.notes.text()

    key(qtbot, window, Qt.Key.Key_Up)  # another frame: its own findings, not the last frame's
    wait_frame(qtbot, window, 1)
    qtbot.waitUntil(lambda: window.image.analysed is not None, timeout=WAIT_MS)
    expected = Predictor(tiny_model).predict(load_radiograph(path, frame=1))
    assert np.allclose(window.image.analysed.findings.probabilities, expected.probabilities, atol=1e-5)
    for _ in range(6):  # the stack stops at its end
        key(qtbot, window, Qt.Key.Key_Down)
    wait_frame(qtbot, window, 4)
    assert window.image.path == path


def test_the_wheel_scrolls_the_stack_in_the_radiant_layout(qtbot, make_window, tiny_model, tmp_path) -> None:
    window, path = open_five_frames(qtbot, make_window, tiny_model, tmp_path)
    window.mouse_layout_actions["radiant"].trigger()
    middle = QPointF(window.canvas.width() / 2, window.canvas.height() / 2)
    wheel(window.canvas, middle, -3)  # towards the user: on through the stack
    wait_frame(qtbot, window, 3)


def test_cine_plays_the_frames_at_the_headers_rate_and_stops_with_findings(
        qtbot, make_window, tiny_model, tmp_path) -> None:
    window, path = open_five_frames(qtbot, make_window, tiny_model, tmp_path)
    assert window.fps_box.value() == 25  # RecommendedDisplayFrameRate
    seen: set[int] = set()
    window.image.image_shown.connect(lambda loaded: seen.add(loaded.radiograph.frame_index))
    key(qtbot, window, Qt.Key.Key_V)
    assert window.act_cine.isChecked()
    qtbot.waitUntil(lambda: len(seen) >= 4, timeout=WAIT_MS)  # it loops through the frames
    key(qtbot, window, Qt.Key.Key_V)
    assert not window.act_cine.isChecked()
    stopped = window.image.frame
    qtbot.waitUntil(lambda: window.image.analysed is not None, timeout=WAIT_MS)
    assert shown_frame(window) == stopped
    assert f"frame {stopped + 1} of 5" in window.findings.notes.text()


def test_a_single_frame_image_has_no_cine(qtbot, make_window, tiny_model, nih_like_folder) -> None:
    window = make_window(tiny_model)
    open_folder(qtbot, window, nih_like_folder)
    key(qtbot, window, Qt.Key.Key_V)
    assert not window.act_cine.isChecked()


def test_a_series_scrolls_with_up_down_and_left_right_still_change_image(
        qtbot, make_window, tiny_model, tmp_path) -> None:
    folder = tmp_path / "series"
    study, series = pydicom.uid.generate_uid(), pydicom.uid.generate_uid()
    members = [dicom_instance(folder / f"im{n}.dcm", patient="S", study_uid=study, series_uid=series, series=1,
                              description="CHEST", instance=n, view="PA", acquired=None, seed=n) for n in (3, 1, 2)]
    other = dicom_instance(folder / "other.dcm", patient="S", study_uid=study, series_uid=pydicom.uid.generate_uid(),
                           series=2, description="CHEST LAT", instance=1, view="PA", acquired=None, seed=9)
    by_instance = sorted(members[:3], key=lambda p: p.name)  # im1, im2, im3
    window = make_window(tiny_model)
    open_folder(qtbot, window, folder)
    window.browser.select_path(by_instance[0])
    wait_for_path(qtbot, window, by_instance[0])
    window.canvas.zoom_by(1.7)
    zoom = window.canvas.view.zoom
    cleared: list[bool] = []
    window.image.image_cleared.connect(lambda: cleared.append(True))
    key(qtbot, window, Qt.Key.Key_Down)
    wait_for_path(qtbot, window, by_instance[1])
    # the next image of the series: no blank canvas between the two, and the same view
    assert not cleared and window.canvas.view.zoom == zoom
    key(qtbot, window, Qt.Key.Key_Down)
    key(qtbot, window, Qt.Key.Key_Down)  # the end of the series: Down stays
    wait_for_path(qtbot, window, by_instance[2])
    qtbot.wait(200)
    assert window.canvas.radiograph.path == by_instance[2]
    key(qtbot, window, Qt.Key.Key_Right)  # Right goes on to the next image, out of the series
    wait_for_path(qtbot, window, other)


def test_cine_plays_a_series_in_a_loop(qtbot, make_window, tiny_model, tmp_path) -> None:
    folder = tmp_path / "series"
    study, series = pydicom.uid.generate_uid(), pydicom.uid.generate_uid()
    paths = [dicom_instance(folder / f"im{n}.dcm", patient="S", study_uid=study, series_uid=series, series=1,
                            description="CHEST", instance=n, view="PA", acquired=None, seed=n) for n in (1, 2, 3)]
    window = make_window(tiny_model)
    open_folder(qtbot, window, folder)
    window.browser.select_path(paths[1])
    wait_for_path(qtbot, window, paths[1])
    window.fps_box.setValue(20)
    seen: list[Path] = []
    window.image.image_shown.connect(lambda loaded: seen.append(loaded.path))
    key(qtbot, window, Qt.Key.Key_V)
    assert window.act_cine.isChecked()
    qtbot.waitUntil(lambda: set(seen) == set(paths) and seen.count(paths[1]) >= 1 and len(seen) >= 4,
                    timeout=WAIT_MS)  # 3, 1 (it wraps round), 2...
    key(qtbot, window, Qt.Key.Key_V)
    assert not window.act_cine.isChecked()


def test_each_frame_keeps_its_own_measurements(qtbot, make_window, tiny_model, tmp_path) -> None:
    from tests.ui.canvas_helpers import drag

    window, path = open_five_frames(qtbot, make_window, tiny_model, tmp_path)
    canvas = window.canvas
    key(qtbot, window, Qt.Key.Key_M)  # the distance tool
    drag(qtbot, canvas, canvas.image_to_widget(10, 20), canvas.image_to_widget(60, 20))
    assert len(canvas.measurements) == 1
    key(qtbot, window, Qt.Key.Key_Down)
    wait_frame(qtbot, window, 1)
    assert canvas.measurements == []  # another frame: its own (none yet)
    key(qtbot, window, Qt.Key.Key_Up)
    wait_frame(qtbot, window, 0)
    qtbot.waitUntil(lambda: len(canvas.measurements) == 1, timeout=WAIT_MS)
