"""The series and instance rows' words, and the canvas's caption for the image on screen."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from viewer.core.radiograph import SourceFormat
from viewer.core.scan import ScannedImage
from viewer.viewmodel.series_text import (
    has_series_row,
    image_row_text,
    series_caption,
    series_row_text,
    series_title,
)

DOT = "\N{MIDDLE DOT}"


def image(name: str, instance: int | None, *, fmt: SourceFormat = SourceFormat.DICOM, **facts: object) -> ScannedImage:
    base = ScannedImage(path=Path("/export") / name, relative_path=Path(name), format=fmt, patient_key=1,
                        study_key=1, series_key=1, patient_label="P", patient_id=None, study_label="S",
                        series_number=2, series_description="CHEST PA", instance_number=instance,
                        view_position="PA", modality="CR", acquired="2024-01-31 10:22")
    return replace(base, **facts)  # type: ignore[arg-type]


def test_series_rows_say_number_description_and_count() -> None:
    assert series_row_text(1, "CHEST PA", 3) == f"Series 1 {DOT} CHEST PA {DOT} 3 images"
    assert series_row_text(4, "  ", 1) == f"Series 4 {DOT} 1 image"
    assert series_row_text(None, "PORTABLE", 2) == f"Series {DOT} PORTABLE {DOT} 2 images"
    assert series_title(2, "CHEST PA") == "Series 2 CHEST PA"
    assert series_title(None, "") == "Series" and series_title(None, "LAT") == "LAT"


def test_instance_rows_say_which_instance_its_view_and_when() -> None:
    assert image_row_text(image("IM000003", 3)) == f"Image 3 {DOT} PA {DOT} 2024-01-31 10:22"
    assert image_row_text(image("IM000003", None, view_position=None, acquired=None)) == "IM000003"
    assert image_row_text(image("CINE", 4, frames=5)) == f"Image 4 {DOT} PA {DOT} 5 frames {DOT} 2024-01-31 10:22"
    png = image("00000001_000.png", None, fmt=SourceFormat.PNG, modality=None)
    assert not has_series_row(png) and image_row_text(png) == "00000001_000.png  [PA]"


def test_the_caption_places_the_image_in_its_series_by_instance_number() -> None:
    members = [image(f"IM{n:06d}", n) for n in (12, 3, 1, 7)]
    assert series_caption(members[1], members) == (
        f"Series 2 CHEST PA {DOT} image 2 of 4 {DOT} 2024-01-31 10:22")
    lone = image("IM000009", None, series_number=None, series_description="", acquired=None)
    assert series_caption(lone, [lone]) == f"Series {DOT} image 1 of 1"
    assert series_caption(members[0], []) == f"Series 2 CHEST PA {DOT} 2024-01-31 10:22"  # not listed yet
    assert series_caption(image("a.png", None, fmt=SourceFormat.PNG), []) is None
