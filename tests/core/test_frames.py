"""Frames of multi-frame DICOM: ``load_radiograph(path, frame=k)`` decodes frame k and only it.

The oracle is pydicom's own decoding of the same frame (``pixel_array(path, index=k)``) and the
source frame the file was made from (``tests.frames_factory``: each frame a real radiograph
shifted and dimmed by its number, so a wrong frame cannot pass). pydicom's own multi-frame test
files are checked the same way, after the modality step the loader applies to frame 0.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.pixels import apply_color_lut, apply_modality_lut, pixel_array
from pydicom.uid import JPEG2000Lossless

from tests import frames_factory as factory
from tests.conftest import shared_path
from viewer.core.errors import ImageLoadError
from viewer.core.loader import dicom as dicom_module
from viewer.core.loader import load_radiograph
from viewer.core.loader.colour import colour_to_grey
from viewer.core.radiograph import Photometric
from viewer.core.scan import ScannedImage, scan_folder

FRAMES = factory.FRAMES


def _source(name: str) -> np.ndarray:
    if name == "pydicom":
        return factory.radiograph_from_pydicom()
    if name == "RG1_UNCR":
        return factory.radiograph_from_file(shared_path("dicom", "RG1_UNCR.dcm"))
    return factory.radiograph_from_file(shared_path("nih-sample", "images", "00000001_000.png"))


# layout -> (bits stored, writer)
LAYOUTS: dict[str, tuple[int, Callable[[Path, np.ndarray, int], Path]]] = {
    "native 16-bit MONOCHROME2": (12, lambda p, f, b: factory.write_native(p, f, bits_stored=b)),
    "native 8-bit MONOCHROME2": (8, lambda p, f, b: factory.write_native(p, f, bits_stored=b)),
    "native 16-bit MONOCHROME1": (12, lambda p, f, b: factory.write_native(p, f, bits_stored=b,
                                                                           photometric="MONOCHROME1")),
    "native 8-bit MONOCHROME1": (8, lambda p, f, b: factory.write_native(p, f, bits_stored=b,
                                                                         photometric="MONOCHROME1")),
    "native 16-bit big endian": (12, lambda p, f, b: factory.write_native(p, f, bits_stored=b, big_endian=True)),
    "native 8-bit big endian": (8, lambda p, f, b: factory.write_native(p, f, bits_stored=b, big_endian=True)),
    "RLE with a Basic Offset Table": (12, lambda p, f, b: factory.write_encapsulated(p, f, bits_stored=b)),
    "RLE 8-bit with a Basic Offset Table": (8, lambda p, f, b: factory.write_encapsulated(p, f, bits_stored=b)),
    "RLE without an offset table": (12, lambda p, f, b: factory.write_encapsulated(p, f, bits_stored=b,
                                                                                   offsets="none")),
    "RLE with an Extended Offset Table": (12, lambda p, f, b: factory.write_encapsulated(p, f, bits_stored=b,
                                                                                         offsets="extended")),
    "RLE, 3 fragments a frame, Basic Offset Table": (
        12, lambda p, f, b: factory.write_encapsulated(p, f, bits_stored=b, fragments_per_frame=3)),
    "JPEG 2000, 3 fragments a frame, no offset table": (
        12, lambda p, f, b: factory.write_encapsulated(p, f, bits_stored=b, syntax=JPEG2000Lossless, offsets="none",
                                                       fragments_per_frame=3)),
}


def _made(tmp_path: Path, layout: str, source: str = "pydicom") -> tuple[Path, np.ndarray]:
    bits, write = LAYOUTS[layout]
    frames = factory.frames_from(_source(source), bits)
    return write(tmp_path / "frames.dcm", frames, bits), frames


@pytest.mark.parametrize("layout", LAYOUTS)
def test_each_frame_is_the_source_frame_and_pydicoms(tmp_path: Path, layout: str) -> None:
    path, frames = _made(tmp_path, layout)
    for k in range(FRAMES):
        radiograph = load_radiograph(path, frame=k)
        np.testing.assert_array_equal(radiograph.pixels, frames[k], err_msg=f"frame {k}")
        np.testing.assert_array_equal(radiograph.pixels, pixel_array(path, index=k), err_msg=f"frame {k}")
        assert radiograph.frame_index == k and radiograph.number_of_frames == FRAMES
        assert f"multi-frame image: frame {k + 1} of {FRAMES}" in radiograph.notes
        assert not any("first frame" in note for note in radiograph.notes)
    expected = Photometric.MONOCHROME1 if "MONOCHROME1" in layout else Photometric.MONOCHROME2
    assert radiograph.photometric == expected


@pytest.mark.shared_data
@pytest.mark.parametrize("source", ["RG1_UNCR", "NIH PNG"])
@pytest.mark.parametrize("layout", ["native 16-bit MONOCHROME1", "RLE with a Basic Offset Table",
                                    "JPEG 2000, 3 fragments a frame, no offset table"])
def test_frames_made_from_the_shared_radiographs(tmp_path: Path, layout: str, source: str) -> None:
    path, frames = _made(tmp_path, layout, source)
    for k in (0, 2, FRAMES - 1):
        np.testing.assert_array_equal(load_radiograph(path, frame=k).pixels, frames[k], err_msg=f"frame {k}")


def _pydicom_frame(path: Path, ds: pydicom.Dataset, k: int) -> np.ndarray:
    """What the loader shows of frame k, from pydicom's decoding: palette colour expanded,
    colour made grey as for frame 0, the modality rescale (the header's, or the enhanced
    object's shared functional group: these files have no per-frame one)."""
    stored = pixel_array(path, index=k)
    if ds.PhotometricInterpretation == "PALETTE COLOR":
        stored = apply_color_lut(stored, ds)
    if stored.ndim == 3:
        return colour_to_grey(stored, [], "colour")
    source = ds
    if "SharedFunctionalGroupsSequence" in ds:
        source = ds.SharedFunctionalGroupsSequence[0].get("PixelValueTransformationSequence", [ds])[0]
    if "RescaleSlope" in source:
        view = pydicom.Dataset()
        view.RescaleSlope, view.RescaleIntercept = source.RescaleSlope, source.RescaleIntercept
        return np.asarray(apply_modality_lut(stored, view), dtype=np.float32)
    return stored


PYDICOM_MULTI_FRAME = [
    "emri_small.dcm", "emri_small_big_endian.dcm", "emri_small_RLE.dcm", "emri_small_jpeg_2k_lossless.dcm",
    "emri_small_jpeg_ls_lossless.dcm", "liver.dcm", "liver_expb.dcm", "rtdose.dcm", "rtdose_expb.dcm",
    "rtdose_rle.dcm", "eCT_Supplemental.dcm", "SC_rgb_2frame.dcm", "SC_rgb_expb_2frame.dcm",
    "SC_rgb_rle_2frame.dcm", "SC_rgb_16bit_2frame.dcm", "OBXXXX1A_2frame.dcm", "OBXXXX1A_rle_2frame.dcm",
    "examples_ybr_color.dcm", "color3d_jpeg_baseline.dcm",
]


@pytest.mark.parametrize("name", PYDICOM_MULTI_FRAME)
def test_pydicoms_multi_frame_files_decode_frame_by_frame(name: str) -> None:
    found = get_testdata_file(name)
    if found is None:
        pytest.skip(f"pydicom's test file {name} is not installed")
    path = Path(found)
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    count = int(ds.NumberOfFrames)
    first = load_radiograph(path)
    np.testing.assert_array_equal(first.pixels, _pydicom_frame(path, ds, 0))  # the oracle fits frame 0
    for k in sorted({1, count // 2, count - 1}):
        radiograph = load_radiograph(path, frame=k)
        np.testing.assert_array_equal(radiograph.pixels, _pydicom_frame(path, ds, k), err_msg=f"frame {k}")
        assert radiograph.frame_index == k and radiograph.number_of_frames == count
    assert not np.array_equal(load_radiograph(path, frame=count - 1).pixels, first.pixels)


@pytest.mark.parametrize("layout", ["native 16-bit MONOCHROME2", "RLE with a Basic Offset Table"])
def test_a_frame_the_file_lacks_is_refused_naming_the_file_and_the_frame(tmp_path: Path, layout: str) -> None:
    path, _ = _made(tmp_path, layout)
    with pytest.raises(ImageLoadError, match=r"frames\.dcm.*has no frame 6: it has 5 frames"):
        load_radiograph(path, frame=5)
    with pytest.raises(ImageLoadError, match=r"frames\.dcm.*has no frame -1"):
        load_radiograph(path, frame=-1)


def test_a_single_image_has_frame_0_alone(tmp_path: Path) -> None:
    single = factory.write_native(tmp_path / "one.dcm", factory.frames_from(factory.radiograph_from_pydicom(), 12,
                                                                            count=1), bits_stored=12)
    radiograph = load_radiograph(single)
    assert radiograph.frame_index == 0 and radiograph.number_of_frames == 1
    assert not any("multi-frame" in note for note in radiograph.notes)
    with pytest.raises(ImageLoadError, match=r"one\.dcm.*has no frame 2: it has 1 frame\b"):
        load_radiograph(single, frame=1)
    cv2.imwrite(str(tmp_path / "x.png"), np.zeros((8, 8), np.uint8))
    assert load_radiograph(tmp_path / "x.png", frame=0).frame_index == 0
    with pytest.raises(ImageLoadError, match=r"x\.png.*has no frame 2: it is a single PNG image"):
        load_radiograph(tmp_path / "x.png", frame=1)


@pytest.mark.parametrize("layout", [
    "native 16-bit MONOCHROME2", "native 16-bit big endian", "RLE with a Basic Offset Table",
    "RLE without an offset table", "RLE with an Extended Offset Table", "RLE, 3 fragments a frame, Basic Offset Table",
])
def test_a_file_cut_inside_frame_4_still_shows_frames_1_to_3(tmp_path: Path, layout: str) -> None:
    path, frames = _made(tmp_path, layout)
    starts = factory.frame_starts(path)
    cut = factory.cut_copy(path, tmp_path / "cut.dcm", (starts[3] + starts[4]) // 2)
    for k in range(3):
        radiograph = load_radiograph(cut, frame=k)
        np.testing.assert_array_equal(radiograph.pixels, frames[k], err_msg=f"frame {k}")
    for k in (3, 4):
        with pytest.raises(ImageLoadError, match=rf"cut\.dcm.*truncated.*frame {k + 1} of 5") as caught:
            load_radiograph(cut, frame=k)
        assert "copy or export" in str(caught.value)


def test_a_file_cut_between_frames_says_the_next_frame_is_missing(tmp_path: Path) -> None:
    path, frames = _made(tmp_path, "native 16-bit MONOCHROME2")
    cut = factory.cut_copy(path, tmp_path / "cut.dcm", factory.frame_starts(path)[2])
    np.testing.assert_array_equal(load_radiograph(cut, frame=1).pixels, frames[1])
    with pytest.raises(ImageLoadError, match=r"truncated: .*frame 3 of 5 is missing"):
        load_radiograph(cut, frame=2)


class _CountingFile:
    """A file that counts the bytes its callers read."""

    def __init__(self, handle: Any, counts: list[int]) -> None:
        self._handle, self._counts = handle, counts

    def read(self, size: int | None = -1) -> bytes:
        data = self._handle.read(size)
        self._counts.append(len(data))
        return data

    def readinto(self, buffer: Any) -> int:
        got = self._handle.readinto(buffer)
        self._counts.append(got or 0)
        return got

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handle, name)

    def __enter__(self) -> _CountingFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._handle.close()


@pytest.mark.parametrize(("big_endian", "rle"), [(False, False), (True, False), (False, True)],
                         ids=["native fast path", "native through pydicom", "RLE"])
def test_reading_a_late_frame_of_a_large_file_reads_that_frame_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, big_endian: bool, rle: bool,
) -> None:
    frames = np.random.default_rng(7).integers(0, 4096, size=(40, 512, 512), dtype=np.uint16)  # RLE cannot shrink it
    path = tmp_path / "large.dcm"
    if rle:
        factory.write_encapsulated(path, frames, bits_stored=16)
    else:
        factory.write_native(path, frames, bits_stored=16, big_endian=big_endian)
    counts: list[int] = []
    monkeypatch.setattr(dicom_module, "open",
                        lambda p, mode="r": _CountingFile(builtins.open(p, mode), counts), raising=False)
    radiograph = load_radiograph(path, frame=37)
    np.testing.assert_array_equal(radiograph.pixels, frames[37])
    frame_bytes = 512 * 512 * 2
    assert path.stat().st_size > 39 * frame_bytes
    header_reads = 256 * 1024  # the file meta is read in one 64 kB request, the header element by element
    assert sum(counts) < frame_bytes + header_reads, f"read {sum(counts):,} bytes for one frame of {frame_bytes:,}"


def test_an_enhanced_objects_frames_use_their_own_rescale_and_window(tmp_path: Path) -> None:
    frames = factory.frames_from(factory.radiograph_from_pydicom(), 12, count=3)
    rescales = [(1.0, -1024.0), (2.0, 0.0), (0.5, 100.0)]
    windows = [(40.0, 400.0), (300.0, 1500.0), (600.0, 1000.0)]
    path = factory.enhanced(tmp_path / "enhanced.dcm", frames, 12, rescales, windows)
    for k, ((slope, intercept), (centre, width)) in enumerate(zip(rescales, windows, strict=True)):
        radiograph = load_radiograph(path, frame=k)
        np.testing.assert_allclose(radiograph.pixels, frames[k] * slope + intercept, err_msg=f"frame {k}")
        assert (radiograph.windows[0].center, radiograph.windows[0].width) == (centre, width)


def test_the_scan_counts_frames_from_the_header(tmp_path: Path) -> None:
    source = factory.radiograph_from_pydicom()
    factory.write_native(tmp_path / "cine.dcm", factory.frames_from(source, 12), bits_stored=12)
    factory.write_encapsulated(tmp_path / "rle.dcm", factory.frames_from(source, 12, count=3), bits_stored=12)
    factory.write_native(tmp_path / "one.dcm", factory.frames_from(source, 12, count=1), bits_stored=12)
    found = {item.path.name: item.frames for item in scan_folder(tmp_path) if isinstance(item, ScannedImage)}
    assert found == {"cine.dcm": 5, "rle.dcm": 3, "one.dcm": 1}
