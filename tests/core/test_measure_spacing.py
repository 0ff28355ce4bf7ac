"""The spacing measurements use: which attribute, the magnification correction, calibration."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset

from tests.conftest import shared_path
from viewer.core.loader import load_radiograph
from viewer.core.measure_spacing import (
    CALIBRATED,
    DETECTOR_PLANE,
    PIXEL_SPACING,
    MeasureSpacing,
    calibrate,
    calibrated,
    dicom_spacing,
    radiograph_spacing,
)
from viewer.core.radiograph import Photometric, Radiograph, SourceFormat


def header(**values: object) -> Dataset:
    ds = Dataset()
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    return ds


def test_pixel_spacing_is_used_as_it_is_even_with_a_magnification_factor() -> None:
    ds = header(PixelSpacing=[0.2, 0.1], ImagerPixelSpacing=[0.3, 0.3], EstimatedRadiographicMagnificationFactor=1.2)
    assert dicom_spacing(ds) == MeasureSpacing(0.2, 0.1, PIXEL_SPACING)


def test_imager_pixel_spacing_is_divided_by_the_magnification_factor() -> None:
    ds = header(ImagerPixelSpacing=[0.15, 0.16], EstimatedRadiographicMagnificationFactor="1.08")
    spacing = dicom_spacing(ds)
    assert spacing is not None
    assert spacing.pair == pytest.approx((0.15 / 1.08, 0.16 / 1.08))
    assert spacing.source == "ImagerPixelSpacing / magnification 1.08"


@pytest.mark.parametrize("factor", [None, 0.0, -1.2, 0.5, 40.0, "nan"])
def test_without_a_plausible_factor_imager_spacing_is_said_to_be_at_the_detector(factor: object) -> None:
    ds = header(PixelSpacing=[0, 0], ImagerPixelSpacing=[0.15, 0.15])
    if factor is not None:
        ds.EstimatedRadiographicMagnificationFactor = factor
    assert dicom_spacing(ds) == MeasureSpacing(0.15, 0.15, DETECTOR_PLANE)


@pytest.mark.parametrize("values", [
    {},
    {"PixelSpacing": [0, 0]},
    {"PixelSpacing": [0.1, -0.1]},
    {"PixelSpacing": ["inf", "0.1"]},
    {"PixelSpacing": [0.1]},
    {"ImagerPixelSpacing": [0, 0], "EstimatedRadiographicMagnificationFactor": 1.1},
])
def test_no_usable_spacing_reads_as_none(values: dict[str, object]) -> None:
    assert dicom_spacing(header(**values)) is None


def test_a_file_whose_pixel_spacing_is_zero_has_none_and_can_be_calibrated() -> None:
    path = shared_path("dicom", "RG1_UNCR.dcm")
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    assert [float(v) for v in ds.PixelSpacing] == [0.0, 0.0]
    assert dicom_spacing(ds) is None
    assert radiograph_spacing(load_radiograph(path)) is None
    spacing = calibrate(250.0, 100.0)  # a 10 cm marker drawn 250 px long
    assert spacing == MeasureSpacing(0.4, 0.4, CALIBRATED)


def test_a_loaded_dicom_reads_its_header_and_a_png_keeps_the_spacing_it_was_given(tmp_path: Path) -> None:
    from pydicom.data import get_testdata_file

    path = Path(str(get_testdata_file("CT_small.dcm")))
    rg = load_radiograph(path)
    assert rg.pixel_spacing is not None
    assert radiograph_spacing(rg) == MeasureSpacing(*rg.pixel_spacing, PIXEL_SPACING)

    png = Radiograph(tmp_path / "a.png", np.zeros((4, 4), np.uint8), SourceFormat.PNG, Photometric.MONOCHROME2, 8,
                     pixel_spacing=(0.143, 0.143), spacing_source="Data_Entry_2017.csv")
    assert radiograph_spacing(png) == MeasureSpacing(0.143, 0.143, "Data_Entry_2017.csv")
    png.pixel_spacing = (0.0, 0.143)
    assert radiograph_spacing(png) is None
    png.pixel_spacing = None
    assert radiograph_spacing(png) is None


@pytest.mark.parametrize(("pixels", "mm"), [(0.0, 10.0), (-5.0, 10.0), (10.0, 0.0), (10.0, math.inf),
                                            (math.nan, 10.0), (10.0, -1.0)])
def test_calibration_refuses_lengths_that_cannot_calibrate(pixels: float, mm: float) -> None:
    with pytest.raises(ValueError, match="calibrate|known length"):
        calibrate(pixels, mm)


def test_a_kept_calibration_must_be_a_pixel_size() -> None:
    assert calibrated(0.2).pair == (0.2, 0.2)
    for bad in (0.0, -0.1, math.inf, 150.0):
        with pytest.raises(ValueError, match="not usable"):
            calibrated(bad)
    with pytest.raises(ValueError, match="not usable"):
        calibrate(1.0, 500.0)  # 500 mm a pixel
