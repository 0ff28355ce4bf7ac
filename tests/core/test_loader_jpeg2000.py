"""Greyscale JPEG 2000 DICOM is decoded by OpenCV (which releases the GIL while it works); the
pixels are those of pydicom's own decoder, the oracle, and everything else still goes to pydicom."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.pixels import pixel_array

from viewer.core.loader import dicom_pixels, load_radiograph


def _file(name: str) -> Path:
    import data_store

    return Path(data_store.__file__).parent / "data" / name


@pytest.mark.parametrize("name", ["RG1_J2KR.dcm", "RG3_J2KR.dcm", "RG1_J2KI.dcm", "MR2_J2KR.dcm"])
def test_greyscale_jpeg2000_matches_pydicom(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    taken = []
    decode = dicom_pixels.decode_jpeg2000_grey
    monkeypatch.setattr(dicom_pixels, "decode_jpeg2000_grey", lambda *a: taken.append(1) or decode(*a))
    radiograph = load_radiograph(_file(name))
    assert taken
    expected = pixel_array(_file(name))
    ds = pydicom.dcmread(_file(name), stop_before_pixels=True)
    if "RescaleSlope" not in ds:
        np.testing.assert_array_equal(radiograph.pixels, expected)
    assert decode(ds, b"", 1) is None  # no codestream: pydicom's turn (and its error message)


def test_colour_jpeg2000_still_goes_to_pydicom() -> None:
    ds = pydicom.dcmread(_file("US1_J2KR.dcm"))
    assert dicom_pixels.decode_jpeg2000_grey(ds, ds.PixelData, 1) is None
    radiograph = load_radiograph(_file("US1_J2KR.dcm"))
    assert radiograph.pixels.ndim == 2 and any("colour" in note for note in radiograph.notes)
