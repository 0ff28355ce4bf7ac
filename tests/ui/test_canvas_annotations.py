"""Corner annotations as every viewer has them: age and sex, study date, series and instance,
view and laterality, the window, the zoom and a scale bar, read from the header (or, for an NIH
PNG, from Data_Entry); the patient's name, ID and birth date only behind a visible toggle, and
never in an exported view."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pydicom
from PySide6.QtWidgets import QApplication

from tests.ui.canvas_helpers import activate, open_folder, wait_for_path
from tests.ui.conftest import wait_for_image
from tests.ui.images import chest_dicom, chest_png
from viewer.ui.canvas import as_uint8_view

NAME, PATIENT_ID, BIRTH = "QUORVATH^ZENDRIC", "QZ-5518-0042", "19380217"


def _dicom(path: Path, age: str = "061Y", sex: str = "F") -> Path:
    chest_dicom(path, seed=3, size=256, spacing=(0.2, 0.2), window=(2048, 4096), patient_name=NAME,
                patient_id=PATIENT_ID, birth_date=BIRTH)
    ds = pydicom.dcmread(path)
    ds.PatientAge, ds.PatientSex = age, sex
    ds.SeriesNumber, ds.InstanceNumber = 3, 7
    ds.ImageLaterality = "L"
    ds.save_as(path)
    return path


def _canvas_pixels(window) -> np.ndarray:
    QApplication.processEvents()
    return as_uint8_view(window.canvas.grab().toImage())


def _identity_in(text: str) -> list[str]:
    return [secret for secret in ("QUORVATH", "ZENDRIC", PATIENT_ID, BIRTH, "1938-02-17") if secret in text]


def test_the_corners_show_what_the_header_says_and_identity_only_when_asked(qtbot, make_window, tmp_path: Path,
                                                                           screenshot) -> None:
    window = make_window(None, "no model in this test")
    # two images that differ only in age and sex look different on the canvas
    window.open_path(_dicom(tmp_path / "one" / "chest.dcm", "061Y", "F"))
    wait_for_image(qtbot, window)
    first = _canvas_pixels(window)
    window.open_path(_dicom(tmp_path / "two" / "chest.dcm", "034Y", "M"))
    wait_for_path(qtbot, window, tmp_path / "two" / "chest.dcm")
    same = np.array_equal(first, _canvas_pixels(window))
    assert not same, "the canvas does not show the age and sex"

    corners = window.canvas.annotations()
    text = "\n".join(corners.top_left + corners.top_right + corners.bottom_left)
    for expected in ("34 y", "M", "2024-01-02", "Series 3", "Image 7", "PA", "L", "W 4096  L 2048", "zoom"):
        assert expected in text, f"{expected!r} not in the corners:\n{text}"
    assert corners.scale is not None and corners.scale.label.endswith(("mm", "cm"))
    assert not _identity_in(text + "\n".join(corners.identity)), "identity shown without being asked for"
    assert not window.act_show_identity.isChecked()
    screenshot(window, "corners")

    activate(qtbot, window)
    window.act_show_identity.trigger()
    corners = window.canvas.annotations()
    shown = "\n".join(corners.identity)
    assert "QUORVATH" in shown and PATIENT_ID in shown and "1938-02-17" in shown
    assert window.identity_indicator.isVisible(), "no visible sign that identity is on screen"
    screenshot(window, "identity-shown")
    status = " ".join(w.text() for w in window.statusBar().findChildren(type(window.identity_indicator)))
    assert not _identity_in(status + window.statusBar().currentMessage())

    # the exported view is the same with the identity on screen or not, and the export leaves it on
    with_identity = window.export_png(tmp_path / "with.png")
    assert window.act_show_identity.isChecked()
    window.act_show_identity.trigger()
    assert not window.identity_indicator.isVisible()
    without = window.export_png(tmp_path / "without.png")
    a, b = cv2.imread(str(with_identity)), cv2.imread(str(without))
    assert a is not None and a.std() > 10
    same = np.array_equal(a, b)
    assert same, "the identity reached the exported view"


def test_an_nih_png_shows_age_sex_and_view_from_data_entry(qtbot, make_window, tmp_path: Path, screenshot) -> None:
    folder = tmp_path / "nih"
    chest_png(folder / "00000042_001.png", size=200)
    (folder / "Data_Entry_2017.csv").write_text(
        "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position\n"
        "00000042_001.png,Effusion,1,42,58,M,AP\n", encoding="utf-8")
    window = make_window(None, "no model in this test")
    open_folder(qtbot, window, folder)
    wait_for_path(qtbot, window, folder / "00000042_001.png")
    corners = window.canvas.annotations()
    text = "\n".join(corners.top_left + corners.top_right)
    assert "58 y" in text and "M" in text and "AP" in text, text
    assert corners.scale is None  # no pixel spacing: no scale bar
    screenshot(window, "nih-corners")


def test_the_spacing_line_says_where_a_spacing_not_of_the_image_came_from(qtbot, make_window, tmp_path) -> None:
    """ImagerPixelSpacing is at the detector, and an NIH PNG's comes from Data_Entry: say so."""
    from tests.ui.conftest import wait_for_image
    from tests.ui.images import chest_dicom

    path = chest_dicom(tmp_path / "detector.dcm", seed=3, spacing=(0.2, 0.2))
    import pydicom

    ds = pydicom.dcmread(path)
    ds.ImagerPixelSpacing = ds.PixelSpacing
    del ds.PixelSpacing
    ds.save_as(path)
    window = make_window(None, "no model in this test")
    window.open_path(path)
    wait_for_image(qtbot, window)
    lines = window.canvas.annotations().bottom_left
    assert any("spacing 0.200 x 0.200 mm" in line and "ImagerPixelSpacing" in line for line in lines), lines


def test_the_corner_texts_the_colour_key_and_the_scale_bar_never_overlap(qtbot, make_window, tmp_path: Path,
                                                                          tiny_model: Path, screenshot) -> None:
    """A narrow canvas (the docks wide, a small screen): the heatmap's key and the scale bar move
    up out of the bottom-left read-out's way instead of being drawn over it."""
    from tests.ui.conftest import wait_for_findings

    path = chest_dicom(tmp_path / "narrow.dcm", seed=4, spacing=(0.2, 0.2))
    window = make_window(tiny_model)
    window.open_path(path)
    wait_for_findings(qtbot, window)
    assert window.canvas.heatmap_visible
    for width in (700, 420, 320):
        window.canvas.setFixedWidth(width)
        QApplication.processEvents()
        blocks = window.canvas.corner_layout()
        placed = [rect for rect in (blocks.bottom_left, blocks.legend, blocks.scale) if rect is not None]
        assert len(placed) == 3, blocks
        for i, first in enumerate(placed):
            for second in placed[i + 1:]:
                assert not first.intersects(second), (width, blocks)
    screenshot(window.canvas, "narrow")
