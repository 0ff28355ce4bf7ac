"""The pixel spacing that measurements use, and which attribute it came from.

The loader already picks PixelSpacing, else ImagerPixelSpacing (``loader.dicom_header.pixel_spacing``),
for the scale bar and the rulers. ImagerPixelSpacing is measured at the detector, and a chest
on the table is magnified by the divergent beam (about 1.1 for a PA chest): sizes read with it
are overstated. Where the header gives EstimatedRadiographicMagnificationFactor the spacing is
divided by it (DICOM PS3.3 C.8.11.7), and the source text says so, so a reader can tell a
corrected length from a detector-plane one. Where no spacing is usable (RG1's PixelSpacing is
``[0, 0]``) the user calibrates on a known length: ``calibrate``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .dicom_values import float_value
from .loader.dicom_header import pixel_spacing
from .radiograph import Radiograph

PIXEL_SPACING = "PixelSpacing"
DETECTOR_PLANE = "ImagerPixelSpacing (detector plane, no magnification factor)"
CALIBRATED = "calibrated on a known length"
MAX_MM_PER_PIXEL = 100.0  # as the loader: a pixel wider than 10 cm is no radiograph's
MAGNIFICATION_RANGE = (1.0, 5.0)  # a factor outside it is a header error, not a geometry


@dataclass(frozen=True)
class MeasureSpacing:
    """Millimetres per pixel down the rows (``row_mm``) and along them (``col_mm``), and where
    they came from, in words a status line can show."""

    row_mm: float
    col_mm: float
    source: str

    @property
    def pair(self) -> tuple[float, float]:
        """(row, column) mm, the order of ``Radiograph.pixel_spacing`` and DICOM's PixelSpacing."""
        return self.row_mm, self.col_mm


def magnified_source(factor: float) -> str:
    """The source text of an ImagerPixelSpacing divided by ``factor``."""
    return f"ImagerPixelSpacing / magnification {factor:.4g}"


def usable_mm(value: float) -> bool:
    """Whether ``value`` can be a pixel's size in mm: finite, positive, below 10 cm."""
    return math.isfinite(value) and 0.0 < value < MAX_MM_PER_PIXEL


def dicom_spacing(ds: Any) -> MeasureSpacing | None:
    """The spacing measurements of a DICOM header use: PixelSpacing, else ImagerPixelSpacing
    divided by the magnification factor where one is given and plausible (1 to 5), else
    ImagerPixelSpacing as it is (said to be at the detector); None when neither is usable
    (missing, zero, negative, non-finite)."""
    spacing, keyword = pixel_spacing(ds)
    if spacing is None:
        return None
    row, col = spacing
    if keyword == PIXEL_SPACING:
        return MeasureSpacing(row, col, PIXEL_SPACING)
    factor = float_value(ds, "EstimatedRadiographicMagnificationFactor")
    if factor is not None and MAGNIFICATION_RANGE[0] <= factor <= MAGNIFICATION_RANGE[1]:
        return MeasureSpacing(row / factor, col / factor, magnified_source(factor))
    return MeasureSpacing(row, col, DETECTOR_PLANE)


def radiograph_spacing(radiograph: Radiograph) -> MeasureSpacing | None:
    """The spacing of a loaded image: its DICOM header's (``dicom_spacing``), else the one the
    viewer found for it (an NIH PNG's, from Data_Entry, with that source); None when unknown."""
    if radiograph.is_dicom and radiograph.header is not None:
        return dicom_spacing(radiograph.header)
    if radiograph.pixel_spacing is None:
        return None
    row, col = radiograph.pixel_spacing
    if not (usable_mm(row) and usable_mm(col)):
        return None
    return MeasureSpacing(row, col, radiograph.spacing_source or "the image's spacing")


def calibrate(pixels_length: float, known_mm: float) -> MeasureSpacing:
    """The isotropic spacing that makes a line ``pixels_length`` image pixels long measure
    ``known_mm``. Raises ValueError, saying why, for a length that cannot calibrate."""
    if not (math.isfinite(pixels_length) and pixels_length > 0):
        raise ValueError(f"the line to calibrate on must be longer than 0 pixels (it is {pixels_length:g})")
    if not (math.isfinite(known_mm) and known_mm > 0):
        raise ValueError(f"the known length must be a positive number of mm (it is {known_mm:g})")
    return calibrated(known_mm / pixels_length)


def calibrated(mm_per_pixel: float) -> MeasureSpacing:
    """A calibration kept from before (``mm_per_pixel`` in both directions). Raises ValueError
    when it cannot be a pixel's size."""
    if not usable_mm(mm_per_pixel):
        raise ValueError(f"a calibration of {mm_per_pixel:g} mm per pixel is not usable "
                         f"(it must be above 0 and below {MAX_MM_PER_PIXEL:g})")
    return MeasureSpacing(mm_per_pixel, mm_per_pixel, CALIBRATED)
