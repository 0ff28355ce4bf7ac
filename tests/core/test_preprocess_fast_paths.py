"""The fast paths of THE preprocessing give what the plain definition gives.

The plain definition: ``to_unit_grey`` at full size (window, photometric) then one
``cv2.resize`` INTER_AREA in float32. The fast paths: the window applied after the resize when it
clips nothing (``_resize_then_window``), computed band by band (``_shifted_area_resize``).
Checked on real files and on generated ones with narrow windows far from zero.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from viewer.core import preprocess as pp
from viewer.core.loader import load_radiograph
from viewer.core.radiograph import Radiograph, Window

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "nih-sample" / "images"


def _pydicom_file(name: str) -> Path:
    import data_store

    return Path(data_store.__file__).parent / "data" / name


def _definition(radiograph: Radiograph, size: tuple[int, int], window: Window | None = None) -> np.ndarray:
    grey = pp.to_unit_grey(radiograph, window)
    return np.clip(cv2.resize(grey, size[::-1], interpolation=cv2.INTER_AREA), 0, 1)


@pytest.mark.parametrize("name", ["RG1_UNCR.dcm", "RG3_UNCR.dcm", "MR2_UNCR.dcm", "US1_UNCR.dcm"])
@pytest.mark.parametrize("size", [(224, 224), (320, 256)])
def test_real_dicoms_match_the_definition(name: str, size: tuple[int, int]) -> None:
    radiograph = load_radiograph(_pydicom_file(name))
    np.testing.assert_allclose(pp.preprocess(radiograph, *size), _definition(radiograph, size), atol=2e-6)


def test_real_nih_png_matches_the_definition() -> None:
    pngs = sorted(DATA.glob("*.png"))[:3] if DATA.is_dir() else []
    if not pngs:
        pytest.skip("no shared data (../shared/data/nih-sample)")
    for path in pngs:
        radiograph = load_radiograph(path)
        assert pp._resize_then_window(radiograph, None, 224, 224) is not None  # the fast path is taken
        np.testing.assert_allclose(pp.preprocess(path, 224, 224), _definition(radiograph, (224, 224)), atol=2e-6)


@pytest.mark.parametrize("inverted", [False, True])
def test_narrow_window_far_from_zero_takes_the_fast_path_and_matches(inverted: bool) -> None:
    # values 30000..30100 under a window just wide enough: the resize happens after the shift,
    # so its rounding is at the window's scale, not at 30000's
    rng = np.random.default_rng(3)
    pixels = rng.integers(30000, 30101, size=(700, 600)).astype(np.uint16)
    radiograph = Radiograph(Path("x.dcm"), pixels, "dicom", "MONOCHROME1" if inverted else "MONOCHROME2", 16,
                            windows=[Window(30050, 101, function="LINEAR_EXACT")])
    fast = pp._resize_then_window(radiograph, None, 224, 224)
    assert fast is not None
    np.testing.assert_allclose(fast, _definition(radiograph, (224, 224)), atol=2e-6)


@pytest.mark.parametrize("shape", [(1024, 1024), (1955, 1841), (1000, 999), (2048, 2500), (997, 991), (224, 300)])
@pytest.mark.parametrize("negate", [False, True])
def test_band_by_band_shift_and_resize_is_bit_identical(shape: tuple[int, int], negate: bool) -> None:
    pixels = np.random.default_rng(4).integers(0, 4096, shape).astype(np.uint16)
    whole = (np.float32(3000.5) - pixels.astype(np.float32)) if negate else (pixels - np.float32(1000.5))
    expected = cv2.resize(whole.astype(np.float32), (224, 224), interpolation=cv2.INTER_AREA)
    origin = 3000.5 if negate else 1000.5
    np.testing.assert_array_equal(pp._shifted_area_resize(pixels, origin, negate, 224, 224), expected)


def test_band_cuts() -> None:
    expected = [(0, 256, 0, 56), (256, 512, 56, 112), (512, 768, 112, 168), (768, 1024, 168, 224)]
    assert pp._bands(1024, 224, 256) == expected
    assert pp._bands(1841, 224, 100) == [(263 * i, 263 * (i + 1), 32 * i, 32 * (i + 1)) for i in range(7)]
    assert pp._bands(1955, 224, 256) is None  # coprime: no exact cut
