"""Multi-frame DICOM files made from real radiographs, for the frame tests.

Each file holds ``FRAMES`` frames that differ visibly: frame k is the radiograph shifted down by
k * 9 rows and dimmed by k * 10 %, so a test tells which frame a decoder returned by comparing
it with ``frames[k]``. The files are written by pydicom (its RLE encoder, ``encapsulate`` and
``encapsulate_extended``), in every layout the loader tells frames apart by: native 8 and 16
bit, MONOCHROME1 and 2, big endian; encapsulated with a Basic Offset Table, without one, with an
Extended Offset Table, and with several fragments a frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate, encapsulate_extended, get_frame
from pydicom.pixels import get_encoder
from pydicom.uid import (
    UID,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    RLELossless,
    SecondaryCaptureImageStorage,
    generate_uid,
)

FRAMES = 5
SIZE = (96, 80)  # rows, columns: small, and not square so a transposed frame cannot pass


def radiograph_from_pydicom() -> np.ndarray:
    """A real radiograph that is always installed: pydicom-data's RG1_UNCR when present (a CR
    chest), else pydicom's own MR_small (a real MR image), as float in [0, 1]."""
    from pydicom.data import get_testdata_file

    path = get_testdata_file("RG1_UNCR.dcm") or get_testdata_file("MR_small.dcm")
    assert path is not None, "pydicom's test data is not installed"
    return _unit(pydicom.dcmread(path).pixel_array)


def radiograph_from_file(path: Path) -> np.ndarray:
    """A radiograph from a DICOM or PNG file, as float in [0, 1]."""
    if path.suffix.lower() == ".png":
        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        assert image is not None, path
        return _unit(image if image.ndim == 2 else image[..., 0])
    return _unit(pydicom.dcmread(path).pixel_array)


def _unit(image: np.ndarray) -> np.ndarray:
    small = cv2.resize(image.astype(np.float32), SIZE[::-1], interpolation=cv2.INTER_AREA)
    low, high = float(small.min()), float(small.max())
    return (small - low) / max(high - low, 1e-6)


def frames_from(base: np.ndarray, bits_stored: int, count: int = FRAMES) -> np.ndarray:
    """``count`` frames of ``base`` (float [0, 1]), each shifted and dimmed by its number, as
    unsigned integers of ``bits_stored`` bits (uint8 up to 8 bits, else uint16)."""
    top = (1 << bits_stored) - 1
    frames = [np.roll(base, 9 * k, axis=0) * (1.0 - 0.1 * k) * top for k in range(count)]
    stack = np.rint(np.stack(frames)).astype(np.uint8 if bits_stored <= 8 else np.uint16)
    assert all(not np.array_equal(stack[i], stack[j]) for i in range(count) for j in range(i)), "frames alike"
    return stack


def _dataset(frames: np.ndarray, bits_stored: int, photometric: str, syntax: UID) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = syntax
    ds.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality = "OT"
    ds.PatientName = "Frames^Test"
    ds.NumberOfFrames = len(frames)
    ds.Rows, ds.Columns = frames.shape[1:]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = 8 if frames.dtype == np.uint8 else 16
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 0
    return ds


def write_native(path: Path, frames: np.ndarray, *, bits_stored: int, photometric: str = "MONOCHROME2",
                 big_endian: bool = False, **attributes: object) -> Path:
    """Uncompressed frames (little or big endian), with any further attributes."""
    ds = _dataset(frames, bits_stored, photometric, ExplicitVRBigEndian if big_endian else ExplicitVRLittleEndian)
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    order = ">" if big_endian else "<"
    ds.PixelData = frames.astype(frames.dtype.newbyteorder(order)).tobytes()
    ds.save_as(path, enforce_file_format=True, little_endian=not big_endian, implicit_vr=False)
    return path


def encoded_frames(frames: np.ndarray, bits_stored: int, syntax: UID = RLELossless) -> list[bytes]:
    """Each frame compressed on its own by pydicom's encoder for ``syntax``."""
    ds = _dataset(frames, bits_stored, "MONOCHROME2", ExplicitVRLittleEndian)
    encoder = get_encoder(syntax)
    return [encoder.encode(frame, **_pixel_options(ds)) for frame in frames]


def _pixel_options(ds: Dataset) -> dict[str, object]:
    return {"rows": ds.Rows, "columns": ds.Columns, "samples_per_pixel": 1, "bits_allocated": ds.BitsAllocated,
            "bits_stored": ds.BitsStored, "pixel_representation": 0, "photometric_interpretation": "MONOCHROME2",
            "number_of_frames": 1}


def write_encapsulated(path: Path, frames: np.ndarray, *, bits_stored: int, syntax: UID = RLELossless,
                       offsets: str = "basic", fragments_per_frame: int = 1) -> Path:
    """Compressed frames; ``offsets`` is "basic" (a Basic Offset Table), "none" (an empty one)
    or "extended" (an Extended Offset Table, one fragment a frame)."""
    ds = _dataset(frames, bits_stored, "MONOCHROME2", syntax)
    encoded = encoded_frames(frames, bits_stored, syntax)
    if offsets == "extended":
        assert fragments_per_frame == 1, "the Extended Offset Table allows one fragment a frame"
        value, table, lengths = encapsulate_extended(encoded)
        ds.ExtendedOffsetTable, ds.ExtendedOffsetTableLengths = table, lengths
    else:
        value = encapsulate(encoded, fragments_per_frame=fragments_per_frame, has_bot=offsets == "basic")
    ds.PixelData = value
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    ds.save_as(path, enforce_file_format=True)
    return path


def frame_starts(path: Path) -> list[int]:
    """Where in the file each frame's data begins (to cut a file inside a frame)."""
    data = path.read_bytes()
    ds = pydicom.dcmread(path)
    count, value = int(ds.NumberOfFrames), ds.PixelData
    if not ds.file_meta.TransferSyntaxUID.is_encapsulated:
        at = data.rindex(value)
        return [at + k * len(value) // count for k in range(count)]
    starts, at = [], 0
    for k in range(count):  # frames may begin alike (a codestream's header): each is after the last
        frame = get_frame(value, k, number_of_frames=count)
        at = data.index(frame[:256], at + 1 if k else 0)
        starts.append(at)
    return starts


def cut_copy(path: Path, out: Path, at: int) -> Path:
    """A copy of ``path`` that ends after ``at`` bytes: a transfer that was interrupted."""
    out.write_bytes(path.read_bytes()[:at])
    return out


def enhanced(path: Path, frames: np.ndarray, bits_stored: int, rescales: Sequence[tuple[float, float]],
             windows: Sequence[tuple[float, float]]) -> Path:
    """An enhanced object whose rescale (slope, intercept) and window (centre, width) differ
    per frame, kept only in the per-frame functional groups (PS3.3 C.7.6.16)."""
    ds = _dataset(frames, bits_stored, "MONOCHROME2", ExplicitVRLittleEndian)
    groups = []
    for (slope, intercept), (centre, width) in zip(rescales, windows, strict=True):
        transform, voi, group = Dataset(), Dataset(), Dataset()
        transform.RescaleSlope, transform.RescaleIntercept, transform.RescaleType = slope, intercept, "US"
        voi.WindowCenter, voi.WindowWidth = centre, width
        group.PixelValueTransformationSequence = [transform]
        group.FrameVOILUTSequence = [voi]
        groups.append(group)
    ds.PerFrameFunctionalGroupsSequence = groups
    ds.PixelData = frames.astype("<u2").tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path
