"""The corners' facts from a header or the scan, the identity lines, and the scale bar."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from pydicom.dataelem import RawDataElement
from pydicom.tag import Tag

from viewer.core.scan import ScannedImage
from viewer.viewmodel.annotations import ImageFacts, dicom_age, identity_lines, image_facts, scale_bar
from viewer.viewmodel.view_transform import ViewTransform


def header(**values: object) -> pydicom.Dataset:
    ds = pydicom.Dataset()
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    return ds


def raw(ds: pydicom.Dataset, tag: int, vr: str, value: bytes) -> None:
    """An element as it was in the file, converted only when read (as a file's header is)."""
    ds[tag] = RawDataElement(Tag(tag), vr, len(value), value, 0, True, True)


def scanned(**values: object) -> ScannedImage:
    fields: dict[str, object] = dict(path=Path("00000042_001.png"), relative_path=Path("00000042_001.png"),
                                     format="png", patient_key=1, study_key=1, series_key=1,
                                     patient_label="NIH patient 42", patient_id="42", study_label="Follow-up 1")
    fields.update(values)
    return ScannedImage(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("value, words", [("061Y", "61 y"), ("006M", "6 mo"), ("003W", "3 wk"), ("010D", "10 d"),
                                          ("45", "45 y"), ("", ""), ("old", ""), ("0X5Y", "")])
def test_dicom_ages_in_words(value: str, words: str) -> None:
    assert dicom_age(value) == words


def test_the_facts_come_from_the_header() -> None:
    ds = header(PatientAge="061Y", PatientSex="F", StudyDate="20240102", Modality="DX", ViewPosition="PA",
                ImageLaterality="L", SeriesNumber="3", InstanceNumber="7", PatientName="DOE^JANE")
    facts = image_facts(ds)
    assert facts == ImageFacts("61 y", "F", "2024-01-02", "DX", "PA", "L", 3, 7)
    assert (facts.age_sex, facts.acquisition, facts.position) == ("61 y  F", "DX  PA  L", "Series 3  Image 7")
    assert "DOE" not in repr(facts)


def test_unusable_header_values_are_left_out_and_the_scan_fills_in() -> None:
    ds = header(PatientAge="abc", StudyDate="2024")
    raw(ds, 0x00200011, "IS", b"inf ")  # SeriesNumber
    raw(ds, 0x00200013, "IS", b"nan ")  # InstanceNumber
    facts = image_facts(ds, scanned(age=58, sex="M", view_position="AP", series_number=2))
    assert (facts.age, facts.sex, facts.view, facts.series, facts.instance) == ("58 y", "M", "AP", 2, None)
    assert facts.study_date == "2024"  # not a plain date: as it is
    assert image_facts(None, scanned(age=58, sex="M", view_position="AP")).age_sex == "58 y  M"
    assert image_facts(None) == ImageFacts()


def test_identity_lines_from_the_header_or_the_scan() -> None:
    ds = header(PatientName="DOE^JANE^MARIE", PatientID="1234", PatientBirthDate="19700101")
    assert identity_lines(ds) == ("DOE, JANE MARIE", "ID 1234", "born 1970-01-01")
    assert identity_lines(header(PatientName="DOE")) == ("DOE",)
    assert identity_lines(header()) == ()
    assert identity_lines(None, scanned()) == ("NIH patient 42",)
    assert identity_lines(None) == ()


@pytest.mark.parametrize("zoom, expected_mm", [(1.0, 50.0), (0.2, 200.0), (8.0, 5.0), (0.5, 100.0)])
def test_the_scale_bar_is_a_round_length_at_most_the_room_it_has(zoom: float, expected_mm: float) -> None:
    view = ViewTransform()
    view.zoom = zoom
    bar = scale_bar(view, (0.2, 0.2), 300.0)
    assert bar is not None and bar.length <= 300.0
    assert bar.length * 0.2 / zoom == pytest.approx(expected_mm)
    assert bar.label == (f"{expected_mm / 10:g} cm" if expected_mm >= 10 else f"{expected_mm:g} mm")


def test_the_scale_bar_follows_the_axis_across_the_screen() -> None:
    view = ViewTransform()
    across = scale_bar(view, (0.1, 0.4), 300.0)  # rows 0.1 mm apart, columns 0.4 mm
    view.rotate()
    turned = scale_bar(view, (0.1, 0.4), 300.0)
    assert across is not None and turned is not None
    assert across.length * 0.4 == pytest.approx(100.0) and turned.length * 0.1 == pytest.approx(20.0)
    assert scale_bar(view, None, 300.0) is None and scale_bar(view, (0.0, 0.2), 300.0) is None
