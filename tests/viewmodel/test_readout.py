"""The text over the image, corner by corner, and what an export leaves out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from viewer.core.radiograph import Radiograph, Window
from viewer.viewmodel.annotations import ImageFacts
from viewer.viewmodel.readout import level_text, readout, window_text
from viewer.viewmodel.view_transform import ViewTransform


def radiograph(spacing: tuple[float, float] | None = (0.143, 0.143)) -> Radiograph:
    return Radiograph(Path("/data/DOE^JANE_1234.dcm"), np.zeros((20, 30), np.uint16), "dicom", "MONOCHROME1", 12,
                      pixel_spacing=spacing)


FACTS = ImageFacts(age="61 y", sex="F", study_date="2024-01-02", modality="DX", view="PA", laterality="L",
                   series=3, instance=7)


def test_the_screen_names_the_file_and_an_export_does_not() -> None:
    view = ViewTransform()
    on_screen = readout(radiograph(), None, False, view, for_export=False)
    exported = readout(radiograph(), None, False, view, for_export=True)
    assert on_screen.top_left[0] == "DOE^JANE_1234.dcm"
    assert not any("DOE" in line for line in exported.top_left + exported.bottom_left + exported.top_right)
    assert exported.bottom_left == ("30 x 20 px  DICOM  MONOCHROME1", "spacing 0.143 x 0.143 mm")
    assert readout(radiograph(None), None, False, view, for_export=True).bottom_left[1] == \
        "pixel spacing unknown: distances in pixels"


def test_the_corners_describe_the_image_and_an_export_leaves_the_identity_and_date_out() -> None:
    view = ViewTransform()
    identity = ("DOE, JANE", "ID 1234", "born 1970-01-01")
    text = readout(radiograph(), Window(2048, 4096), False, view, for_export=False, facts=FACTS, identity=identity)
    assert text.identity == identity and "born" not in repr(text)  # identity in no repr
    assert text.top_left == ("DOE^JANE_1234.dcm", "61 y  F", "2024-01-02")
    assert text.top_right == ("DX  PA  L", "Series 3  Image 7", "zoom 100%")
    exported = readout(radiograph(), Window(2048, 4096), False, view, for_export=True, facts=FACTS, identity=identity)
    assert exported.identity == () and exported.top_left == ("61 y  F",)
    assert exported.top_right == text.top_right


def test_a_scale_bar_needs_a_spacing_and_the_view_s_size() -> None:
    view = ViewTransform()
    bar = readout(radiograph(), None, False, view, for_export=True, viewport=(800.0, 600.0)).scale
    assert bar is not None and bar.label == "2 cm" and bar.length == pytest.approx(20 / 0.143)
    assert readout(radiograph(), None, False, view, for_export=True).scale is None
    assert readout(radiograph(None), None, False, view, for_export=True, viewport=(800.0, 600.0)).scale is None


def test_window_and_view_lines() -> None:
    view = ViewTransform()
    view.zoom = 0.5
    text = readout(radiograph(), Window(2048, 4096, "Header 1"), True, view, for_export=False)
    assert text.bottom_left[-2:] == ("W 4096  L 2048 (Header 1)", "inverted")
    assert text.top_right == ("zoom 50%",)
    view.rotate()  # clockwise, then mirrored left-right: the top now points right
    view.flip()
    assert readout(radiograph(), Window(0.5, 0.25), False, view, for_export=False).top_right == (
        "zoom 50%", "rotated 90\N{DEGREE SIGN}, flipped")
    assert readout(radiograph(), Window(0.5, 0.25), False, view, for_export=False).bottom_left[-1] == "W 0.25  L 0.5"


def test_levels_read_in_whole_units_for_integer_data_and_four_digits_otherwise() -> None:
    assert level_text(334.688, integer=True) == "335" and level_text(87.6562, integer=True) == "88"
    assert level_text(334.688) == "334.7" and level_text(87.6562) == "87.66" and level_text(0.12345) == "0.1235"
    assert level_text(4095.4) == "4095" and level_text(-150.6) == "-150.6" and level_text(-0.0) == "0"
    assert level_text(0.25, integer=True) == "0.25"  # below one unit: never shown as 0
    assert window_text(Window(87.6562, 334.688), integer=True) == "W 335  L 88"


def test_the_overlay_rounds_by_the_datas_type_unless_told() -> None:
    view = ViewTransform()
    window = Window(87.6562, 334.688, "Manual")
    assert readout(radiograph(), window, False, view, for_export=False).bottom_left[-1] == "W 335  L 88 (Manual)"
    assert readout(radiograph(), window, False, view, for_export=False, integer=False).bottom_left[-1] == \
        "W 334.7  L 87.66 (Manual)"
