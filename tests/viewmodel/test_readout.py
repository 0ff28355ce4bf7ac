"""The text over the image, and the file name left out of exports."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from viewer.core.radiograph import Radiograph, Window
from viewer.viewmodel.readout import level_text, readout, window_text
from viewer.viewmodel.view_transform import ViewTransform


def radiograph(spacing: tuple[float, float] | None = (0.143, 0.143)) -> Radiograph:
    return Radiograph(Path("/data/DOE^JANE_1234.dcm"), np.zeros((20, 30), np.uint16), "dicom", "MONOCHROME1", 12,
                      pixel_spacing=spacing)


def test_the_screen_names_the_file_and_an_export_does_not() -> None:
    view = ViewTransform()
    on_screen = readout(radiograph(), None, False, view, for_export=False)
    exported = readout(radiograph(), None, False, view, for_export=True)
    assert on_screen.top_left[0] == "DOE^JANE_1234.dcm"
    assert not any("DOE" in line for line in exported.top_left + exported.bottom_left + exported.top_right)
    assert exported.top_left == ("30 x 20 px  DICOM  MONOCHROME1", "spacing 0.143 x 0.143 mm")
    assert readout(radiograph(None), None, False, view, for_export=True).top_left[1] == \
        "pixel spacing unknown: distances in pixels"


def test_window_and_view_lines() -> None:
    view = ViewTransform()
    view.zoom = 0.5
    text = readout(radiograph(), Window(2048, 4096, "Header 1"), True, view, for_export=False)
    assert text.bottom_left == ("W 4096  L 2048 (Header 1)", "inverted")
    assert text.top_right == ("zoom 50%",)
    view.rotate()  # clockwise, then mirrored left-right: the top now points right
    view.flip()
    assert readout(radiograph(), Window(0.5, 0.25), False, view, for_export=False).top_right == (
        "zoom 50%", "rotated 90\N{DEGREE SIGN}, flipped")
    assert readout(radiograph(), Window(0.5, 0.25), False, view, for_export=False).bottom_left == ("W 0.25  L 0.5",)


def test_levels_read_in_whole_units_for_integer_data_and_four_digits_otherwise() -> None:
    assert level_text(334.688, integer=True) == "335" and level_text(87.6562, integer=True) == "88"
    assert level_text(334.688) == "334.7" and level_text(87.6562) == "87.66" and level_text(0.12345) == "0.1235"
    assert level_text(4095.4) == "4095" and level_text(-150.6) == "-150.6" and level_text(-0.0) == "0"
    assert level_text(0.25, integer=True) == "0.25"  # below one unit: never shown as 0
    assert window_text(Window(87.6562, 334.688), integer=True) == "W 335  L 88"


def test_the_overlay_rounds_by_the_datas_type_unless_told() -> None:
    view = ViewTransform()
    window = Window(87.6562, 334.688, "Manual")
    assert readout(radiograph(), window, False, view, for_export=False).bottom_left == ("W 335  L 88 (Manual)",)
    assert readout(radiograph(), window, False, view, for_export=False, integer=False).bottom_left == (
        "W 334.7  L 87.66 (Manual)",)
