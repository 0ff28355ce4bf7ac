"""The DICOM header: read once up to the pixel data, then the values the loader needs from it.

``read_header`` leaves the file positioned at the pixel data element, which ``pixel_element``
describes without reading its value. Every value is read through ``viewer.core.dicom_values``,
whose readers never raise: a damaged value reads as its default (with a note where it changes
what is shown), so one bad element cannot stop a load.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any, BinaryIO, cast

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError
from pydicom.tag import BaseTag
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from ..dicom_values import as_float, float_values, frame_group, has_value, int_value, text_value, text_values
from ..display_transforms import MAX_WINDOW_VALUE, voi_lut_to_unit
from ..errors import ImageLoadError, one_line
from ..radiograph import Window, WindowFunction
from .dicom_stream import MAX_HEADER_BYTES, BoundedReader, MetaError, read_file_meta, starts_with_zeros
from .guards import MAX_INFLATED_BYTES, refuse_deflate_bomb, refuse_size

_DEFER = 2 * 1024 * 1024  # header values this large (private blobs, overlays) are read only if used


class NotDicomError(ImageLoadError):
    """The file is not DICOM at all (as opposed to a damaged DICOM file)."""


PIXEL_TAGS = {0x7FE00010: "PixelData", 0x7FE00008: "FloatPixelData", 0x7FE00009: "DoubleFloatPixelData"}


def read_header(
    path: Path, fh: Any, *, specific_tags: list[BaseTag | int] | None = None, defer_size: int | None = _DEFER,
) -> tuple[pydicom.Dataset, bool]:
    """The dataset up to (not including) the pixel data, and whether it had to be read without
    a preamble (forced); ``fh`` is left at the pixel data tag. The folder scan passes
    ``specific_tags`` (the values it shows; others are skipped, not converted).

    The cost is bounded by what a header can be, not by the file: the file meta is parsed
    first (a deflated dataset is measured before pydicom inflates it), a dataset that starts
    with zeros is refused, and the parse ends after ``MAX_HEADER_BYTES`` of reads or at an
    element of the command group inside the dataset (zeros, or garbage). Raises
    ``ImageLoadError`` for anything that is not a readable DICOM header.
    """
    try:
        meta = read_file_meta(fh)
    except MetaError as exc:
        raise ImageLoadError(path, f"is a damaged or truncated DICOM file: {exc}", "re-export the file") from None
    refuse_deflate_bomb(path, fh, meta)
    if starts_with_zeros(fh, meta.dataset_offset):
        if not meta.preamble:
            raise NotDicomError(path, "is not a DICOM file (no DICOM preamble, and zeros where a dataset would start)")
        raise ImageLoadError(path, "is a damaged DICOM file: zeros where its dataset should start",
                             "the file was probably cut or overwritten: re-export it")
    deflated = meta.transfer_syntax == DeflatedExplicitVRLittleEndian
    # A deflated dataset is read whole by pydicom; its size was bounded by the bomb check.
    reader = BoundedReader(fh, MAX_INFLATED_BYTES + meta.dataset_offset if deflated else MAX_HEADER_BYTES)
    fh.seek(0)
    try:
        ds = pydicom.filereader.read_partial(
            cast(BinaryIO, reader), stop_when=_header_end, defer_size=defer_size, force=not meta.preamble,
            specific_tags=specific_tags,
        )
    except InvalidDicomError:
        raise NotDicomError(path, "is not a DICOM file") from None
    except Exception as exc:
        raise ImageLoadError(
            path, f"has a damaged or truncated DICOM header ({one_line(exc)})", "re-export the file"
        ) from None
    if reader.exhausted:
        raise ImageLoadError(
            path, f"has a DICOM header larger than {MAX_HEADER_BYTES >> 20} MB before its pixel data",
            "the file is damaged, or not an image: re-export it",
        )
    # Values pydicom deferred are read later by reopening the file by name, not through ``reader``.
    ds.filename, ds.buffer, ds.fileobj_type = str(path), None, open
    if not meta.preamble and "Rows" not in ds and "SOPClassUID" not in ds:  # force reads almost anything
        raise NotDicomError(path, "is not a DICOM file (no DICOM preamble and no image attributes)")
    return ds, not meta.preamble


def _header_end(tag: BaseTag, vr: str | None, length: int) -> bool:
    """pydicom's stop condition for a header: the pixel data, or an element of the command
    group (0000) inside the dataset, which only zeros or garbage produce (pydicom reads a real
    command group before the dataset, on its own)."""
    return int(tag) in PIXEL_TAGS or tag.group == 0


def missing_image_reason(ds: pydicom.Dataset) -> str:
    """Why a dataset without image attributes has no image, as a noun phrase: an object that is
    not an image (a report, a presentation state), or a file cut short before its image.

    A truncated file is told apart by its SOP class: an image storage class (or none at all, or
    one cut short itself) whose header ends before Rows/Columns was cut short; any other class
    is an object that is not an image.
    """
    meta = getattr(ds, "file_meta", None)
    sop = text_value(ds, "SOPClassUID") or text_value(meta, "MediaStorageSOPClassUID")
    name = UID(sop).name if sop else ""
    if not sop or not UID(sop).is_valid or "Image" in name:  # a cut UID is not valid
        return "damaged or truncated DICOM file: its header ends before the image attributes (Rows/Columns)"
    return f"DICOM object without an image ({name}): a report or other non-image object"


def transfer_syntax(ds: pydicom.Dataset) -> UID:
    """The file meta's syntax, or for a file without meta the encoding pydicom found."""
    meta = getattr(ds, "file_meta", None)
    syntax = meta.get("TransferSyntaxUID") if meta is not None else None
    if syntax:
        return UID(str(syntax))
    implicit, little = ds.original_encoding
    if implicit:
        return ImplicitVRLittleEndian
    return ExplicitVRLittleEndian if little in (True, None) else ExplicitVRBigEndian


def pixel_element(fh: Any, ds: pydicom.Dataset) -> dict[str, Any] | None:
    """Tag, VR, length and value offset of the pixel data element at ``fh``'s position."""
    little = ds.original_encoding[1]
    endian = "<" if little in (True, None) else ">"
    start = fh.tell()
    head = fh.read(8)
    if len(head) < 8:
        return None
    group, elem = struct.unpack(endian + "HH", head[:4])
    keyword = PIXEL_TAGS.get(group << 16 | elem)
    if keyword is None:
        return None
    # Judge the VR from the bytes, as pydicom does: some files say explicit VR and are not.
    if head[4:6] in (b"OB", b"OW", b"OF", b"OD", b"UN") and head[6:8] == b"\0\0":
        more = fh.read(4)
        if len(more) < 4:
            return None
        vr, length, offset = head[4:6], struct.unpack(endian + "L", more)[0], start + 12
    else:
        vr, length, offset = None, struct.unpack(endian + "L", head[4:8])[0], start + 8
    return {"keyword": keyword, "vr": vr, "length": length, "offset": offset, "little": endian == "<"}


def geometry(path: Path, ds: pydicom.Dataset, notes: list[str] | None = None) -> dict[str, int]:
    """Image size and sample format from the header, refused when absurd (before any allocation).

    A frame count or bit depth that cannot be read is ignored with a note in ``notes`` (1 frame;
    the usual depths); missing or unusable Rows/Columns refuse the file."""
    rows, cols = int_value(ds, "Rows"), int_value(ds, "Columns")
    if rows is None or cols is None:
        raise ImageLoadError(path, "has no valid Rows/Columns in its header", "re-export the file")
    samples = int_value(ds, "SamplesPerPixel", 1, notes=notes) or 1
    frames = int_value(ds, "NumberOfFrames", 1, notes=notes) or 1
    bits_allocated = int_value(ds, "BitsAllocated", 16, notes=notes) or 16
    bits_stored = int_value(ds, "BitsStored", bits_allocated, notes=notes) or bits_allocated
    if rows <= 0 or cols <= 0:
        raise ImageLoadError(path, f"claims an empty image ({cols} x {rows} pixels)")
    if frames < 0 or samples not in (1, 3):
        raise ImageLoadError(path, f"has an invalid header ({samples} samples per pixel, {frames} frames)")
    refuse_size(path, cols, rows, samples)
    return {
        "rows": rows,
        "cols": cols,
        "samples": samples,
        "frames": frames,
        "bits_allocated": bits_allocated,
        "bits_stored": bits_stored,
        "signed": int_value(ds, "PixelRepresentation", 0, notes=notes) or 0,
    }


def pixel_spacing(ds: pydicom.Dataset) -> tuple[tuple[float, float] | None, str | None]:
    """Row/column spacing in mm; None when missing, zero or nonsense (RG1's is [0, 0])."""
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        values = float_values(ds, keyword)
        if values is None or len(values) != 2:
            continue
        row, col = values
        if 0 < row < 100 and 0 < col < 100:
            return (row, col), keyword
    return None, None


def usable_voi_lut(ds: pydicom.Dataset, notes: list[str]) -> bool:
    """Whether the header's first VOI LUT can be applied (checked now, so display never fails)."""
    if "VOILUTSequence" not in ds:
        return False
    try:
        voi_lut_to_unit(np.zeros(1, dtype=np.float32), ds)
    except Exception as exc:
        notes.append(f"the header's VOI LUT is unusable and was ignored ({one_line(exc)})")
        return False
    return True


def header_windows(ds: pydicom.Dataset, notes: list[str], frame: int = 0) -> list[Window]:
    """Every usable window the header offers for frame ``frame`` (0-based), in header order (the
    first is the default); each value that had to be ignored adds a line to ``notes``.

    An enhanced multi-frame object keeps its windows in each frame's Frame VOI LUT functional
    group instead of the top level; they are read from that frame's group (or the shared one)."""
    source = ds
    if not has_value(ds, "WindowCenter") and not has_value(ds, "WindowWidth"):
        source = frame_group(ds, "FrameVOILUTSequence", frame) or ds
    centers, widths = text_values(source, "WindowCenter"), text_values(source, "WindowWidth")
    if not centers or not widths:
        if has_value(source, "WindowCenter") or has_value(source, "WindowWidth"):
            notes.append("the header's window values are incomplete or unreadable and were ignored")
        return []
    explanations = text_values(source, "WindowCenterWidthExplanation")
    named = text_value(source, "VOILUTFunction", "LINEAR").upper()
    function = WindowFunction.parse(named)
    if function != named:
        notes.append(f"unknown VOI LUT function {named[:40]!r} in the header: treated as LINEAR")
    windows = []
    for i, (center_text, width_text) in enumerate(zip(centers, widths)):
        center, width = as_float(center_text), as_float(width_text)
        if center is None or width is None:
            notes.append(f"header window {i + 1} is not a pair of finite numbers and was ignored")
            continue
        valid = width >= 1.0 if function == WindowFunction.LINEAR else width > 0.0  # C.11.2.1.2/3
        if abs(center) > MAX_WINDOW_VALUE or width > MAX_WINDOW_VALUE:  # float32 arithmetic would give NaN
            notes.append(f"header window {i + 1} (centre {center:g}, width {width:g}) is out of range and was ignored")
            continue
        if not valid:
            notes.append(f"header window {i + 1} (width {width:g}) is not a valid {function} window and was ignored")
            continue
        name = explanations[i] if i < len(explanations) and explanations[i] else f"Header {i + 1}"
        windows.append(Window(center, width, name, function))
    return windows


def syntax_name(syntax: UID) -> str:
    """A transfer syntax's name for a message, or the UID itself when pydicom does not know it."""
    return syntax.name if syntax.is_valid and syntax.name != str(syntax) else f"unknown UID {syntax}"
