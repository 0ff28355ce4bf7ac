"""The real radiographs in ../shared/data (skipped cleanly where it is absent)."""

from __future__ import annotations

import csv

import cv2
import numpy as np
import pytest

from tests.conftest import shared_path
from viewer.core.display_transforms import to_unit_grey
from viewer.core.loader import load_radiograph
from viewer.core.preprocess import preprocess

pytestmark = pytest.mark.shared_data


def test_rg1_jpeg2000_lossless_equals_the_uncompressed_file() -> None:
    uncompressed = load_radiograph(shared_path("dicom", "RG1_UNCR.dcm"))
    j2k = load_radiograph(shared_path("dicom", "RG1_J2KR.dcm"))
    assert uncompressed.pixels.shape == (1955, 1841)
    np.testing.assert_array_equal(j2k.pixels, uncompressed.pixels)


def test_rg1_monochrome1_comes_out_white_is_dense() -> None:
    """A PA chest: after inversion the lung fields are darker than the mediastinum and spine."""
    radiograph = load_radiograph(shared_path("dicom", "RG1_UNCR.dcm"))
    assert radiograph.photometric == "MONOCHROME1" and radiograph.bits_stored == 15
    assert [(w.center, w.width) for w in radiograph.windows] == [(15000.0, 30000.0)]
    assert radiograph.pixel_spacing is None and any("spacing" in n for n in radiograph.notes)  # [0, 0]
    grey = preprocess(radiograph, 100, 100)
    lungs = np.concatenate([grey[20:50, 24:40].ravel(), grey[20:50, 62:78].ravel()])
    mediastinum = grey[20:60, 46:54]
    assert lungs.mean() + 0.15 < mediastinum.mean()
    raw = cv2.resize(radiograph.pixels.astype(np.float32), (100, 100), interpolation=cv2.INTER_AREA)
    assert raw[20:50, 24:40].mean() > raw[20:60, 46:54].mean()  # stored values run the other way


def test_rg3_ankle_loads() -> None:
    radiograph = load_radiograph(shared_path("dicom", "RG3_UNCR.dcm"))
    assert radiograph.photometric == "MONOCHROME1" and radiograph.pixels.shape == (1760, 1760)
    grey = to_unit_grey(radiograph)
    assert 0 <= grey.min() and grey.max() <= 1 and grey.std() > 0.05


def test_nih_dicom_matches_its_png() -> None:
    """The NIH image as DICOM (1024 px) against the sample's PNG (downsampled to 512 px)."""
    dicom = load_radiograph(shared_path("dicom", "nih_gcp_00000002_000.dcm"))
    png = load_radiograph(shared_path("nih-sample", "images", "00000002_000.png"))
    assert dicom.photometric == "MONOCHROME2" and dicom.pixels.dtype == np.uint8
    assert dicom.pixels.shape == (1024, 1024) and png.pixels.shape == (512, 512)
    small = cv2.resize(dicom.pixels, (512, 512), interpolation=cv2.INTER_AREA).astype(np.float32)
    assert np.abs(small - png.pixels).mean() < 2.0  # same pixels, one resize apart
    a, b = preprocess(dicom, 224, 224), preprocess(png, 224, 224)
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.99


def _nih_rows() -> list[dict[str, str]]:
    with open(shared_path("nih-sample", "MANIFEST.csv"), newline="") as handle:
        return list(csv.DictReader(handle))


def test_a_few_nih_pngs() -> None:
    rows = _nih_rows()
    picked = [r for r in rows if r["width"] == "1024"][:3] + [r for r in rows if r["width"] == "512"][:3]
    assert len(picked) == 6
    for row in picked:
        radiograph = load_radiograph(shared_path("nih-sample", "images", row["image"]))
        side = int(row["width"])
        assert radiograph.pixels.shape == (side, side) and radiograph.pixels.dtype == np.uint8
        assert radiograph.notes == [] and radiograph.bits_stored == 8
        grey = preprocess(radiograph, 224, 224)
        assert grey.dtype == np.float32 and 0 <= grey.min() and grey.max() <= 1 and grey.std() > 0.05
        reference = cv2.resize(radiograph.pixels.astype(np.float32) / 255, (224, 224), interpolation=cv2.INTER_AREA)
        np.testing.assert_allclose(grey, reference, atol=2e-6)
