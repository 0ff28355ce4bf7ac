"""NIH PNGs get their pixel spacing from Data_Entry: the original image's spacing scaled, per
axis, to the size of the PNG on disk, and the window says where it came from. Checked with a
ruler drawn with the mouse (Shift+drag) on a generated NIH-like folder and on real NIH images."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from tests.conftest import shared_path
from tests.ui.conftest import WAIT_MS, wait_for_image
from tests.ui.images import chest_png
from viewer.ui.main_window import MainWindow

HEADER = ("Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position,"
          "OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y]\n")


def _show(qtbot, window: MainWindow, path: Path) -> tuple[float, float]:
    """Open ``path``'s folder at ``path``; the spacing the image got (row, column mm)."""
    window.open_path(path.parent)
    qtbot.waitUntil(lambda: window.browser.select_path(path), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: window.image.loaded is not None and window.image.loaded.path == path, timeout=WAIT_MS)
    wait_for_image(qtbot, window)
    rg = window.canvas.radiograph
    qtbot.waitUntil(lambda: rg.pixel_spacing is not None, timeout=WAIT_MS)
    return rg.pixel_spacing


def _ruler(window: MainWindow) -> None:
    """Shift+drag across the image, as a user measures."""
    canvas = window.canvas
    start = QPoint(canvas.width() // 3, canvas.height() // 3)
    end = QPoint(2 * canvas.width() // 3, 2 * canvas.height() // 3)
    QTest.mousePress(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier, start)
    QTest.mouseMove(canvas, end)
    QTest.mouseRelease(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier, end)


def _expected_mm(window: MainWindow, spacing: tuple[float, float]) -> float:
    (ax, ay), (bx, by) = window.canvas.measurement.points
    dx, dy = bx - ax, by - ay
    return math.hypot(dx * spacing[1], dy * spacing[0])


def test_an_nih_png_is_measured_in_mm_from_data_entry(qtbot, make_window, tmp_path: Path, screenshot) -> None:
    folder = tmp_path / "nih" / "images"
    png = chest_png(folder / "00000001_000.png", seed=1, size=512)
    (tmp_path / "nih" / "Data_Entry_2017_v2020.csv").write_text(
        HEADER + "00000001_000.png,Cardiomegaly,0,1,57,M,PA,2682,2749,0.143,0.143\n")
    window = make_window(None, "no model")
    spacing = _show(qtbot, window, png)
    assert spacing == pytest.approx((0.143 * 2749 / 512, 0.143 * 2682 / 512))  # (row, column): not square
    note = window.tags.note.text()
    assert "Data_Entry_2017_v2020.csv" in note and "scaled to 512 x 512" in note and "2682 x 2749" in note

    _ruler(window)
    text = window.measure_label.text()
    assert text.endswith(" mm") and "no pixel spacing" not in text, text
    assert float(text.split()[1]) == pytest.approx(_expected_mm(window, spacing), abs=0.06)
    screenshot(window, "ruler-in-mm")


@pytest.mark.shared_data
def test_real_nih_images_of_both_sizes_get_their_own_scale(qtbot, make_window, tmp_path: Path, screenshot) -> None:
    """The sample holds original 1024 x 1024 images and copies downsampled to 512 x 512."""
    sample = shared_path("nih-sample")
    folder = tmp_path / "nih" / "images"
    folder.mkdir(parents=True)
    (tmp_path / "nih" / "Data_Entry_2017_v2020.csv").symlink_to(sample / "Data_Entry_2017_v2020.csv")
    for name in ("00000001_000.png", "00000001_002.png"):  # 512 x 512 and 1024 x 1024 on disk
        shutil.copy(sample / "images" / name, folder / name)
    window = make_window(None, "no model")

    small = _show(qtbot, window, folder / "00000001_000.png")
    assert window.canvas.radiograph.width == 512
    assert small == pytest.approx((0.143 * 2749 / 512, 0.143 * 2682 / 512))
    assert "scaled to 512 x 512" in window.tags.note.text()

    window.browser.select_path(folder / "00000001_002.png")
    qtbot.waitUntil(lambda: window.image.loaded is not None and window.image.loaded.path.name == "00000001_002.png",
                    timeout=WAIT_MS)
    rg = window.image.loaded.radiograph
    qtbot.waitUntil(lambda: rg.pixel_spacing is not None, timeout=WAIT_MS)
    assert rg.width == 1024  # its Data_Entry row: 2500 x 2048 at 0.168 mm
    assert rg.pixel_spacing == pytest.approx((0.168 * 2048 / 1024, 0.168 * 2500 / 1024))
    assert "scaled to 1024 x 1024" in window.tags.note.text()
    _ruler(window)
    assert window.measure_label.text().endswith(" mm")
    screenshot(window, "real-1024")
