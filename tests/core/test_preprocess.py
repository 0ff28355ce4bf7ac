"""Display transforms and THE preprocessing function, against pydicom's LUT functions as oracle."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from pydicom.dataset import Dataset
from pydicom.pixels import apply_modality_lut, apply_voi_lut, apply_windowing

from tests.core.test_transfer_syntaxes import local_test_file
from viewer.core.display_transforms import (
    auto_window,
    default_window,
    to_unit_grey,
    voi_lut_to_unit,
    window_to_unit,
)
from viewer.core.loader import load_radiograph
from viewer.core.preprocess import _resize_then_window, preprocess, resize_to_input, to_model_batch
from viewer.core.radiograph import Radiograph, Window

RNG = np.random.default_rng(8)


def header(bits_stored: int, signed: bool, center: float, width: float, function: str, **extra) -> Dataset:
    ds = Dataset()
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsStored, ds.PixelRepresentation = bits_stored, int(signed)
    ds.WindowCenter, ds.WindowWidth, ds.VOILUTFunction = center, width, function
    for keyword, value in extra.items():
        setattr(ds, keyword, value)
    return ds


def pydicom_unit(stored: np.ndarray, ds: Dataset) -> np.ndarray:
    """pydicom's modality LUT + windowing, rescaled from its output range to [0, 1]."""
    values = apply_modality_lut(stored, ds)
    out = apply_windowing(values, ds)
    if ds.PixelRepresentation:
        y_min, y_max = -(2 ** (ds.BitsStored - 1)), 2 ** (ds.BitsStored - 1) - 1
    else:
        y_min, y_max = 0, 2**ds.BitsStored - 1
    if "RescaleSlope" in ds:
        y_min, y_max = (v * float(ds.RescaleSlope) + float(ds.RescaleIntercept) for v in (y_min, y_max))
    return (out - y_min) / (y_max - y_min)


CASES = [  # bits stored, signed, centre, width, rescale (slope, intercept) or None
    (12, False, 2048, 4096, None),
    (12, False, 1000.5, 301, None),
    (16, False, 30000, 1, None),  # LINEAR width 1: a threshold
    (16, True, -200, 800, None),
    (12, True, 40, 400, (1.0, -1024.0)),  # CT-like: HU after rescale
    (15, False, 15000, 30000, None),  # RG1's window
    (10, False, 300, 50, (0.25, 10.0)),
    (8, False, 127.5, 0.5, None),  # below LINEAR's minimum width for LINEAR_EXACT/SIGMOID only
]


@pytest.mark.parametrize("function", ["LINEAR", "LINEAR_EXACT", "SIGMOID"])
@pytest.mark.parametrize(("bits", "signed", "center", "width", "rescale"), CASES)
def test_window_matches_pydicom(bits, signed, center, width, rescale, function) -> None:
    if function == "LINEAR" and width < 1:
        with pytest.raises(ValueError):
            window_to_unit(np.zeros(3), Window(center, width, function=function))
        return
    low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    stored = RNG.integers(low, high + 1, size=5000).astype(np.int32)
    stored[:6] = [low, high, int(center), int(center) + 1, int(center) - 1, 0]
    extra = {"RescaleSlope": rescale[0], "RescaleIntercept": rescale[1]} if rescale else {}
    ds = header(bits, signed, center, width, function, **extra)
    values = apply_modality_lut(stored, ds).astype(np.float32)
    ours = window_to_unit(values, Window(center, width, function=function))
    assert ours.dtype == np.float32 and ours.min() >= 0 and ours.max() <= 1
    np.testing.assert_allclose(ours, pydicom_unit(stored, ds), atol=2e-6)
    inverted = window_to_unit(values, Window(center, width, function=function), invert=True)
    np.testing.assert_allclose(inverted, 1.0 - ours, atol=2e-6)


def test_unknown_function_is_linear() -> None:
    values = np.arange(0, 4096, 7, dtype=np.float32)
    np.testing.assert_array_equal(window_to_unit(values, Window(2000, 1000, function="BOGUS")),
                                  window_to_unit(values, Window(2000, 1000, function="LINEAR")))


def _voi_dataset(descriptor: list[int], data: list[int], bits_stored: int = 12) -> Dataset:
    ds = Dataset()
    ds.PhotometricInterpretation, ds.BitsStored, ds.PixelRepresentation = "MONOCHROME2", bits_stored, 0
    item = Dataset()
    item.LUTDescriptor = descriptor
    item.add_new("LUTData", "US", data)
    ds.VOILUTSequence = [item]
    return ds


def test_voi_lut_sequence_matches_pydicom_for_a_16_bit_lut() -> None:
    lut = list(np.clip(np.linspace(-20000, 90000, 3000), 0, 65535).astype(int))
    ds = _voi_dataset([3000, 500, 16], lut)
    stored = RNG.integers(0, 4096, size=4000)
    expected = apply_voi_lut(stored, ds) / 65535.0
    np.testing.assert_allclose(voi_lut_to_unit(stored.astype(np.float32), ds), expected, atol=1e-6)


def test_voi_lut_with_8_bit_entries_and_more_than_256_of_them() -> None:
    """pydicom 3.0's apply_voi wraps inputs above 255 here (uint8 index array); we must not."""
    ds = _voi_dataset([1024, 0, 8], list(np.linspace(0, 255, 1024).astype(int)))
    values = np.array([0, 100, 300, 600, 1023, 4000], dtype=np.float32)
    expected = np.linspace(0, 255, 1024).astype(int)[np.clip(values.astype(int), 0, 1023)] / 255.0
    np.testing.assert_allclose(voi_lut_to_unit(values, ds), expected, atol=1e-6)


def test_voi_lut_declaring_16_bits_for_12_bit_entries_is_not_black() -> None:
    """Agfa CRs: descriptor says 16 bits, entries stop at 4095."""
    ds = _voi_dataset([4096, 0, 16], list(range(4096)))
    out = voi_lut_to_unit(np.array([0, 2048, 4095], dtype=np.float32), ds)
    np.testing.assert_allclose(out, [0, 2048 / 4095, 1.0], atol=1e-6)


def test_real_voi_lut_file_against_pydicom() -> None:
    """vlut_04.dcm (pydicom-data): 8-bit data through a 256-entry 16-bit VOI LUT."""
    radiograph = load_radiograph(local_test_file("vlut_04.dcm"))
    assert radiograph.has_voi_lut and radiograph.windows == []
    ds = radiograph.header
    from pydicom.pixels import pixel_array

    expected = apply_voi_lut(pixel_array(local_test_file("vlut_04.dcm")), ds) / 65535.0
    np.testing.assert_allclose(to_unit_grey(radiograph), expected, atol=1e-6)


def test_real_modality_lut_file_against_pydicom() -> None:
    """mlut_18.dcm (pydicom-data): signed 12-bit data through a Modality LUT Sequence."""
    path = local_test_file("mlut_18.dcm")
    from pydicom import dcmread

    ds = dcmread(path)
    np.testing.assert_array_equal(load_radiograph(path).pixels, apply_modality_lut(ds.pixel_array, ds))


def _rg(pixels: np.ndarray, **fields) -> Radiograph:
    defaults = dict(path=Path("x.dcm"), source_format="dicom", photometric="MONOCHROME2", bits_stored=16)
    return Radiograph(pixels=pixels, **{**defaults, **fields})


def test_auto_window_leaves_padding_out() -> None:
    pixels = RNG.integers(1000, 3000, size=(200, 200)).astype(np.int16)
    pixels[:, :80] = -2000  # collimator padding: 40% of the image
    with_mask = auto_window(_rg(pixels, padding_mask=pixels == -2000))
    without = auto_window(_rg(pixels))
    assert 990 < with_mask.low < 1100 and 2900 < with_mask.high < 3010
    assert without.low == -2000  # the same image without the mask: padding swallows the window


def test_constant_images_show_one_mid_grey() -> None:
    for radiograph in (_rg(np.full((9, 9), 512, np.uint16)), _rg(np.full((9, 9), 512, np.uint16), source_format="png")):
        np.testing.assert_allclose(to_unit_grey(radiograph), 0.5)
    eight_bit = _rg(np.full((9, 9), 51, np.uint8), source_format="png", bits_stored=8)
    np.testing.assert_allclose(to_unit_grey(eight_bit), 0.2)  # 8 bit keeps its true grey: /255


def test_default_window_for_rasters_is_what_the_design_says() -> None:
    eight = _rg(np.array([[3, 200]], np.uint8), source_format="png", bits_stored=8)
    assert (default_window(eight).low, default_window(eight).high) == (0.0, 255.0)
    sixteen = _rg(np.array([[100, 4000]], np.uint16), source_format="png", bits_stored=16)
    assert (default_window(sixteen).low, default_window(sixteen).high) == (100.0, 4000.0)


def test_header_window_comes_first_and_a_given_window_overrides() -> None:
    pixels = np.array([[0, 1000, 2000]], np.uint16)
    radiograph = _rg(pixels, windows=[Window(1000, 1001, "H")])
    np.testing.assert_allclose(to_unit_grey(radiograph), [[0, 0.5, 1]], atol=1e-3)
    np.testing.assert_allclose(to_unit_grey(radiograph, Window(0, 2, function="LINEAR_EXACT")), [[0.5, 1, 1]])


@pytest.mark.parametrize("photometric", ["MONOCHROME1", "MONOCHROME2"])
@pytest.mark.parametrize(("dtype", "window"), [
    (np.uint16, Window(2047.5, 4096, function="LINEAR_EXACT")),
    (np.uint16, Window(2000, 4200)),
    (np.int16, Window(1000, 7000)),
    (np.uint8, None),
])
def test_resizing_first_gives_the_same_pixels_as_windowing_first(photometric, dtype, window) -> None:
    top = 255 if dtype == np.uint8 else 4095
    pixels = RNG.integers(0 if dtype != np.int16 else -2000, top, size=(301, 257)).astype(dtype)
    fmt = "png" if dtype == np.uint8 else "dicom"
    radiograph = _rg(pixels, photometric=photometric, source_format=fmt, bits_stored=8 if fmt == "png" else 12)
    fast = _resize_then_window(radiograph, window, 64, 48)
    assert fast is not None
    slow = resize_to_input(to_unit_grey(radiograph, window), 64, 48)
    np.testing.assert_allclose(fast, slow, atol=2e-6)
    np.testing.assert_allclose(preprocess(radiograph, 64, 48, window), slow, atol=2e-6)


def test_clipping_window_takes_the_exact_path() -> None:
    pixels = RNG.integers(0, 4096, size=(100, 100)).astype(np.uint16)
    radiograph = _rg(pixels, windows=[Window(2000, 500)])
    assert _resize_then_window(radiograph, None, 10, 10) is None
    np.testing.assert_array_equal(preprocess(radiograph, 10, 10), resize_to_input(to_unit_grey(radiograph), 10, 10))


def test_preprocess_never_changes_the_radiograph() -> None:
    pixels = RNG.integers(0, 4096, size=(32, 32)).astype(np.float32)
    radiograph = _rg(pixels.copy(), windows=[Window(2048, 5000)])
    preprocess(radiograph, 32, 32)
    np.testing.assert_array_equal(radiograph.pixels, pixels)


def test_preprocess_contract_on_paths_of_every_kind(tmp_path: Path) -> None:
    image = RNG.integers(0, 256, size=(300, 200)).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "a.png"), image)
    expected = cv2.resize(image.astype(np.float32) / 255.0, (64, 64), interpolation=cv2.INTER_AREA)
    for source in (tmp_path / "a.png", str(tmp_path / "a.png"), bytes(tmp_path / "a.png")):
        out = preprocess(source, 64, 64)
        assert out.shape == (64, 64) and out.dtype == np.float32 and out.flags.c_contiguous
        np.testing.assert_allclose(out, expected, atol=2e-6)


def test_upscaling_uses_linear_interpolation_and_stays_in_range() -> None:
    out = preprocess(_rg(np.array([[0, 255]], np.uint8), source_format="png", bits_stored=8), 8, 8)
    assert out.shape == (8, 8) and 0 <= out.min() and out.max() <= 1 and 0 < out[0, 3] < 1


def test_to_model_batch() -> None:
    batch = to_model_batch([np.zeros((5, 6), np.float32), np.ones((5, 6), np.float32)])
    assert batch.shape == (2, 1, 5, 6) and batch.dtype == np.float32 and batch[1].min() == 1
