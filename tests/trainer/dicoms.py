"""Small generated DICOM radiographs for the RSNA and SIIM reader tests, with the header values
those sets' files carry (PatientID, ViewPosition, PatientAge, PatientSex)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"  # what both challenges' files are


def write_cxr_dicom(path: Path, pixels: np.ndarray, *, patient_id: str, view: str = "PA", age: str = "051Y",
                    sex: str = "F") -> Path:
    """An 8-bit MONOCHROME2 DICOM of ``pixels`` with the given header values at ``path``."""
    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SECONDARY_CAPTURE
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = SECONDARY_CAPTURE
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.PatientName = patient_id
    ds.PatientID = patient_id
    ds.PatientAge = age
    ds.PatientSex = sex
    ds.Modality = "CR"
    ds.BodyPartExamined = "CHEST"
    ds.ViewPosition = view
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.PixelData = pixels.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(str(path), enforce_file_format=True)
    return path


def chest_pixels(rng: np.random.Generator, positive: bool, size: int = 64) -> np.ndarray:
    """Noise around mid grey, with a bright square where a positive image has its finding."""
    pixels = rng.normal(100, 20, (size, size))
    if positive:
        pixels[size // 4:size // 2, size // 4:size // 2] += 90
    return np.clip(pixels, 0, 255).astype(np.uint8)
