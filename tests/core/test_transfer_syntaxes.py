"""Every compressed transfer syntax, on pydicom's own test files that pip installs locally.

The files come from two places only, found by path inside the installed packages (never through
``pydicom.data.get_testdata_file``, which goes to the network for files that are not local):
``pydicom/data/test_files`` (inside pydicom) and ``data_store/data`` (the pydicom-data package).
Where pydicom ships an uncompressed twin, lossless files must decode to identical pixels and
lossy ones must stay close; the others are pinned by a checksum of the decoded pixels.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import data_store
import numpy as np
import pydicom
import pydicom.data
import pytest
from pydicom.uid import (
    JPEG2000,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)

from viewer.core.display_transforms import to_unit_grey
from viewer.core.errors import ImageLoadError
from viewer.core.loader import load_radiograph

REPO = Path(__file__).resolve().parents[2]
TEST_DIRS = (
    Path(pydicom.data.__file__).parent / "test_files",
    Path(data_store.__file__).parent / "data",
)


def local_test_file(name: str) -> Path:
    """A pydicom test file by name, from the installed packages only (no network lookup)."""
    for folder in TEST_DIRS:
        if (folder / name).is_file():
            return folder / name
    raise AssertionError(f"{name} is in neither {TEST_DIRS[0]} nor {TEST_DIRS[1]}")


def pixel_digest(pixels: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(pixels).tobytes()).hexdigest()[:16]


# (file, transfer syntax, (rows, cols), frames, twin) -- lossless: identical to the twin's pixels.
LOSSLESS_TWINS = [
    ("RG1_J2KR.dcm", JPEG2000Lossless, (1955, 1841), 1, "RG1_UNCR.dcm"),
    ("RG3_J2KR.dcm", JPEG2000Lossless, (1760, 1760), 1, "RG3_UNCR.dcm"),
    ("MR2_J2KR.dcm", JPEG2000Lossless, (1024, 1024), 1, "MR2_UNCR.dcm"),
    ("693_J2KR.dcm", JPEG2000Lossless, (512, 512), 1, "693_UNCR.dcm"),
    ("US1_J2KR.dcm", JPEG2000Lossless, (480, 640), 1, "US1_UNCR.dcm"),  # YBR_RCT colour
    ("examples_jpeg2k.dcm", JPEG2000Lossless, (480, 640), 1, "US1_UNCR.dcm"),
    ("JPEG2000.dcm", JPEG2000, (1024, 256), 1, "JPEG2000_UNC.dcm"),  # signed 16 bit
    ("SC_rgb_gdcm_KY.dcm", JPEG2000, (100, 100), 1, "SC_rgb.dcm"),
    ("MR_small_jp2klossless.dcm", JPEG2000Lossless, (64, 64), 1, "MR_small.dcm"),
    ("MR_small_jpeg_ls_lossless.dcm", JPEGLSLossless, (64, 64), 1, "MR_small.dcm"),
    ("MR_small_RLE.dcm", RLELossless, (64, 64), 1, "MR_small.dcm"),
    ("emri_small_RLE.dcm", RLELossless, (64, 64), 10, "emri_small.dcm"),
    ("emri_small_jpeg_2k_lossless.dcm", JPEG2000Lossless, (64, 64), 10, "emri_small.dcm"),
    ("emri_small_jpeg_2k_lossless_too_short.dcm", JPEG2000Lossless, (64, 64), 10, "emri_small.dcm"),
    ("emri_small_jpeg_ls_lossless.dcm", JPEGLSLossless, (64, 64), 10, "emri_small.dcm"),
    ("SC_rgb_rle.dcm", RLELossless, (100, 100), 1, "SC_rgb.dcm"),
    ("SC_rgb_rle_16bit.dcm", RLELossless, (100, 100), 1, "SC_rgb_16bit.dcm"),
    ("SC_rgb_rle_32bit.dcm", RLELossless, (100, 100), 1, "SC_rgb_32bit.dcm"),
    ("SC_rgb_rle_2frame.dcm", RLELossless, (100, 100), 2, "SC_rgb_2frame.dcm"),
    ("SC_rgb_jpeg_gdcm.dcm", JPEGLosslessSV1, (100, 100), 1, "SC_rgb.dcm"),
    ("SC_rgb_small_odd_jpeg.dcm", JPEGBaseline8Bit, (3, 3), 1, "SC_rgb_small_odd.dcm"),
    ("OBXXXX1A_rle.dcm", RLELossless, (600, 800), 1, "OBXXXX1A.dcm"),  # PALETTE COLOR
    ("OBXXXX1A_rle_2frame.dcm", RLELossless, (600, 800), 2, "OBXXXX1A.dcm"),
    ("rtdose_rle.dcm", RLELossless, (10, 10), 15, "rtdose.dcm"),  # 32-bit
]

# (file, syntax, shape, frames, twin, largest grey difference after each file's own window) -- lossy.
LOSSY_TWINS = [
    ("RG1_J2KI.dcm", JPEG2000, (1955, 1841), 1, "RG1_UNCR.dcm", 0.02),
    ("RG3_J2KI.dcm", JPEG2000, (1760, 1760), 1, "RG3_UNCR.dcm", 0.02),
    ("MR2_J2KI.dcm", JPEG2000, (1024, 1024), 1, "MR2_UNCR.dcm", 0.1),
    ("US1_J2KI.dcm", JPEG2000, (480, 640), 1, "US1_UNCR.dcm", 0.2),
    ("SC_rgb_jpeg_dcmtk.dcm", JPEGBaseline8Bit, (100, 100), 1, "SC_rgb.dcm", 0.02),
    ("SC_rgb_dcmtk_+eb+cr.dcm", JPEGBaseline8Bit, (100, 100), 1, "SC_rgb.dcm", 0.02),
    ("SC_rgb_dcmtk_+eb+cy+n1.dcm", JPEGBaseline8Bit, (100, 100), 1, "SC_rgb.dcm", 0.05),
    ("SC_rgb_dcmtk_+eb+cy+np.dcm", JPEGBaseline8Bit, (100, 100), 1, "SC_rgb.dcm", 0.05),
    ("SC_rgb_dcmtk_+eb+cy+s2.dcm", JPEGBaseline8Bit, (100, 100), 1, "SC_rgb.dcm", 0.02),
    ("SC_rgb_jpeg_lossy_gdcm.dcm", JPEGBaseline8Bit, (100, 100), 1, "SC_rgb.dcm", 0.05),
    ("SC_rgb_jls_lossy_line.dcm", JPEGLSNearLossless, (100, 100), 1, "SC_rgb.dcm", 0.02),
    ("SC_rgb_jls_lossy_sample.dcm", JPEGLSNearLossless, (100, 100), 1, "SC_rgb.dcm", 0.02),
]

# (file, syntax, shape, frames, sha256[:16] of the decoded pixels) -- no twin: pinned.
PINNED = [
    ("JPEG-LL.dcm", JPEGLosslessSV1, (1024, 256), 1, "a6e9d32143339d3f"),
    ("JPGLosslessP14SV1_1s_1f_8b.dcm", JPEGLosslessSV1, (768, 1024), 1, "36e27e4f1e87a7d5"),
    ("bad_sequence.dcm", JPEGLosslessSV1, (512, 512), 1, "dee26d1111c6c61d"),
    ("JPGExtended.dcm", JPEGExtended12Bit, (1024, 256), 1, "b1d76492f77a12c5"),
    ("JPEGLSNearLossless_08.dcm", JPEGLSNearLossless, (45, 10), 1, "9eb46aa86c342094"),
    ("JPEGLSNearLossless_16.dcm", JPEGLSNearLossless, (50, 10), 1, "f929318278115ce9"),
    ("SC_jpeg_no_color_transform.dcm", JPEGBaseline8Bit, (256, 256), 1, "2602683f166d74e1"),
    ("SC_jpeg_no_color_transform_2.dcm", JPEGBaseline8Bit, (256, 256), 1, "b3371b31d47c1d39"),
    ("SC_rgb_jpeg.dcm", JPEGBaseline8Bit, (256, 256), 1, "2602683f166d74e1"),  # says explicit VR, is implicit
    ("color3d_jpeg_baseline.dcm", JPEGBaseline8Bit, (480, 640), 120, "bcefc092948cfb5d"),
    ("examples_ybr_color.dcm", JPEGBaseline8Bit, (240, 320), 30, "6dc6e77ec7c5201b"),
    ("GDCMJ2K_TextGBR.dcm", JPEG2000Lossless, (400, 400), 1, "37bb744b98d3521b"),
    ("J2K_pixelrep_mismatch.dcm", JPEG2000Lossless, (512, 512), 1, "ac46d18f86e6f28c"),
    ("explicit_VR-UN.dcm", JPEG2000Lossless, (512, 512), 1, "edf39fedbae86cb6"),
]

# Damaged on purpose (pydicom's README says so): a clear ImageLoadError, never a crash.
DAMAGED = [
    ("JPEG-lossy.dcm", JPEGExtended12Bit, "could not be decoded"),  # JPGExtended.dcm is its fixed version
    ("JPEG2000-embedded-sequence-delimiter.dcm", JPEG2000, "refused before decoding"),  # bytes overwritten
]

ALL_DECODABLE = [c[0] for c in LOSSLESS_TWINS + LOSSY_TWINS + PINNED]
SYNTAXES_COVERED = {c[1] for c in LOSSLESS_TWINS + LOSSY_TWINS + PINNED}


def _check_header(name: str, syntax: str, shape: tuple[int, int], frames: int):
    path = local_test_file(name)
    assert pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID == syntax
    radiograph = load_radiograph(path)
    assert radiograph.pixels.shape == shape
    assert radiograph.number_of_frames == frames
    assert any("multi-frame" in note for note in radiograph.notes) == (frames > 1)
    return radiograph


def test_every_compressed_syntax_family_is_covered() -> None:
    assert SYNTAXES_COVERED >= {
        JPEGBaseline8Bit, JPEGExtended12Bit, JPEGLosslessSV1, JPEGLSLossless, JPEGLSNearLossless,
        JPEG2000Lossless, JPEG2000, RLELossless,
    }


@pytest.mark.parametrize(("name", "syntax", "shape", "frames", "twin"), LOSSLESS_TWINS, ids=lambda v: str(v))
def test_lossless_file_matches_its_uncompressed_twin(name, syntax, shape, frames, twin) -> None:
    radiograph = _check_header(name, syntax, shape, frames)
    reference = load_radiograph(local_test_file(twin))
    assert reference.header.file_meta.TransferSyntaxUID.is_compressed is False
    np.testing.assert_array_equal(radiograph.pixels, reference.pixels)


@pytest.mark.parametrize(("name", "syntax", "shape", "frames", "twin", "tolerance"), LOSSY_TWINS, ids=lambda v: str(v))
def test_lossy_file_stays_close_to_its_uncompressed_twin(name, syntax, shape, frames, twin, tolerance) -> None:
    radiograph = _check_header(name, syntax, shape, frames)
    reference = load_radiograph(local_test_file(twin))
    grey, grey_ref = to_unit_grey(radiograph), to_unit_grey(reference)
    assert np.abs(grey - grey_ref).mean() < tolerance / 4
    assert np.percentile(np.abs(grey - grey_ref), 99) < tolerance
    assert np.corrcoef(grey.ravel(), grey_ref.ravel())[0, 1] > 0.99
    assert not np.array_equal(radiograph.pixels, reference.pixels)  # really lossy: the test can tell


@pytest.mark.parametrize(("name", "syntax", "shape", "frames", "digest"), PINNED, ids=lambda v: str(v))
def test_file_without_twin_decodes_to_its_pinned_pixels(name, syntax, shape, frames, digest) -> None:
    radiograph = _check_header(name, syntax, shape, frames)
    assert pixel_digest(radiograph.pixels) == digest


@pytest.mark.parametrize(("name", "syntax", "problem"), DAMAGED, ids=lambda v: str(v))
def test_damaged_compressed_file_gives_a_clear_error(name, syntax, problem) -> None:
    path = local_test_file(name)
    assert pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID == syntax
    with pytest.raises(ImageLoadError, match=problem) as caught:
        load_radiograph(path)
    assert name in str(caught.value)


def test_only_the_first_frame_is_decoded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Multi-frame compressed data: pydicom is given frame 0's fragments alone, not the stack."""
    import viewer.core.loader.dicom_pixels as loader

    asked = []
    original = loader.decode_dicom_pixels

    def spy(ds, **kwargs):
        asked.append((kwargs.get("index"), int(ds.get("NumberOfFrames", 1)), len(ds.PixelData)))
        return original(ds, **kwargs)

    monkeypatch.setattr(loader, "decode_dicom_pixels", spy)
    path = local_test_file("color3d_jpeg_baseline.dcm")
    radiograph = load_radiograph(path)
    ((index, frames, size),) = asked
    assert index is None and frames == 1 and size < path.stat().st_size / 50
    assert radiograph.number_of_frames == 120
    assert radiograph.header is not None and int(radiograph.header.NumberOfFrames) == 120  # the header as read


# -- the bundle decodes with the viewer's own dependencies alone --------------------------
PLUGIN_DISTRIBUTIONS = ("pylibjpeg", "pylibjpeg-libjpeg", "pylibjpeg-openjpeg", "pylibjpeg-rle")


def _viewer_dependencies() -> set[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    names = set()
    for requirement in project["dependencies"]:
        name = requirement.split(";")[0]
        for stop in "<>=!~[ ":
            name = name.split(stop)[0]
        names.add(name.strip().lower())
    return names


def test_decoder_plugins_are_the_viewers_own_dependencies() -> None:
    """Not arriving by accident through torch, Pillow or the dev extras."""
    assert set(PLUGIN_DISTRIBUTIONS) <= _viewer_dependencies()


_SUBPROCESS = r"""
import hashlib, json, sys
# Decoders that are NOT viewer dependencies (they may be installed here through other extras):
# make them unimportable, as they are in the PyInstaller bundle.
for blocked in ("PIL", "gdcm", "jpeg_ls", "pyjpegls", "torch"):
    sys.modules[blocked] = None
import numpy as np
from viewer.core.loader import load_radiograph
out = {}
for path in sys.argv[1:]:
    pixels = np.ascontiguousarray(load_radiograph(path).pixels)
    out[path] = hashlib.sha256(pixels.tobytes()).hexdigest()[:16]
print(json.dumps(out))
"""


def test_every_syntax_decodes_with_only_the_viewers_dependencies() -> None:
    """Each decodable file, in a fresh interpreter where Pillow/GDCM/pyjpegls cannot load.

    The multi-megabyte radiographs are left out to keep this quick: smaller files of the same
    syntaxes are in (checked below), and the big ones decode through the same plugins.
    """
    paths = [str(local_test_file(n)) for n in ALL_DECODABLE if local_test_file(n).stat().st_size < 1_500_000]
    syntaxes = {pydicom.dcmread(p, stop_before_pixels=True).file_meta.TransferSyntaxUID for p in paths}
    assert syntaxes == SYNTAXES_COVERED
    done = subprocess.run(
        [sys.executable, "-c", _SUBPROCESS, *paths], capture_output=True, text=True, cwd=REPO, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    digests = json.loads(done.stdout.strip().splitlines()[-1])
    for path in paths:
        assert digests[path] == pixel_digest(load_radiograph(path).pixels), path
