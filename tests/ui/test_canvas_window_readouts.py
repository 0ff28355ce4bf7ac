"""Window/level read-outs agree: after a right-drag the overlay, the presets list and the status
bar all say the same (Manual, the same rounded numbers); an 8-bit PNG offers no preset twice;
an unreadable file leaves no window of the image before it in the status bar."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QComboBox

from tests.ui.canvas_helpers import RIGHT, activate, drag, open_folder, wait_for_path
from tests.ui.conftest import wait_for_image
from tests.ui.images import chest_dicom, chest_png, write_dicom
from viewer.viewmodel.readout import readout


def _shown(combo: QComboBox) -> str:
    """What a combo box shows: its current item, or its placeholder when none is current."""
    return combo.currentText() if combo.currentIndex() >= 0 else combo.placeholderText()


def _right_drag(qtbot, window, dx: int, dy: int) -> None:
    canvas = window.canvas
    origin = QPoint(canvas.width() // 2, canvas.height() // 2)
    drag(qtbot, canvas, origin, origin + QPoint(dx, dy), RIGHT)


def _overlay_window_line(window) -> str:
    c = window.canvas
    lines = readout(c.radiograph, c.window, c.inverted, c.view, for_export=False).bottom_left
    return next(line for line in lines if line.startswith("W "))


def test_after_a_right_drag_overlay_presets_and_status_bar_agree(qtbot, make_window, tmp_path: Path,
                                                                 screenshot) -> None:
    window = make_window(None, "no model in this test")
    window.open_path(chest_dicom(tmp_path / "a.dcm", window=(2048, 4096)))
    wait_for_image(qtbot, window)
    assert _shown(window.presets) == "Header 1  [1]", "a new image's window is not named in the presets list"
    _right_drag(qtbot, window, 43, 11)
    status = window.window_label.text()
    assert _shown(window.presets) == "Manual", "the presets list still names a preset after a manual drag"
    assert re.fullmatch(r"W \d+  L \d+", status), f"integer data, yet the status bar says {status!r}"
    assert _overlay_window_line(window).startswith(status + " "), (status, _overlay_window_line(window))
    screenshot(window, "manual-window")

    # a preset again: the list names it once more
    activate(qtbot, window)
    qtbot.keyClick(window.canvas, Qt.Key.Key_2)
    assert _shown(window.presets) == "Lung  [2]"

    # another image opens with its own first preset named, not "Manual"
    _right_drag(qtbot, window, 20, 20)
    window.open_path(chest_png(tmp_path / "b.png"))
    wait_for_image(qtbot, window)
    assert _shown(window.presets) == "Full range  [1]"


def test_float_data_shows_a_few_significant_digits(qtbot, make_window, tmp_path: Path) -> None:
    path = write_dicom(tmp_path / "f.dcm", (np.arange(64 * 64).reshape(64, 64) % 4000).astype(np.uint16))
    import pydicom

    ds = pydicom.dcmread(path)
    ds.RescaleSlope, ds.RescaleIntercept = "0.0137", "-3.3"
    ds.save_as(path)
    window = make_window(None, "no model in this test")
    window.open_path(path)
    wait_for_image(qtbot, window)
    _right_drag(qtbot, window, 37, -13)
    status = window.window_label.text()
    numbers = re.fullmatch(r"W (\S+)  L (\S+)", status)
    assert numbers, status
    for number in numbers.groups():
        digits = number.lstrip("-").replace(".", "").lstrip("0")
        assert len(digits) <= 4, f"{number} in {status!r}: more digits than the data mean"
    assert _overlay_window_line(window).startswith(status + " ")


def test_an_8_bit_png_lists_no_window_twice_and_the_keys_follow_the_list(qtbot, make_window,
                                                                          tmp_path: Path) -> None:
    grey = np.tile(np.arange(256, dtype=np.uint8), (64, 1))  # every value 0..255: full range = data range
    cv2.imwrite(str(tmp_path / "ramp.png"), grey)
    window = make_window(None, "no model in this test")
    window.open_path(tmp_path / "ramp.png")
    wait_for_image(qtbot, window)
    windows = [window.presets.itemData(i) for i in range(window.presets.count())]
    spans = [(round(w.low, 3), round(w.high, 3)) for w in windows]
    assert len(set(spans)) == len(spans), f"the same window offered twice: {spans}"
    labels = [window.presets.itemText(i) for i in range(window.presets.count())]
    assert [re.search(r"\[(\d)\]$", label).group(1) for label in labels] == [str(i + 1) for i in range(len(labels))]
    activate(qtbot, window)
    for i in range(len(windows)):
        qtbot.keyClick(window.canvas, getattr(Qt.Key, f"Key_{i + 1}"))
        assert window.canvas.window == windows[i] and window.presets.currentIndex() == i


def test_an_unreadable_file_clears_the_window_read_out(qtbot, make_window, tmp_path: Path, screenshot) -> None:
    folder = tmp_path / "study"
    chest_png(folder / "a_good.png", size=96)
    good = (folder / "a_good.png").read_bytes()
    (folder / "b_broken.png").write_bytes(good[:80])  # a header the scan reads, pixels cut off
    window = make_window(None, "no model in this test")
    open_folder(qtbot, window, folder)
    wait_for_path(qtbot, window, folder / "a_good.png")
    assert window.window_label.text()
    window.act_next.trigger()
    qtbot.waitUntil(lambda: window.image.path == folder / "b_broken.png" and window.errors.count() > 0)
    assert window.canvas.radiograph is None
    assert window.window_label.text() == "", "the status bar keeps the window of the image before"
    assert window.presets.count() == 0, "the presets of the image before are still offered"
    assert _shown(window.presets) == "" and not window.presets.isEnabled()
    screenshot(window, "unreadable")
