"""Headers that would make the loader show silently wrong pixels: each is a note or a clear error.

A VOI LUT whose data is shorter than its descriptor, an enhanced multi-frame object whose
rescale and window live only in its functional groups, and a rescale slope that takes the
values past what float32 holds. The oracle for the functional groups is the standard's own
arithmetic (stored x slope + intercept, PS3.3 C.7.6.16.2.9) on the generated stored values.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from tests.reliability.corpus import chest_pixels, dicom_dataset, save
from viewer.core.display_transforms import default_window, to_unit_grey
from viewer.core.errors import ImageLoadError
from viewer.core.loader import load_radiograph
from viewer.core.preprocess import preprocess

ENHANCED_CT = "1.2.840.10008.5.1.4.1.1.2.1"


def test_a_voi_lut_shorter_than_its_descriptor_is_ignored_with_a_note(tmp_path: Path) -> None:
    pixels = chest_pixels(64, 56)
    ds = dicom_dataset(pixels)
    item = Dataset()
    item.LUTDescriptor = [4096, 0, 12]
    item.add_new("LUTData", "US", list(range(0, 400, 4)))  # 100 entries where 4096 are promised
    ds.VOILUTSequence = Sequence([item])
    save(ds, tmp_path / "short_lut.dcm")
    radiograph = load_radiograph(tmp_path / "short_lut.dcm")
    assert any("VOI LUT" in note and "100 entries" in note for note in radiograph.notes), radiograph.notes
    grey = to_unit_grey(radiograph)
    assert 0.05 < float(grey.mean()) < 0.95  # not the all-white image the short table gave


def _enhanced(pixels: np.ndarray, *, per_frame: bool) -> Dataset:
    """Two frames; rescale (-1024) and a window only in the functional groups."""
    ds = dicom_dataset(np.concatenate([pixels, pixels]).reshape(2, *pixels.shape), sop_class=ENHANCED_CT)
    ds.NumberOfFrames = 2
    transform, voi = Dataset(), Dataset()
    transform.RescaleSlope, transform.RescaleIntercept, transform.RescaleType = 1, -1024, "US"
    voi.WindowCenter, voi.WindowWidth, voi.WindowCenterWidthExplanation = 900, 1500, "CHEST"
    group = Dataset()
    group.PixelValueTransformationSequence = Sequence([transform])
    group.FrameVOILUTSequence = Sequence([voi])
    if per_frame:
        ds.PerFrameFunctionalGroupsSequence = Sequence([group, Dataset()])
        ds.SharedFunctionalGroupsSequence = Sequence([Dataset()])
    else:
        ds.SharedFunctionalGroupsSequence = Sequence([group])
    return ds


@pytest.mark.parametrize("per_frame", [False, True], ids=["shared", "per-frame"])
def test_enhanced_multi_frame_rescale_and_window_come_from_the_functional_groups(
    tmp_path: Path, per_frame: bool,
) -> None:
    stored = chest_pixels(64, 56)
    save(_enhanced(stored, per_frame=per_frame), tmp_path / "enhanced.dcm")
    radiograph = load_radiograph(tmp_path / "enhanced.dcm")
    np.testing.assert_array_equal(radiograph.pixels, stored.astype(np.float32) - 1024)
    window = default_window(radiograph)
    assert (window.center, window.width, window.name) == (900.0, 1500.0, "CHEST")


@pytest.mark.parametrize("slope", ["1e39", "1e300", "-1e39"])
def test_a_rescale_beyond_float32_is_a_clear_error(tmp_path: Path, slope: str) -> None:
    ds = dicom_dataset(chest_pixels(64, 56))
    ds.RescaleSlope, ds.RescaleIntercept = slope, "0"
    save(ds, tmp_path / "huge_slope.dcm")
    with pytest.raises(ImageLoadError) as caught:
        load_radiograph(tmp_path / "huge_slope.dcm")
    message = str(caught.value)
    assert "huge_slope.dcm" in message and "rescale slope" in message, message
    assert "unexpected" not in message and "not finite" not in message, message


def test_a_large_but_representable_rescale_still_loads(tmp_path: Path) -> None:
    ds = dicom_dataset(chest_pixels(64, 56))
    ds.RescaleSlope, ds.RescaleIntercept = "1e20", "0"
    save(ds, tmp_path / "large_slope.dcm")
    grey = preprocess(load_radiograph(tmp_path / "large_slope.dcm"), 32, 32)
    assert np.isfinite(grey).all() and grey.max() > grey.min()


@pytest.mark.parametrize(("center", "width"), [("600", "1e300"), ("1e300", "400"), ("-1e39", "1e38"), ("0", "1e33")])
def test_a_window_beyond_float32_is_ignored_with_a_note(tmp_path: Path, center: str, width: str) -> None:
    """Found by the fuzzer's hostile header values: a width of 1e300 made every prepared pixel NaN."""
    ds = dicom_dataset(chest_pixels(64, 56))
    ds.WindowCenter, ds.WindowWidth = center, width
    save(ds, tmp_path / "huge_window.dcm")
    radiograph = load_radiograph(tmp_path / "huge_window.dcm")
    assert radiograph.windows == [] and any("window 1" in note for note in radiograph.notes), radiograph.notes
    grey = preprocess(radiograph, 32, 32)
    assert np.isfinite(grey).all() and grey.max() > grey.min()
