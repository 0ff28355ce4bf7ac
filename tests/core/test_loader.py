"""load_radiograph on generated DICOM and raster files: photometrics, bit depths, errors, bombs.

Generated DICOMs are written with pydicom; pydicom's own decoder is the oracle for the loader's
direct read of uncompressed pixel data. Compressed syntaxes are in test_transfer_syntaxes.py.
"""

from __future__ import annotations

import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

import cv2
import numpy as np
import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels import apply_modality_lut, pixel_array
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    SecondaryCaptureImageStorage,
    generate_uid,
)

from viewer.core.display_transforms import to_unit_grey
from viewer.core.errors import ImageLoadError
from viewer.core.loader import MAX_PIXELS, load_radiograph, sniff_format
from viewer.core.preprocess import preprocess

REPO = Path(__file__).resolve().parents[2]
RNG = np.random.default_rng(4)


def make_dicom(
    path: Path,
    pixels: np.ndarray,
    *,
    photometric: str = "MONOCHROME2",
    bits_stored: int | None = None,
    syntax: str = ExplicitVRLittleEndian,
    frames: int = 1,
    raw: bytes | None = None,
    **attributes,
) -> Path:
    """A DX-like DICOM file with ``pixels`` (2-D, or 3-D frames) and any extra attributes."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = syntax
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "DX"
    ds.PatientID = "TEST"
    ds.Rows, ds.Columns = pixels.shape[-2:]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = pixels.dtype.itemsize * 8
    ds.BitsStored = bits_stored or ds.BitsAllocated
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 1 if pixels.dtype.kind == "i" else 0
    if frames > 1:
        ds.NumberOfFrames = frames
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    if pixels.dtype.kind == "f":
        ds.FloatPixelData = pixels.astype(np.float32).tobytes()
        del ds.PixelRepresentation
    else:
        big = syntax == ExplicitVRBigEndian
        data = raw if raw is not None else pixels.astype(pixels.dtype.newbyteorder(">" if big else "<")).tobytes()
        ds.PixelData = data
        ds["PixelData"].VR = "OW" if ds.BitsAllocated > 8 else "OB"
    ds.save_as(path, enforce_file_format=True)
    return path


def oracle(path: Path, index: int | None = None) -> np.ndarray:
    """pydicom's own decode + modality LUT: what the loader's pixels must equal."""
    ds = pydicom.dcmread(path)
    return apply_modality_lut(pixel_array(ds, index=index), ds)


# -- DICOM: bit depths, signedness, photometrics -------------------------------------------
@pytest.mark.parametrize(
    ("dtype", "bits_stored", "low", "high"),
    [
        (np.uint8, 8, 0, 255),
        (np.int8, 8, -128, 127),
        (np.uint16, 10, 0, 1023),
        (np.uint16, 12, 0, 4095),
        (np.int16, 12, -2048, 2047),
        (np.uint16, 15, 0, 32767),
        (np.uint16, 16, 0, 65535),
        (np.int16, 16, -32768, 32767),
    ],
)
def test_stored_values_match_pydicom(tmp_path: Path, dtype, bits_stored: int, low: int, high: int) -> None:
    values = RNG.integers(low, high + 1, size=(37, 53)).astype(dtype)
    path = make_dicom(tmp_path / "x.dcm", values, bits_stored=bits_stored)
    radiograph = load_radiograph(path)
    np.testing.assert_array_equal(radiograph.pixels, values)
    np.testing.assert_array_equal(radiograph.pixels, oracle(path))
    assert radiograph.bits_stored == bits_stored and radiograph.photometric == "MONOCHROME2"


@pytest.mark.parametrize(("dtype", "bits_stored"), [(np.uint16, 12), (np.int16, 12), (np.uint8, 6)])
def test_unused_high_bits_are_ignored_like_pydicom(tmp_path: Path, dtype, bits_stored: int) -> None:
    """PS3.5 8.1.1: bits above Bits Stored may hold anything (old overlays); they must not show."""
    bits = np.dtype(dtype).itemsize * 8
    garbage = RNG.integers(0, 2**bits, size=(20, 30), dtype=np.uint64).astype(np.dtype(dtype).str.replace("i", "u"))
    path = make_dicom(tmp_path / "x.dcm", garbage.view(dtype), bits_stored=bits_stored)
    radiograph = load_radiograph(path)
    np.testing.assert_array_equal(radiograph.pixels, oracle(path))
    assert radiograph.pixels.max() < 2 ** bits_stored


@pytest.mark.parametrize("syntax", [ImplicitVRLittleEndian, ExplicitVRBigEndian, DeflatedExplicitVRLittleEndian])
def test_other_uncompressed_syntaxes(tmp_path: Path, syntax: str) -> None:
    values = RNG.integers(-2000, 2000, size=(16, 24)).astype(np.int16)
    path = make_dicom(tmp_path / "x.dcm", values, syntax=syntax, bits_stored=12)
    np.testing.assert_array_equal(load_radiograph(path).pixels, values)


def test_rescale_slope_and_intercept_give_modality_units(tmp_path: Path) -> None:
    values = RNG.integers(0, 4096, size=(30, 40)).astype(np.uint16)
    path = make_dicom(tmp_path / "x.dcm", values, bits_stored=12, RescaleSlope="0.5", RescaleIntercept="-1024")
    radiograph = load_radiograph(path)
    assert radiograph.pixels.dtype == np.float32
    np.testing.assert_allclose(radiograph.pixels, oracle(path), rtol=0, atol=1e-3)
    np.testing.assert_allclose(radiograph.pixels, values * 0.5 - 1024)


def test_modality_lut_sequence_goes_through_pydicom(tmp_path: Path) -> None:
    values = RNG.integers(0, 256, size=(10, 10)).astype(np.uint16)
    item = Dataset()
    item.LUTDescriptor = [256, 0, 16]
    item.add_new("LUTData", "US", [3 * i + 7 for i in range(256)])
    item.ModalityLUTType = "US"
    path = make_dicom(tmp_path / "x.dcm", values, bits_stored=8, ModalityLUTSequence=[item])
    np.testing.assert_array_equal(load_radiograph(path).pixels, 3 * values + 7)


def test_monochrome1_is_flagged_and_shown_white_for_low_values(tmp_path: Path) -> None:
    values = np.array([[0, 1000], [2000, 4095]], dtype=np.uint16)
    path = make_dicom(tmp_path / "m1.dcm", values, photometric="MONOCHROME1", bits_stored=12,
                      WindowCenter="2048", WindowWidth="4096")
    radiograph = load_radiograph(path)
    assert radiograph.inverted and radiograph.photometric == "MONOCHROME1"
    grey = to_unit_grey(radiograph)
    assert grey[0, 0] == pytest.approx(1.0, abs=1e-3) and grey[1, 1] == pytest.approx(0.0, abs=1e-3)
    np.testing.assert_allclose(to_unit_grey(radiograph, apply_photometric=False), 1.0 - grey, atol=1e-6)


def test_monochrome2_low_values_are_black(tmp_path: Path) -> None:
    values = np.array([[0, 1000], [2000, 4095]], dtype=np.uint16)
    path = make_dicom(tmp_path / "m2.dcm", values, bits_stored=12, WindowCenter="2048", WindowWidth="4096")
    grey = to_unit_grey(load_radiograph(path))
    assert grey[0, 0] == pytest.approx(0.0, abs=1e-3) and grey[1, 1] == pytest.approx(1.0, abs=1e-3)


# -- DICOM: header facts ---------------------------------------------------------------------
def test_every_header_window_is_a_preset_with_its_name_and_function(tmp_path: Path) -> None:
    path = make_dicom(
        tmp_path / "w.dcm", np.zeros((4, 4), np.uint16), bits_stored=12,
        WindowCenter=["1000", "300", "40"], WindowWidth=["2000", "0", "400"],
        WindowCenterWidthExplanation=["WIDE", "BROKEN", "NARROW"], VOILUTFunction="SIGMOID",
    )
    radiograph = load_radiograph(path)
    assert [(w.center, w.width, w.name, w.function) for w in radiograph.windows] == [
        (1000.0, 2000.0, "WIDE", "SIGMOID"), (40.0, 400.0, "NARROW", "SIGMOID")
    ]
    assert any("window 2" in note for note in radiograph.notes)


def test_linear_window_narrower_than_one_is_ignored_and_image_still_shows(tmp_path: Path) -> None:
    values = RNG.integers(0, 4096, size=(20, 20)).astype(np.uint16)
    path = make_dicom(tmp_path / "w.dcm", values, bits_stored=12, WindowCenter="100", WindowWidth="0.5")
    radiograph = load_radiograph(path)
    assert radiograph.windows == [] and radiograph.notes
    assert preprocess(radiograph, 8, 8).max() > 0.5


@pytest.mark.parametrize(
    ("attributes", "spacing", "source", "noted"),
    [
        ({"PixelSpacing": ["0.143", "0.15"]}, (0.143, 0.15), "PixelSpacing", False),
        ({"ImagerPixelSpacing": ["0.2", "0.2"]}, (0.2, 0.2), "ImagerPixelSpacing", False),
        ({"PixelSpacing": ["0", "0"], "ImagerPixelSpacing": ["0.1", "0.1"]}, (0.1, 0.1), "ImagerPixelSpacing", False),
        ({"PixelSpacing": ["0", "0"]}, None, None, True),  # RG1's
        ({}, None, None, False),
    ],
)
def test_pixel_spacing(tmp_path: Path, attributes, spacing, source, noted) -> None:
    radiograph = load_radiograph(make_dicom(tmp_path / "s.dcm", np.zeros((4, 4), np.uint8), **attributes))
    assert radiograph.pixel_spacing == spacing and radiograph.spacing_source == source
    assert any("spacing" in note for note in radiograph.notes) == noted


def test_pixel_padding_value_marks_padding(tmp_path: Path) -> None:
    values = RNG.integers(100, 200, size=(10, 10)).astype(np.int16)
    values[:, :3] = -2000
    radiograph = load_radiograph(make_dicom(tmp_path / "p.dcm", values, PixelPaddingValue=-2000))
    np.testing.assert_array_equal(radiograph.padding_mask, values == -2000)


def test_multi_frame_native_shows_the_first_frame_by_default_with_a_note(tmp_path: Path) -> None:
    frames = RNG.integers(0, 4096, size=(3, 12, 10)).astype(np.uint16)
    path = make_dicom(tmp_path / "mf.dcm", frames, frames=3, bits_stored=12)
    radiograph = load_radiograph(path)
    np.testing.assert_array_equal(radiograph.pixels, frames[0])
    np.testing.assert_array_equal(radiograph.pixels, oracle(path, index=0))
    assert radiograph.number_of_frames == 3 and radiograph.frame_index == 0
    assert "multi-frame image: frame 1 of 3" in radiograph.notes


def test_float_pixel_data_loads_and_nan_is_refused(tmp_path: Path) -> None:
    values = RNG.normal(size=(8, 8)).astype(np.float32)
    radiograph = load_radiograph(make_dicom(tmp_path / "f.dcm", values))
    np.testing.assert_array_equal(radiograph.pixels, values)
    values[3, 3] = np.nan
    with pytest.raises(ImageLoadError, match="not finite"):
        load_radiograph(make_dicom(tmp_path / "nan.dcm", values))
    values[3, 3] = np.inf
    with pytest.raises(ImageLoadError, match="not finite"):
        load_radiograph(make_dicom(tmp_path / "inf.dcm", values))


def test_constant_image_loads_and_shows_one_grey(tmp_path: Path) -> None:
    path = make_dicom(tmp_path / "c.dcm", np.full((20, 30), 777, np.uint16), bits_stored=12,
                      WindowCenter="777", WindowWidth="0")
    radiograph = load_radiograph(path)
    grey = preprocess(radiograph, 16, 16)
    assert np.ptp(grey) < 1e-6 and grey[0, 0] == pytest.approx(0.5)  # one mid grey (to resize rounding)


def test_one_by_one_image(tmp_path: Path) -> None:
    radiograph = load_radiograph(make_dicom(tmp_path / "1.dcm", np.array([[5]], np.uint8)))
    assert radiograph.pixels.shape == (1, 1)
    grey = preprocess(radiograph, 32, 32)
    assert grey.shape == (32, 32) and np.ptp(grey) < 1e-6


def test_file_without_preamble_still_loads(tmp_path: Path) -> None:
    values = RNG.integers(0, 255, size=(6, 7)).astype(np.uint8)
    full = make_dicom(tmp_path / "full.dcm", values)
    ds = pydicom.dcmread(full)
    ds.file_meta = FileMetaDataset()
    ds.preamble = None
    bare = tmp_path / "IM0001"  # PACS exports often have no suffix
    ds.save_as(bare, enforce_file_format=False, implicit_vr=True, little_endian=True)
    assert bare.read_bytes()[128:132] != b"DICM"
    np.testing.assert_array_equal(load_radiograph(bare).pixels, values)


# -- DICOM: errors ----------------------------------------------------------------------------
def _assert_load_error(path: Path, *fragments: str) -> ImageLoadError:
    with pytest.raises(ImageLoadError) as caught:
        load_radiograph(path)
    message = str(caught.value)
    assert path.name in message
    for fragment in fragments:
        assert fragment in message, message
    return caught.value


def test_dicom_without_pixel_data(tmp_path: Path) -> None:
    path = make_dicom(tmp_path / "report.dcm", np.zeros((2, 2), np.uint8))
    ds = pydicom.dcmread(path)
    for keyword in ("PixelData", "Rows", "Columns"):
        delattr(ds, keyword)
    ds.save_as(path)
    _assert_load_error(path, "no pixel data")


def test_pixel_data_shorter_than_the_header_says(tmp_path: Path) -> None:
    path = make_dicom(tmp_path / "short.dcm", np.zeros((10, 10), np.uint16), Rows=20)
    _assert_load_error(path, "bytes of pixel data", "header")


@pytest.mark.parametrize("keep", [0.05, 0.2, 0.5, 0.8, 0.97, 0.999])
def test_truncated_dicom(tmp_path: Path, keep: float) -> None:
    source = make_dicom(tmp_path / "whole.dcm", RNG.integers(0, 4096, size=(64, 64)).astype(np.uint16))
    data = source.read_bytes()
    cut = tmp_path / f"cut_{keep}.dcm"
    cut.write_bytes(data[: int(len(data) * keep)])
    _assert_load_error(cut)


@pytest.mark.parametrize("name", ["MR_small_RLE.dcm", "MR_small_jp2klossless.dcm", "MR_small_jpeg_ls_lossless.dcm"])
@pytest.mark.parametrize("keep", [0.3, 0.6, 0.85])
def test_truncated_compressed_dicom(tmp_path: Path, name: str, keep: float) -> None:
    """JPEG-LS and JPEG 2000 decoders return a partial image from a cut codestream: refuse it."""
    from tests.core.test_transfer_syntaxes import local_test_file

    data = local_test_file(name).read_bytes()
    assert int(len(data) * keep) < data.rfind(b"\xfe\xff\xdd\xe0")  # the cut is inside the pixel data
    cut = tmp_path / name
    cut.write_bytes(data[: int(len(data) * keep)])
    _assert_load_error(cut)


def test_unknown_transfer_syntax(tmp_path: Path) -> None:
    path = make_dicom(tmp_path / "odd.dcm", np.zeros((4, 4), np.uint8))
    ds = pydicom.dcmread(path)
    ds.file_meta.TransferSyntaxUID = "1.2.826.0.1.3680043.9.9999.1"  # nobody's syntax
    ds.save_as(path, enforce_file_format=True)
    _assert_load_error(path, "cannot decode", "1.2.826.0.1.3680043.9.9999.1")


@pytest.mark.parametrize("name", ["x.dcm", "x.png", "x.jpg", "x"])
def test_text_saved_as_an_image(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("Patient report\nNo acute findings.\n" * 20)
    _assert_load_error(path)


@pytest.mark.parametrize("name", ["empty.dcm", "empty.png", "empty"])
def test_zero_bytes(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_bytes(b"")
    _assert_load_error(tmp_path / name, "empty")


def test_folder_and_missing_file(tmp_path: Path) -> None:
    _assert_load_error(tmp_path, "folder")
    _assert_load_error(tmp_path / "gone.dcm", "cannot be read")


# -- decompression bombs: refused from the header, before allocation -------------------------
def test_dicom_claiming_absurd_dimensions(tmp_path: Path) -> None:
    path = make_dicom(tmp_path / "huge.dcm", np.zeros((2, 2), np.uint16), Rows=60000, Columns=60000)
    _assert_load_error(path, "refused before decoding")


def test_jpeg2000_codestream_claiming_absurd_dimensions(tmp_path: Path) -> None:
    from tests.core.test_transfer_syntaxes import local_test_file

    data = bytearray(local_test_file("MR_small_jp2klossless.dcm").read_bytes())
    siz = data.find(b"\xff\x4f\xff\x51")
    data[siz + 8 : siz + 16] = struct.pack(">II", 100_000, 100_000)  # Xsiz, Ysiz
    (tmp_path / "bomb.dcm").write_bytes(bytes(data))
    _assert_load_error(tmp_path / "bomb.dcm", "refused before decoding")


def test_deflated_dicom_bomb(tmp_path: Path) -> None:
    """A few hundred kB that would inflate to 256 MB inside pydicom."""
    path = make_dicom(tmp_path / "ok.dcm", np.zeros((2, 2), np.uint8), syntax=DeflatedExplicitVRLittleEndian)
    data = path.read_bytes()
    meta_end = 132 + 12 + struct.unpack("<I", data[140:144])[0]
    squeeze = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    chunk, body = bytes(1 << 20), [squeeze.compress(bytes(1 << 20))]
    body += [squeeze.compress(chunk) for _ in range(255)] + [squeeze.flush()]
    (tmp_path / "bomb.dcm").write_bytes(data[:meta_end] + b"".join(body))
    assert (tmp_path / "bomb.dcm").stat().st_size < 1_000_000
    _assert_load_error(tmp_path / "bomb.dcm", "refused before decoding")


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_bomb(path: Path, width: int, height: int) -> Path:
    """A real, valid 8-bit grey PNG of zeros: tiny on disk, width x height bytes decoded."""
    squeeze, idat, row = zlib.compressobj(9), [], bytes(width + 1)  # filter byte + pixels
    for _ in range(height):
        idat.append(squeeze.compress(row))
    idat.append(squeeze.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", b"".join(idat))
                     + _png_chunk(b"IEND", b""))
    return path


def test_png_header_claiming_100000_squared(tmp_path: Path) -> None:
    ok = tmp_path / "small.png"
    cv2.imwrite(str(ok), np.zeros((8, 8), np.uint8))
    data = bytearray(ok.read_bytes())
    data[16:24] = struct.pack(">II", 100_000, 100_000)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    (tmp_path / "claims.png").write_bytes(bytes(data))
    _assert_load_error(tmp_path / "claims.png", "100000 x 100000", "refused before decoding")


_BOMB_CHILD = r"""
import sys
from viewer.core.errors import ImageLoadError
from viewer.core.loader import load_radiograph
try:
    load_radiograph(sys.argv[1])
    outcome = "loaded"
except ImageLoadError as exc:
    outcome = str(exc)
# Peak RSS of this interpreter in MB. VmHWM, not ru_maxrss: the latter keeps the high-water
# mark of the forked parent across exec, so a large pytest process would be measured instead.
with open("/proc/self/status") as status:
    print(next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) // 1024)
print(outcome)
"""


def test_real_png_bomb_does_not_take_the_memory(tmp_path: Path) -> None:
    """20,000 x 20,000 zeros (400 MB decoded) in a ~400 kB PNG, loaded in a fresh interpreter."""
    bomb = png_bomb(tmp_path / "bomb.png", 20_000, 20_000)
    assert bomb.stat().st_size < 1_000_000 and 20_000 * 20_000 > MAX_PIXELS
    done = subprocess.run([sys.executable, "-c", _BOMB_CHILD, str(bomb)], capture_output=True, text=True,
                          cwd=REPO, timeout=120)
    peak_mb, outcome = done.stdout.strip().splitlines()[-2:]
    assert "refused before decoding" in outcome, done.stdout + done.stderr
    assert int(peak_mb) < 350  # decoding it would need at least 400 MB


def test_small_png_bomb_within_the_limit_decodes(tmp_path: Path) -> None:
    radiograph = load_radiograph(png_bomb(tmp_path / "zeros.png", 3000, 2000))
    assert radiograph.pixels.shape == (2000, 3000) and radiograph.pixels.max() == 0


def test_jpeg_sof_claiming_absurd_dimensions(tmp_path: Path) -> None:
    ok = tmp_path / "small.jpg"
    cv2.imwrite(str(ok), np.zeros((8, 8), np.uint8))
    data = bytearray(ok.read_bytes())
    sof = data.find(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", 65000, 65000)
    (tmp_path / "claims.jpg").write_bytes(bytes(data))
    _assert_load_error(tmp_path / "claims.jpg", "refused before decoding")


def test_tiff_ifd_claiming_absurd_dimensions(tmp_path: Path) -> None:
    """OpenCV reads its own pixel limit once, when it loads; our check does not depend on that."""
    width, height = 200_000, 100_000
    entries = [(256, 4, width), (257, 4, height), (258, 3, 8), (259, 3, 1), (262, 3, 1), (273, 4, 8),
               (277, 3, 1), (278, 4, height), (279, 4, 1)]
    ifd = struct.pack("<H", len(entries))
    for tag, kind, value in entries:
        ifd += struct.pack("<HHI", tag, kind, 1)
        ifd += struct.pack("<I", value) if kind == 4 else struct.pack("<HH", value, 0)
    (tmp_path / "claims.tif").write_bytes(b"II*\x00" + struct.pack("<I", 8) + ifd + b"\0\0\0\0")
    _assert_load_error(tmp_path / "claims.tif", "200000 x 100000", "refused before decoding")


def test_bmp_header_claiming_absurd_dimensions(tmp_path: Path) -> None:
    ok = tmp_path / "small.bmp"
    cv2.imwrite(str(ok), np.zeros((8, 8), np.uint8))
    data = bytearray(ok.read_bytes())
    data[18:26] = struct.pack("<ii", 50_000, -50_000)
    (tmp_path / "claims.bmp").write_bytes(bytes(data))
    _assert_load_error(tmp_path / "claims.bmp", "50000 x 50000", "refused before decoding")


# -- raster formats -------------------------------------------------------------------------
def test_8_bit_png(tmp_path: Path) -> None:
    image = RNG.integers(0, 256, size=(40, 50)).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "g.png"), image)
    radiograph = load_radiograph(tmp_path / "g.png")
    np.testing.assert_array_equal(radiograph.pixels, image)
    assert radiograph.bits_stored == 8 and radiograph.notes == [] and radiograph.header is None
    np.testing.assert_allclose(to_unit_grey(radiograph), image / 255.0, atol=1e-6)


def test_16_bit_png_with_12_bit_data_is_not_black(tmp_path: Path) -> None:
    image = RNG.integers(100, 4096, size=(40, 50)).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "g16.png"), image)
    radiograph = load_radiograph(tmp_path / "g16.png")
    assert radiograph.bits_stored == 16
    grey = to_unit_grey(radiograph)
    assert grey.min() == 0.0 and grey.max() == pytest.approx(1.0)
    np.testing.assert_allclose(grey, (image - image.min()) / float(image.max() - image.min()), atol=1e-6)


def test_rgb_and_rgba_become_grey_with_a_note(tmp_path: Path) -> None:
    bgr = RNG.integers(0, 256, size=(30, 20, 3)).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "c.png"), bgr)
    radiograph = load_radiograph(tmp_path / "c.png")
    np.testing.assert_array_equal(radiograph.pixels, cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
    assert "RGB" in radiograph.notes[0]
    bgra = np.dstack([bgr, np.full((30, 20), 128, np.uint8)])
    cv2.imwrite(str(tmp_path / "a.png"), bgra)
    radiograph = load_radiograph(tmp_path / "a.png")
    np.testing.assert_array_equal(radiograph.pixels, cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
    assert "alpha" in radiograph.notes[0]


def test_grey_saved_as_rgb_reads_back_exactly(tmp_path: Path) -> None:
    grey = RNG.integers(0, 256, size=(30, 20)).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "g3.png"), cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR))
    radiograph = load_radiograph(tmp_path / "g3.png")
    np.testing.assert_array_equal(radiograph.pixels, grey)
    assert "identical channels" in radiograph.notes[0]


@pytest.mark.parametrize(("name", "dtype"), [("g.jpg", np.uint8), ("g.tif", np.uint8), ("g16.tif", np.uint16),
                                             ("g.bmp", np.uint8)])
def test_other_raster_formats(tmp_path: Path, name: str, dtype) -> None:
    image = (RNG.integers(0, 200, size=(24, 32)) * (50 if dtype == np.uint16 else 1)).astype(dtype)
    cv2.imwrite(str(tmp_path / name), image)
    radiograph = load_radiograph(tmp_path / name)
    assert radiograph.pixels.shape == (24, 32) and radiograph.pixels.dtype == dtype
    assert radiograph.source_format == sniff_format(tmp_path / name)
    if not name.endswith(".jpg"):
        np.testing.assert_array_equal(radiograph.pixels, image)


def test_truncated_png(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "g.png"), RNG.integers(0, 256, size=(64, 64)).astype(np.uint8))
    data = (tmp_path / "g.png").read_bytes()
    for keep in (20, 40, len(data) // 2):
        (tmp_path / "cut.png").write_bytes(data[:keep])
        _assert_load_error(tmp_path / "cut.png")


def test_non_utf8_file_name(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "g.png"), np.zeros((4, 4), np.uint8))
    odd = bytes(tmp_path) + b"/caf\xe9.png"
    Path(tmp_path / "g.png").rename(odd.decode("utf-8", "surrogateescape"))
    assert load_radiograph(odd).pixels.shape == (4, 4)


# -- no other exception type escapes: mutated real bytes ------------------------------------
def _fuzz_sources() -> dict[str, bytes]:
    from tests.core.test_transfer_syntaxes import local_test_file

    sources = {name: local_test_file(name).read_bytes() for name in (
        "MR_small.dcm", "MR_small_RLE.dcm", "MR_small_jpeg_ls_lossless.dcm", "MR_small_jp2klossless.dcm",
        "SC_rgb_small_odd_jpeg.dcm", "emri_small.dcm", "vlut_04.dcm",
    )}
    image = RNG.integers(0, 256, size=(16, 16)).astype(np.uint8)
    for suffix in (".png", ".jpg", ".tif", ".bmp"):
        sources["small" + suffix] = cv2.imencode(suffix, image)[1].tobytes()
    sources["small16.png"] = cv2.imencode(".png", image.astype(np.uint16) * 200)[1].tobytes()
    return sources


FUZZ_SOURCES = _fuzz_sources()
FUZZ_DIR = Path(tempfile.mkdtemp(prefix="cxr-fuzz-"))


@st.composite
def mutated_files(draw) -> tuple[str, bytes]:
    name = draw(st.sampled_from(sorted(FUZZ_SOURCES)))
    data = bytearray(FUZZ_SOURCES[name])
    for _ in range(draw(st.integers(1, 6))):
        action = draw(st.sampled_from(["set", "truncate", "insert", "delete", "header"]))
        position = draw(st.integers(0, max(0, len(data) - 1)))
        if action == "header":  # the interesting bytes: where lengths and sizes live
            position = draw(st.integers(0, max(0, min(len(data), 1200) - 1)))
        if action in ("set", "header") and data:
            data[position] = draw(st.integers(0, 255))
        elif action == "truncate":
            del data[position:]
        elif action == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=8))
        elif action == "delete":
            del data[position : position + draw(st.integers(1, 16))]
    return name, bytes(data)


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutated_files())
def test_mutated_files_load_or_raise_image_load_error(case: tuple[str, bytes]) -> None:
    name, data = case
    path = FUZZ_DIR / name
    path.write_bytes(data)
    try:
        radiograph = load_radiograph(path)
    except ImageLoadError as exc:
        assert name in str(exc)
        return
    assert radiograph.pixels.ndim == 2 and radiograph.pixels.size > 0
    grey = preprocess(radiograph, 16, 16)
    assert grey.shape == (16, 16) and np.isfinite(grey).all()
