"""DICOM files -> ``Radiograph``: one pass over one open file.

The header is read up to the pixel data element; then only the frame asked for is decoded
(``dicom_pixels``), turned into modality units and described (windows, VOI LUT, spacing,
padding) for the display transforms, with an enhanced object's per-frame values for that
frame. Problems that leave the image usable become notes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
from pydicom.pixels.processing import apply_color_lut
from pydicom.uid import DeflatedExplicitVRLittleEndian

from ..dicom_values import text_value
from ..display_transforms import modality_values
from ..errors import ImageLoadError, one_line
from ..radiograph import Photometric, Radiograph, SourceFormat
from .colour import colour_to_grey
from .dicom_fragments import frame_label
from .dicom_header import (
    geometry,
    header_windows,
    missing_image_reason,
    pixel_element,
    pixel_spacing,
    read_header,
    transfer_syntax,
    usable_voi_lut,
)
from .dicom_pixels import decode_with_pydicom, fast_path_applies, padding_mask, read_native_frame


def load_dicom(path: Path, frame: int = 0) -> Radiograph:
    """Frame ``frame`` (0-based) of the DICOM file at ``path``; ``ImageLoadError`` when it cannot
    be shown, or the file has no such frame."""
    notes: list[str] = []
    with open(path, "rb") as fh:
        ds, forced = read_header(path, fh)
        syntax = transfer_syntax(ds)
        element = None if syntax == DeflatedExplicitVRLittleEndian else pixel_element(fh, ds)
        if element is None and syntax != DeflatedExplicitVRLittleEndian:
            if "Rows" in ds:
                raise ImageLoadError(
                    path, "has image attributes but no pixel data", "the file is probably truncated: re-export it"
                )
            raise ImageLoadError(path, f"has no pixel data: it is a {missing_image_reason(ds)}")
        shape = geometry(path, ds, notes)
        frames = shape["frames"]
        if not 0 <= frame < frames:
            raise ImageLoadError(
                path, f"has no frame {frame + 1}: it has {frames} frame{'s' if frames != 1 else ''}"
                if frame >= 0 else f"has no frame {frame} (frames are counted from 0)",
            )
        if element is not None and fast_path_applies(ds, syntax, element, shape):
            stored = read_native_frame(path, fh, element, shape, notes, frame)
        else:
            stored = decode_with_pydicom(path, fh, ds, syntax, forced, element, shape, notes, frame)
    if frames > 1:
        notes.append(f"multi-frame image: {frame_label(frame, frames)}")

    photometric = text_value(ds, "PhotometricInterpretation", "MONOCHROME2").upper()
    if photometric == "PALETTE COLOR" and stored.ndim == 2:
        try:
            stored = apply_color_lut(stored, ds)
        except Exception as exc:
            raise ImageLoadError(path, f"has an unusable palette colour table ({one_line(exc)})") from None
    colour = stored.ndim == 3
    if colour:  # pydicom has already turned YBR into RGB
        stored = colour_to_grey(stored, notes, f"colour DICOM ({photometric})")
        photometric = "MONOCHROME2"
    if stored.ndim != 2 or stored.size == 0:
        raise ImageLoadError(path, f"has pixel data of unexpected shape {stored.shape}")

    padding = None if colour else padding_mask(ds, stored)
    pixels = _modality_values(path, ds, stored, colour, notes, frame)

    spacing, spacing_source = pixel_spacing(ds)
    if spacing is None and ("PixelSpacing" in ds or "ImagerPixelSpacing" in ds):
        notes.append("pixel spacing in the header is zero or invalid: distances are in pixels")
    windows = header_windows(ds, notes, frame)
    has_voi_lut = not colour and usable_voi_lut(ds, notes)
    return Radiograph(
        path=path,
        pixels=pixels,
        source_format=SourceFormat.DICOM,
        photometric=Photometric.MONOCHROME1 if photometric == "MONOCHROME1" else Photometric.MONOCHROME2,
        bits_stored=shape["bits_stored"],
        pixel_spacing=spacing,
        spacing_source=spacing_source,
        windows=windows,
        has_voi_lut=has_voi_lut,
        padding_mask=padding,
        header=ds,
        notes=notes,
        number_of_frames=frames,
        frame_index=frame,
    )


def _modality_values(path: Path, ds: pydicom.Dataset, stored: np.ndarray, colour: bool,
                     notes: list[str], frame: int) -> np.ndarray:
    """Stored values of frame ``frame`` -> modality units; colour (already grey) has no modality
    transform."""
    try:
        if colour:
            pixels = stored if stored.dtype.kind in "ui" else stored.astype(np.float32, copy=False)
        else:
            pixels = modality_values(stored, ds, notes, frame=frame)
    except Exception as exc:
        raise ImageLoadError(path, f"has an unusable modality LUT or rescale ({one_line(exc)})") from None
    if stored.dtype.kind == "f" and not np.isfinite(pixels).all():
        raise ImageLoadError(path, "has pixel values that are not finite numbers (NaN or infinity)")
    return pixels
