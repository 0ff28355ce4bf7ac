"""What the corners of the image say about it, and the scale bar, from the header or the scan.

``image_facts`` reads age, sex, study date, modality, view, laterality, series and instance from
the DICOM header (through ``viewer.core.dicom_values``, the one guarded reader of header values)
and falls back on what the folder scan knows (an NIH PNG's age, sex and view come from
``Data_Entry``). The patient's name, ID and birth date are apart, in ``identity_lines``: they are
drawn only while the user asks for them, and never into an export. ``scale_bar`` is the length
of a round distance on screen, where the pixel spacing is known.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from viewer.core.dicom_values import date_text, int_value, text_value
from viewer.core.scan import ScannedImage

from .view_transform import ViewTransform

_DICOM_AGE = re.compile(r"^\s*(\d{1,3})\s*([DWMY]?)\s*$", re.IGNORECASE)
AGE_UNITS = {"Y": "y", "M": "mo", "W": "wk", "D": "d"}
SCALE_STEPS = (1.0, 2.0, 5.0)  # a scale bar is 1, 2 or 5 times a power of ten mm long


@dataclass(frozen=True)
class ImageFacts:
    """The image's description for its corners ("" or None: not known)."""

    age: str = ""  # "61 y", "6 mo"
    sex: str = ""
    study_date: str = ""  # YYYY-MM-DD when the header's date is a plain one
    modality: str = ""
    view: str = ""  # PA, AP, LL...
    laterality: str = ""
    series: int | None = None
    instance: int | None = None

    @property
    def age_sex(self) -> str:
        """'61 y  F', or the one that is known."""
        return "  ".join(part for part in (self.age, self.sex) if part)

    @property
    def acquisition(self) -> str:
        """'DX  PA  L': modality, view and laterality."""
        return "  ".join(part for part in (self.modality, self.view, self.laterality) if part)

    @property
    def position(self) -> str:
        """'Series 3  Image 7'."""
        parts = []
        if self.series is not None:
            parts.append(f"Series {self.series}")
        if self.instance is not None:
            parts.append(f"Image {self.instance}")
        return "  ".join(parts)


@dataclass(frozen=True)
class ScaleBar:
    """A horizontal bar of ``length`` screen pixels standing for ``label`` (e.g. '5 cm')."""

    length: float
    label: str


def dicom_age(value: str) -> str:
    """A DICOM age string (``061Y``, ``006M``) as words ('61 y', '6 mo'); '' when it is not one."""
    match = _DICOM_AGE.match(value)
    if not match:
        return ""
    return f"{int(match.group(1))} {AGE_UNITS[(match.group(2) or 'Y').upper()]}"


def image_facts(header: Any | None, scanned: ScannedImage | None = None) -> ImageFacts:
    """The corners' facts of an image: from its DICOM ``header`` where it has them, else from
    what the scan found (``scanned``, e.g. an NIH PNG's Data_Entry row)."""
    ds = header
    age = dicom_age(text_value(ds, "PatientAge")) if ds is not None else ""
    if not age and scanned is not None and scanned.age is not None:
        age = f"{scanned.age} y"
    return ImageFacts(
        age=age,
        sex=_first(text_value(ds, "PatientSex") if ds is not None else "", scanned.sex if scanned else None),
        study_date=date_text(ds, "StudyDate") if ds is not None else "",
        modality=_first(text_value(ds, "Modality") if ds is not None else "", scanned.modality if scanned else None),
        view=_first(text_value(ds, "ViewPosition") if ds is not None else "",
                    scanned.view_position if scanned else None),
        laterality=(text_value(ds, "ImageLaterality") or text_value(ds, "Laterality")) if ds is not None else "",
        series=_first_int(int_value(ds, "SeriesNumber") if ds is not None else None,
                          scanned.series_number if scanned else None),
        instance=_first_int(int_value(ds, "InstanceNumber") if ds is not None else None,
                            scanned.instance_number if scanned else None),
    )


def identity_lines(header: Any | None, scanned: ScannedImage | None = None) -> tuple[str, ...]:
    """The patient's name, ID and birth date as lines for the screen, from the header, else the
    scan's label and ID (an NIH patient number). Never for a log, a message or an export."""
    if header is not None:
        name = " ".join(text_value(header, "PatientName").split())
        family, _, rest = name.partition("^")
        shown_name = f"{family}, {' '.join(rest.replace('^', ' ').split())}" if rest.strip("^ ") else family
        lines = [shown_name, f"ID {text_value(header, 'PatientID')}" if text_value(header, "PatientID") else "",
                 f"born {date_text(header, 'PatientBirthDate')}" if date_text(header, "PatientBirthDate") else ""]
        return tuple(line for line in lines if line)
    if scanned is not None:
        return tuple(line for line in (scanned.patient_label,) if line)
    return ()


def scale_bar(view: ViewTransform, pixel_spacing: tuple[float, float] | None, max_length: float) -> ScaleBar | None:
    """The longest round distance (1, 2 or 5 times a power of ten mm) at most ``max_length``
    screen pixels long across the screen, for an image of ``pixel_spacing`` (row, column mm);
    None without a usable spacing."""
    if pixel_spacing is None or not all(s > 0 and math.isfinite(s) for s in pixel_spacing) or view.zoom <= 0:
        return None
    # across the screen runs along the image's rows (column spacing), or its columns when turned
    mm_per_image_px = pixel_spacing[1] if view.orientation[0] != 0 else pixel_spacing[0]
    mm_per_screen_px = mm_per_image_px / view.zoom
    longest = max_length * mm_per_screen_px
    if longest <= 0 or not math.isfinite(longest):
        return None
    power = 10.0 ** math.floor(math.log10(longest))
    mm = max(step * power for step in SCALE_STEPS if step * power <= longest)
    label = f"{mm / 10:g} cm" if mm >= 10 else f"{mm:g} mm"
    return ScaleBar(mm / mm_per_screen_px, label)


def _first(*values: str | None) -> str:
    return next((v for v in values if v), "")


def _first_int(*values: int | None) -> int | None:
    return next((v for v in values if v is not None), None)
