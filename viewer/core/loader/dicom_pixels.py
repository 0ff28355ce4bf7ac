"""DICOM pixel data -> one frame's stored values, as a numpy array.

Uncompressed little-endian greyscale (the common case, and the one slowest through the generic
path) is read straight from the file into its final array. Everything else (compressed
syntaxes, big endian, colour, float pixel data, deflated datasets) is decoded by pydicom with
the pixel plugins in the viewer's dependencies; greyscale JPEG 2000 goes to OpenCV first,
which releases the GIL. Encapsulated data is checked for cut fragments and bombs first. Only
the frame asked for is read: the frames of a multi-frame file are a stack the viewer steps
through one at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pydicom
from pydicom.encaps import get_frame
from pydicom.pixels.decoders.base import DecodeRunner, get_decoder
from pydicom.pixels.utils import as_pixel_options
from pydicom.pixels.utils import pixel_array as decode_dicom_pixels
from pydicom.uid import (
    JPEG2000,
    UID,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    RLELossless,
)

from ..dicom_values import int_value
from ..errors import ImageLoadError, one_line
from .dicom_fragments import check_native_frame, encapsulated_frame, extended_offsets, frame_label
from .dicom_header import PIXEL_TAGS, missing_image_reason, syntax_name
from .guards import refuse_codestream_bomb

_NATIVE_LITTLE = {ExplicitVRLittleEndian, ImplicitVRLittleEndian}


def fast_path_applies(ds: pydicom.Dataset, syntax: UID, element: dict[str, Any], g: dict[str, int]) -> bool:
    """Uncompressed little-endian 8/16-bit single-sample data: read straight into the array."""
    return (
        syntax in _NATIVE_LITTLE
        and element["little"]
        and element["keyword"] == "PixelData"
        and element["length"] != 0xFFFFFFFF
        and g["samples"] == 1
        and g["bits_allocated"] in (8, 16)
        and 1 <= g["bits_stored"] <= g["bits_allocated"]
        and g["signed"] in (0, 1)
        and "BitsAllocated" in ds
        and "BitsStored" in ds
    )


def read_native_frame(
    path: Path, fh: Any, element: dict[str, Any], g: dict[str, int], notes: list[str], index: int = 0,
) -> np.ndarray:
    """Frame ``index`` (0-based) of native pixel data, read once into its final array (no copies):
    only that frame's bytes, at ``index`` frames into the value.

    Matches ``pydicom.pixels.pixel_array`` (the tests use it as the oracle), including the
    masking of unused high bits that PS3.5 8.1.1 says must be ignored.
    """
    rows, cols, frames = g["rows"], g["cols"], g["frames"]
    itemsize = g["bits_allocated"] // 8
    frame_bytes = rows * cols * itemsize
    length, expected = element["length"], frame_bytes * frames
    if length < expected:
        raise ImageLoadError(
            path,
            f"has {length:,} bytes of pixel data but its header ({cols} x {rows}, "
            f"{g['bits_allocated']} bits, {frames} frame(s)) needs {expected:,}",
            "the header does not match the pixel data, or the file is truncated: re-export it",
        )
    if length > expected + 1:  # pydicom decodes these too (as "excess padding"): say so
        notes.append(
            f"pixel data has {length - expected:,} bytes more than its header describes; they were ignored"
        )
    dtype = np.dtype(("<i" if g["signed"] else "<u") + str(itemsize))
    arr = np.empty((rows, cols), dtype=dtype)
    fh.seek(element["offset"] + index * frame_bytes)
    got = fh.readinto(arr.data.cast("B"))
    if got != frame_bytes:
        if frames > 1:
            missing = "is missing" if got == 0 else f"ends after {got:,} of its {frame_bytes:,} bytes"
            raise ImageLoadError(path, f"is truncated: {frame_label(index, frames)} {missing}",
                                 "copy or export the file again")
        raise ImageLoadError(
            path,
            f"ends after {got:,} of the {frame_bytes:,} bytes of pixel data its header promises",
            "the file is truncated: copy or export it again",
        )
    shift = g["bits_allocated"] - g["bits_stored"]
    if shift and not g["signed"]:  # one in-place pass: keep the stored bits
        np.bitwise_and(arr, np.array((1 << g["bits_stored"]) - 1, dtype=dtype), out=arr)
    elif shift:  # in place: shifting left then right keeps the stored bits and sign-extends
        np.left_shift(arr, shift, out=arr)
        np.right_shift(arr, shift, out=arr)
    return arr


def decode_with_pydicom(
    path: Path,
    fh: Any,
    ds: pydicom.Dataset,
    syntax: UID,
    forced: bool,
    element: dict[str, Any] | None,
    shape: dict[str, int],
    notes: list[str],
    index: int = 0,
) -> np.ndarray:
    """Decode frame ``index`` (0-based) with pydicom's decoders (compressed, big endian,
    colour, float).

    Only that frame's bytes are read from where the header ended: native data by pydicom's
    decoder reading the open file at the frame's place (it knows bit-packed, byte-swapped and
    subsampled frames), encapsulated data as the frame's fragments (``dicom_fragments``),
    decoded on a dataset of our own, so the header is parsed once; only a deflated dataset is
    read again whole (its inflated size was bounded before).
    """
    if not syntax.is_transfer_syntax:
        raise ImageLoadError(
            path,
            f"uses the transfer syntax {syntax}, which the viewer cannot decode (not a syntax it knows)",
            "convert it to an uncompressed or standard compressed syntax (e.g. with dcmtk or gdcmconv)",
        )
    frames = shape["frames"]
    if element is None:  # deflated: pydicom inflates the whole dataset (its size was checked)
        fh.seek(0)
        try:
            inflated = pydicom.dcmread(fh, force=forced)
        except Exception as exc:
            raise ImageLoadError(path, f"has damaged deflated data ({one_line(exc)})", "re-export the file") from None
        if not any(keyword in inflated for keyword in PIXEL_TAGS.values()):
            raise ImageLoadError(path, f"has no pixel data: it is a {missing_image_reason(inflated)}")
        return _decoded(path, syntax, lambda: decode_dicom_pixels(inflated, index=index if frames > 1 else None))

    keyword = element["keyword"]
    if element["vr"] is not None:
        vr = element["vr"].decode("ascii", "replace")
    else:
        vr = {"FloatPixelData": "OF", "DoubleFloatPixelData": "OD"}.get(keyword, "OB")
        if vr == "OB" and shape["bits_allocated"] > 8 and not syntax.is_encapsulated:
            vr = "OW"
    if not (syntax.is_encapsulated and keyword == "PixelData"):
        return _native_with_pydicom(path, fh, ds, syntax, element, keyword, vr, index)

    frame = encapsulated_frame(path, fh, element, shape, notes, syntax_name(syntax), index,
                               table=extended_offsets(ds, frames), one_per_frame=syntax == RLELossless)
    refuse_codestream_bomb(path, frame.value)
    if syntax in _JPEG2000:
        decoded = decode_jpeg2000_grey(ds, frame.value, frame.frames, frame.index)
        if decoded is not None:
            return decoded
    source = _decoding_dataset(ds, syntax, frame.frames if frame.frames != frames else None)
    source.add_new(pydicom.tag.Tag(keyword), vr, frame.value)
    return _decoded(path, syntax, lambda: decode_dicom_pixels(source, index=frame.index if frame.frames > 1 else None))


def _native_with_pydicom(
    path: Path, fh: Any, ds: pydicom.Dataset, syntax: UID, element: dict[str, Any], keyword: str, vr: str,
    index: int,
) -> np.ndarray:
    """Frame ``index`` of native data that the fast path does not take, decoded by pydicom from
    the open file: its decoder reads that frame's bytes alone (checked first to lie within the
    value and the file)."""
    frames = int_value(ds, "NumberOfFrames", 1) or 1
    options = as_pixel_options(_decoding_dataset(ds, syntax, None), transfer_syntax_uid=syntax,
                               pixel_keyword=keyword, pixel_vr=vr)

    def decode() -> np.ndarray:
        runner = DecodeRunner(syntax)
        runner.set_options(**options)
        check_native_frame(path, fh, element, runner.frame_length(unit="bytes"), index, frames)
        fh.seek(element["offset"])
        array, _ = get_decoder(syntax).as_array(fh, index=index, validate=True, **options)
        return array

    return _decoded(path, syntax, decode)


# What pydicom's decoders read besides the pixel data itself (PS3.3 C.7.6.3, the Image Pixel module).
_PIXEL_MODULE = ("Rows", "Columns", "SamplesPerPixel", "BitsAllocated", "BitsStored", "HighBit",
                 "PixelRepresentation", "PhotometricInterpretation", "PlanarConfiguration", "NumberOfFrames")


def _decoding_dataset(ds: pydicom.Dataset, syntax: UID, frames: int | None) -> pydicom.Dataset:
    """A new dataset with the header's image pixel module, to decode a value of our own in:
    the Radiograph keeps the header as read. ``frames`` replaces NumberOfFrames when the value
    holds fewer frames than the header says (the frame asked for alone)."""
    source = pydicom.Dataset()
    source.file_meta = pydicom.dataset.FileMetaDataset()
    source.file_meta.TransferSyntaxUID = syntax
    for keyword in _PIXEL_MODULE:
        try:
            if keyword in ds:
                source[keyword] = ds[keyword]  # the element objects are shared, never changed
        except Exception:  # an unreadable value: the decoder then reports what it misses
            continue
    if frames is not None:
        del source.NumberOfFrames  # a new element in the new dataset, not the shared one changed
        source.NumberOfFrames = frames
    return source


_JPEG2000 = {JPEG2000Lossless, JPEG2000}


def decode_jpeg2000_grey(ds: pydicom.Dataset, value: bytes, frames: int, index: int = 0) -> np.ndarray | None:
    """Frame ``index`` of the ``frames`` in ``value`` (an encapsulated value) of a greyscale JPEG
    2000 image decoded by OpenCV, or None to use pydicom.

    pydicom's JPEG 2000 plugin (pylibjpeg-openjpeg) holds the GIL for the whole decode, about
    0.7 s for a 1955 x 1841 CR on our machines: while a worker decodes one, the GUI thread
    cannot run and the window freezes (found by bench/gui.py's stall measurement during a
    folder scan). OpenCV decodes with the same OpenJPEG library and releases the GIL. Only the
    plain case is taken (one unsigned sample, 8 or 16 bits allocated, the decoded size and type
    the header promises); anything else, or any failure, goes to pydicom, which then reports it.
    """
    if not (int_value(ds, "SamplesPerPixel", 1) == 1 and int_value(ds, "PixelRepresentation", 0) == 0
            and int_value(ds, "BitsAllocated", 0) in (8, 16)):
        return None
    try:
        codestream = get_frame(value, index, number_of_frames=frames)
        level = cv2.utils.logging.getLogLevel()
        # OpenCV warns that a greyscale codestream has no colour space: true and harmless
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
        try:
            image = cv2.imdecode(np.frombuffer(codestream, np.uint8), cv2.IMREAD_UNCHANGED)
        finally:
            cv2.utils.logging.setLogLevel(level)
    except Exception:  # damaged fragments or codestream: pydicom gives the specific error
        return None
    expected = np.uint8 if int_value(ds, "BitsAllocated", 0) == 8 else np.uint16
    if image is None or image.shape != (int_value(ds, "Rows"), int_value(ds, "Columns")) or image.dtype != expected:
        return None
    return image


def _decoded(path: Path, syntax: UID, decode: Callable[[], np.ndarray]) -> np.ndarray:
    """``decode()``'s array; whatever pydicom or a decoder plugin raises becomes an ``ImageLoadError``."""
    try:
        return decode()
    except ImageLoadError:
        raise
    except NotImplementedError as exc:
        raise ImageLoadError(
            path,
            f"uses the transfer syntax {syntax_name(syntax)}, which the viewer cannot decode ({one_line(exc)})",
            "convert it to an uncompressed or standard compressed syntax (e.g. with dcmtk or gdcmconv)",
        ) from None
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as exc:  # pylibjpeg-rle is Rust: a panic is a BaseException (pyo3)
        remedy = (
            "the file may be truncated or damaged, or compressed in a way no installed decoder supports"
            if syntax.is_compressed
            else "the file may be truncated or its header may not match its pixel data"
        )
        raise ImageLoadError(
            path, f"pixel data could not be decoded ({syntax_name(syntax)}: {one_line(exc)})", remedy
        ) from None


def padding_mask(ds: pydicom.Dataset, stored: np.ndarray) -> np.ndarray | None:
    """Pixels equal to (or within the range of) Pixel Padding Value, in stored units (C.7.5.1.1.2)."""
    value = int_value(ds, "PixelPaddingValue")
    if value is None:
        return None
    limit = int_value(ds, "PixelPaddingRangeLimit")
    if limit is None:
        mask = stored == value
    else:
        low, high = sorted((value, limit))
        mask = (stored >= low) & (stored <= high)
    return mask if mask.any() else None
