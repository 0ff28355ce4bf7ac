"""When an image was taken, as the scan reads it: acquisition, else content date and time."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest

from tests.core.test_scan import make_dicom
from viewer.core.scan import ScannedImage, scan_folder


def scanned(path: Path, **values: str) -> ScannedImage:
    ds = pydicom.dcmread(path)
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    ds.save_as(path)
    (item,) = scan_folder(path)
    assert isinstance(item, ScannedImage)
    return item


@pytest.mark.parametrize(("values", "expected"), [
    ({"AcquisitionDate": "20240131", "AcquisitionTime": "102233.123"}, "2024-01-31 10:22"),
    ({"AcquisitionDate": "20240131", "AcquisitionTime": "10:22:33"}, "2024-01-31 10:22"),  # ACR-NEMA
    ({"AcquisitionDate": "20240131"}, "2024-01-31"),
    ({"AcquisitionDate": "20240131", "AcquisitionTime": "25:61:61.999999"}, "2024-01-31"),
    ({"ContentDate": "20240201", "ContentTime": "0815"}, "2024-02-01 08:15"),
    ({"AcquisitionDate": "2024", "ContentDate": "20240201", "ContentTime": "0815"}, "2024-02-01 08:15"),
    ({"AcquisitionDate": "19380231"}, "1938-02-31"),  # shown as written: it only describes
    ({"AcquisitionDate": "20241331"}, None),
    ({"AcquisitionDate": "X" * 5000}, None),
    ({}, None),
])
def test_the_scan_reads_when_an_image_was_taken(tmp_path: Path, values: dict[str, str], expected: str | None) -> None:
    assert scanned(make_dicom(tmp_path / "image.dcm"), **values).acquired == expected


@pytest.mark.parametrize(("values", "expected"), [
    ({"StudyDate": "20190301", "StudyTime": "101500"}, "2019-03-01 10:15"),
    ({"StudyDate": "20190301"}, "2019-03-01"),
    ({"StudyDate": "2019"}, None),
    ({"StudyDate": ""}, None),
])
def test_the_scan_reads_when_the_study_was(tmp_path: Path, values: dict[str, str], expected: str | None) -> None:
    """The study's date orders a patient's studies (the prior of an image); it stays out of repr."""
    image = scanned(make_dicom(tmp_path / "image.dcm"), **values)
    assert image.study_date == expected
    assert expected is None or expected not in repr(image)
