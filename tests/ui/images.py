"""Generated radiographs for the UI tests: chest-like PNGs and DICOM files with known headers."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pydicom
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from tests.core.chest_phantom import chest_phantom

SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
DX_IMAGE = "1.2.840.10008.5.1.4.1.1.1.1"


def chest_png(path: Path, seed: int = 0, size: int = 128) -> Path:
    """An 8-bit greyscale PNG of a chest phantom (white = dense)."""
    grey = chest_phantom(np.random.default_rng(seed), size)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.rint(grey * 255).astype(np.uint8))
    return path


def ramp_png(path: Path, width: int = 96, height: int = 64) -> Path:
    """Columns 0..width-1 with grey value = column * 2 (a known value under every pixel)."""
    row = (np.arange(width) * 2 % 256).astype(np.uint8)
    cv2.imwrite(str(path), np.tile(row, (height, 1)))
    return path


def write_dicom(
    path: Path,
    pixels: np.ndarray,
    *,
    photometric: str = "MONOCHROME2",
    spacing: tuple[float, float] | None = (0.2, 0.2),
    window: tuple[float, float] | None = None,
    patient_name: str = "TEST^PATIENT",
    patient_id: str = "TEST-ID-1",
    birth_date: str = "19700101",
    study_uid: str | None = None,
    sop_class: str = DX_IMAGE,
) -> Path:
    """A little-endian uncompressed DICOM image of uint16 ``pixels`` with the given header."""
    pixels = np.ascontiguousarray(pixels, dtype=np.uint16)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.PatientBirthDate = birth_date
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.StudyDate = "20240102"
    ds.StudyDescription = "CHEST PA"
    ds.Modality = "DX"
    ds.ViewPosition = "PA"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    if spacing is not None:
        ds.PixelSpacing = [f"{spacing[0]:g}", f"{spacing[1]:g}"]
    if window is not None:
        ds.WindowCenter = f"{window[0]:g}"
        ds.WindowWidth = f"{window[1]:g}"
    ds.PixelData = pixels.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(str(path), enforce_file_format=True)
    return path


def chest_dicom(path: Path, seed: int = 0, size: int = 128, **header) -> Path:
    """A 12-bit DICOM of a chest phantom (values 0..4095, MONOCHROME2 unless told)."""
    grey = chest_phantom(np.random.default_rng(seed), size)
    photometric = header.get("photometric", "MONOCHROME2")
    values = grey if photometric == "MONOCHROME2" else 1.0 - grey
    return write_dicom(path, np.rint(values * 4095), **header)


def read_header(path: Path) -> pydicom.Dataset:
    return pydicom.dcmread(path, stop_before_pixels=True)
