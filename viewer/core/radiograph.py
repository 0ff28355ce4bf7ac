"""The one type every loaded image becomes, whatever file it came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np


class SourceFormat(StrEnum):
    """The file formats the loader reads (equal to their lower-case names as strings)."""

    DICOM = "dicom"
    PNG = "png"
    JPEG = "jpeg"
    TIFF = "tiff"
    BMP = "bmp"


class Photometric(StrEnum):
    """Which grey is dense: MONOCHROME1 shows low values white, MONOCHROME2 high values."""

    MONOCHROME1 = "MONOCHROME1"
    MONOCHROME2 = "MONOCHROME2"


class WindowFunction(StrEnum):
    """The VOI LUT functions of DICOM PS3.3 C.11.2.1.2/3."""

    LINEAR = "LINEAR"
    LINEAR_EXACT = "LINEAR_EXACT"
    SIGMOID = "SIGMOID"

    @classmethod
    def parse(cls, text: str | None) -> WindowFunction:
        """The function a header or caller names; unknown names are LINEAR, the standard's default."""
        try:
            return cls((text or "LINEAR").strip().upper())
        except ValueError:
            return cls.LINEAR


@dataclass(frozen=True)
class Window:
    """A VOI window in modality units (DICOM PS3.3 C.11.2.1.2). ``function`` may be given as
    text; it is kept as a ``WindowFunction`` (an unknown name as LINEAR)."""

    center: float
    width: float
    name: str = ""
    function: WindowFunction = WindowFunction.LINEAR

    def __post_init__(self) -> None:
        if not isinstance(self.function, WindowFunction):
            object.__setattr__(self, "function", WindowFunction.parse(self.function))

    @property
    def low(self) -> float:
        return self.center - self.width / 2

    @property
    def high(self) -> float:
        return self.center + self.width / 2


@dataclass
class Radiograph:
    """A greyscale radiograph ready for display and the model.

    ``pixels`` are 2-D values in modality units: after the DICOM modality LUT (rescale slope and
    intercept, or the LUT sequence), or the raster file's own grey values (colour already
    converted to grey). Their dtype is float32 where a transform was applied, else the decoded
    integer type (uint8/uint16/int16...) without a copy: cast before integer arithmetic.
    ``padding_mask`` marks DICOM pixel padding (True = padding, left out of automatic windows).
    For a multi-frame DICOM one frame is decoded, ``frame_index`` (0-based); ``number_of_frames``
    says how many the file holds.
    """

    path: Path
    pixels: np.ndarray
    source_format: SourceFormat
    photometric: Photometric
    bits_stored: int
    pixel_spacing: tuple[float, float] | None = None  # mm per pixel (row, column); None = unknown
    spacing_source: str | None = None  # where the spacing came from: a DICOM attribute, or Data_Entry
    windows: list[Window] = field(default_factory=list)  # presets from the header, first = default
    has_voi_lut: bool = False  # the header carries a VOI LUT Sequence (the default, before windows)
    padding_mask: np.ndarray | None = None
    # pydicom Dataset (without pixel data) for DICOM, else None; out of repr: it holds the
    # patient's name, ID and birth date, which must never reach a log line or an error message
    header: Any = field(default=None, repr=False)
    notes: list[str] = field(default_factory=list)  # conversions a user should know about
    number_of_frames: int = 1  # frames in the file (one of them is in ``pixels``)
    frame_index: int = 0  # which frame ``pixels`` is, 0-based

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def is_dicom(self) -> bool:
        return self.source_format == SourceFormat.DICOM

    @property
    def inverted(self) -> bool:
        """True when low values are white (MONOCHROME1): the display flips them."""
        return self.photometric == Photometric.MONOCHROME1
