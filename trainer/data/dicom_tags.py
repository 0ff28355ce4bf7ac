"""What a reader takes from an image's own DICOM header when its label file lacks it.

SIIM-ACR's label file has no patient, view, age or sex, and RSNA's has them only in a separate
header table; the DICOM files carry all four. ``read_tags`` reads them through the viewer's
header reader (``viewer.core.loader.dicom_header``: the same size bounds and checks as a load),
only those elements, never the pixels. A file whose header cannot be read gives no tags (all
None) rather than an error: the pixel pass reports that file as unreadable, by name, like any
other image. The patient id is returned for grouping only; no caller may show it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pydicom.tag import Tag

from viewer.core.dicom_values import text_value
from viewer.core.errors import ImageLoadError
from viewer.core.loader import DICOM_SUFFIXES
from viewer.core.loader.dicom_header import read_header

_TAGS = [Tag(keyword) for keyword in ("PatientID", "PatientAge", "PatientSex", "ViewPosition")]
_AGE = re.compile(r"^\s*(\d{1,3})\s*([DWMY]?)\s*$", re.IGNORECASE)
MAX_AGE = 120  # years: RSNA's headers hold a few ages of 148 to 155, typos rather than people


@dataclass(frozen=True)
class DicomTags:
    """The values of one header; None where the element is absent or empty."""

    patient_id: str | None = None
    view: str | None = None  # ViewPosition, upper case
    age: int | None = None  # years
    sex: str | None = None  # "M" or "F"


def read_tags(path: Path) -> DicomTags:
    """The patient, view, age and sex in ``path``'s DICOM header; all None for a file that is not
    a DICOM (by suffix) or whose header cannot be read."""
    if path.suffix.lower() not in DICOM_SUFFIXES:
        return DicomTags()
    try:
        with open(path, "rb") as handle:
            ds, _ = read_header(path, handle, specific_tags=list(_TAGS), defer_size=None)
    except (ImageLoadError, OSError):
        return DicomTags()
    return DicomTags(text_value(ds, "PatientID") or None, text_value(ds, "ViewPosition").upper() or None,
                     age_in_years(text_value(ds, "PatientAge")), sex_code(text_value(ds, "PatientSex")))


def age_in_years(value: str) -> int | None:
    """A DICOM age string (``045Y``, or the bare ``45`` RSNA's files hold) in years; an age in
    days, weeks or months is 0; None for anything else or over ``MAX_AGE``."""
    match = _AGE.match(value)
    if not match:
        return None
    number, unit = int(match.group(1)), match.group(2).upper() or "Y"
    if unit != "Y":
        return 0
    return number if number <= MAX_AGE else None


def sex_code(value: str) -> str | None:
    """``M`` or ``F`` from a PatientSex value, else None (``O``, blank)."""
    code = value.strip().upper()[:1]
    return code if code in ("M", "F") else None
