"""One loader for every radiograph a workstation meets: DICOM, PNG (8/16 bit), JPEG, TIFF, BMP.

``load_radiograph(path)`` returns a ``Radiograph`` or raises ``ImageLoadError`` naming the file,
the problem and, where there is one, the fix; no other exception type escapes it. Dimensions are
read from the file's own header (DICOM Rows/Columns and the compressed codestream, PNG IHDR, JPEG
SOF, TIFF IFD, BMP info header) and checked before any pixel buffer is allocated, so a
decompression bomb is refused instead of exhausting memory.

DICOM is read in one pass over one open file: the header up to the pixel data element, then,
for uncompressed little-endian greyscale (the common case, and the one that is slowest through
the generic path), only the first frame's bytes straight into the array. Everything else
(compressed syntaxes, big endian, colour, float pixel data, deflated datasets) is decoded by
pydicom with the pixel plugins listed in the viewer's dependencies.
"""

from __future__ import annotations

import os
import stat
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np

# OpenCV reads this limit once, when the library loads; it is a second line of defence behind
# our own header checks (which do not depend on who imported cv2 first).
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(100_000_000))
import cv2  # noqa: E402
import pydicom  # noqa: E402
from pydicom.encaps import generate_fragments, generate_frames  # noqa: E402
from pydicom.errors import InvalidDicomError  # noqa: E402
from pydicom.multival import MultiValue  # noqa: E402
from pydicom.pixels import apply_color_lut, apply_modality_lut  # noqa: E402
from pydicom.pixels import pixel_array as decode_dicom_pixels  # noqa: E402
from pydicom.uid import (  # noqa: E402
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000,
    JPEG2000Lossless,
)

from .errors import ImageLoadError  # noqa: E402
from .radiograph import Radiograph, Window  # noqa: E402

# Header values are shown as they are. pydicom's read-time validation would warn (to stderr and
# the log) about every non-conformant value and quote it: a birth date written 1938-02-17 would
# be printed. Nothing identifying may reach a log line, so these warnings are switched off.
pydicom.config.settings.reading_validation_mode = pydicom.config.IGNORE

MAX_PIXELS = 100_000_000  # 10,000 x 10,000: larger than any real radiograph
MAX_SIDE = 30_000
MAX_INFLATED_BYTES = 2 * MAX_PIXELS  # a deflated DICOM dataset may not inflate beyond this
RASTER_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"}
DICOM_SUFFIXES = {".dcm", ".dicom", ".dic"}

_MAGIC = {
    b"\x89PNG\r\n\x1a\n": "png",
    b"\xff\xd8\xff": "jpeg",
    b"II*\x00": "tiff",
    b"MM\x00*": "tiff",
    b"II+\x00": "tiff",  # BigTIFF
    b"MM\x00+": "tiff",
    b"BM": "bmp",
}
# A DICOM file without its 128-byte preamble starts with a group 0002 or 0008 element.
_BARE_DICOM_STARTS = (b"\x02\x00", b"\x08\x00")


def sniff_format(path: Path, head: bytes | None = None) -> str | None:
    """'dicom', a raster format name ('png', 'jpeg', 'tiff', 'bmp'), or None, from the first bytes.

    ``head`` (the file's first 132 bytes) saves reading the file again when the caller has them.
    """
    if head is None:
        with open(path, "rb") as handle:
            head = handle.read(132)
    if len(head) >= 132 and head[128:132] == b"DICM":
        return "dicom"
    for magic, name in _MAGIC.items():
        if head.startswith(magic):
            return name
    return None


def load_radiograph(path: str | os.PathLike[str] | bytes) -> Radiograph:
    """Load any supported radiograph from ``path`` (only the first frame of a multi-frame DICOM).

    Raises ``ImageLoadError`` for anything that cannot be shown, with the file and the reason.
    """
    path = Path(os.fsdecode(path))
    try:
        return _load(path)
    except ImageLoadError:
        raise
    except MemoryError:
        raise ImageLoadError(path, "is too large to load into the memory available") from None
    except RecursionError:
        raise ImageLoadError(path, "has a header nested too deeply to read (damaged file?)") from None
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as exc:  # one exception type per file; Rust decoders panic as BaseException
        raise ImageLoadError(
            path, f"could not be read: unexpected {type(exc).__name__}: {_short(exc)}"
        ) from exc


def _load(path: Path) -> Radiograph:
    try:
        mode = os.stat(path).st_mode  # follows links: what matters is what would be opened
        if stat.S_ISDIR(mode):
            raise ImageLoadError(path, "is a folder, not an image file")
        if not stat.S_ISREG(mode):  # opening a pipe blocks; reading a device may never end
            raise ImageLoadError(path, "is not a regular file (a pipe, socket or device)")
        with open(path, "rb") as handle:
            head = handle.read(132)
    except ImageLoadError:
        raise
    except PermissionError:
        raise ImageLoadError(path, "cannot be read: permission denied", "check the file's permissions") from None
    except OSError as exc:
        raise ImageLoadError(path, f"cannot be read ({exc.strerror or exc})") from None
    if not head:
        raise ImageLoadError(path, "is empty (0 bytes)", "the copy or export was probably interrupted")

    kind = sniff_format(path, head)
    suffix = path.suffix.lower()
    if kind == "dicom" or (
        kind is None and (suffix in DICOM_SUFFIXES or suffix == "" or head.startswith(_BARE_DICOM_STARTS))
    ):
        return _load_dicom(path)
    if kind is not None:
        return _load_raster(path, kind)
    if suffix in RASTER_SUFFIXES:
        raise ImageLoadError(path, f"is named {path.suffix} but its content is not a {suffix[1:].upper()} image")
    raise ImageLoadError(path, "is not an image format the viewer reads (DICOM, PNG, JPEG, TIFF, BMP)")


# -- DICOM ----------------------------------------------------------------------------------
_DEFER = 2 * 1024 * 1024  # header values this large (private blobs, overlays) are read only if used
_PIXEL_TAGS = {0x7FE00010: "PixelData", 0x7FE00008: "FloatPixelData", 0x7FE00009: "DoubleFloatPixelData"}
_NATIVE_LITTLE = {ExplicitVRLittleEndian, ImplicitVRLittleEndian}


def _load_dicom(path: Path) -> Radiograph:
    notes: list[str] = []
    with open(path, "rb") as fh:
        _refuse_deflate_bomb(path, fh)
        ds, forced = _read_header(path, fh)
        syntax = _transfer_syntax(ds)
        element = None if syntax == DeflatedExplicitVRLittleEndian else _pixel_element(fh, ds)
        if element is None and syntax != DeflatedExplicitVRLittleEndian:
            if "Rows" in ds:
                raise ImageLoadError(
                    path, "has image attributes but no pixel data", "the file is probably truncated: re-export it"
                )
            raise ImageLoadError(path, f"has no pixel data: it is a {missing_image_reason(ds)}")
        geometry = _geometry(path, ds)
        frames = geometry["frames"]
        if element is not None and _fast_path_applies(ds, syntax, element, geometry):
            stored = _read_native_frame(path, fh, element, geometry, notes)
        else:
            stored = _decode_with_pydicom(path, fh, ds, syntax, forced, element, frames, notes)
    if frames > 1:
        notes.append(f"multi-frame image ({frames} frames): showing the first frame only")

    photometric = _text(ds, "PhotometricInterpretation", "MONOCHROME2").upper()
    if photometric == "PALETTE COLOR" and stored.ndim == 2:
        try:
            stored = apply_color_lut(stored, ds)
        except Exception as exc:
            raise ImageLoadError(path, f"has an unusable palette colour table ({_short(exc)})") from None
    colour = stored.ndim == 3
    if colour:  # pydicom has already turned YBR into RGB
        stored = _colour_to_grey(stored, notes, f"colour DICOM ({photometric})")
        photometric = "MONOCHROME2"
    if stored.ndim != 2 or stored.size == 0:
        raise ImageLoadError(path, f"has pixel data of unexpected shape {stored.shape}")

    padding = None if colour else _padding_mask(ds, stored)
    pixels = _modality_values(path, ds, stored, colour)

    spacing, spacing_source = _pixel_spacing(ds)
    if spacing is None and ("PixelSpacing" in ds or "ImagerPixelSpacing" in ds):
        notes.append("pixel spacing in the header is zero or invalid: distances are in pixels")
    windows = _header_windows(ds, notes)
    has_voi_lut = not colour and _usable_voi_lut(ds, notes)
    return Radiograph(
        path=path,
        pixels=pixels,
        source_format="dicom",
        photometric="MONOCHROME1" if photometric == "MONOCHROME1" else "MONOCHROME2",
        bits_stored=geometry["bits_stored"],
        pixel_spacing=spacing,
        spacing_source=spacing_source,
        windows=windows,
        has_voi_lut=has_voi_lut,
        padding_mask=padding,
        header=ds,
        notes=notes,
        number_of_frames=frames,
    )


def _refuse_deflate_bomb(path: Path, fh: Any) -> None:
    """A deflated dataset is inflated whole by pydicom: measure it first, without keeping it."""
    start = fh.read(4096)
    fh.seek(0)
    if DeflatedExplicitVRLittleEndian.encode() not in start:
        return
    try:
        meta = pydicom.filereader.read_file_meta_info(path)
        group_length = int(meta.FileMetaInformationGroupLength)
    except Exception as exc:
        raise ImageLoadError(path, f"has a damaged DICOM file meta header ({_short(exc)})") from None
    if meta.get("TransferSyntaxUID") != DeflatedExplicitVRLittleEndian:
        return
    # The deflated stream starts after the preamble (if any) and the file meta group, whose
    # length is the group length value plus its own 12-byte element.
    fh.seek((132 if start[128:132] == b"DICM" else 0) + 12 + group_length)
    inflater, total = zlib.decompressobj(-zlib.MAX_WBITS), 0
    try:
        while chunk := fh.read(1 << 20):
            while chunk:
                total += len(inflater.decompress(chunk, 1 << 24))
                chunk = inflater.unconsumed_tail
                if total > MAX_INFLATED_BYTES:
                    raise ImageLoadError(
                        path,
                        f"is a deflated DICOM that inflates to more than {MAX_INFLATED_BYTES:,} bytes; "
                        "refused before decoding to protect memory",
                    )
    except zlib.error as exc:
        raise ImageLoadError(path, f"has damaged deflated (zlib) data ({exc})") from None
    fh.seek(0)


def _read_header(path: Path, fh: Any) -> tuple[pydicom.Dataset, bool]:
    """The dataset up to (not including) the pixel data; ``fh`` is left at the pixel data tag."""
    try:
        return pydicom.dcmread(fh, stop_before_pixels=True, defer_size=_DEFER), False
    except InvalidDicomError:
        pass  # no preamble: some exports omit it. Try again, but only accept a real image dataset.
    except Exception as exc:
        raise ImageLoadError(
            path, f"has a damaged or truncated DICOM header ({_short(exc)})", "re-export the file"
        ) from None
    fh.seek(0)
    try:
        ds = pydicom.dcmread(fh, stop_before_pixels=True, defer_size=_DEFER, force=True)
        looks_like_image = "Rows" in ds or "SOPClassUID" in ds
    except Exception as exc:
        raise ImageLoadError(path, f"is not a readable DICOM file ({_short(exc)})") from None
    if not looks_like_image:
        raise ImageLoadError(path, "is not a DICOM file (no DICOM preamble and no image attributes)")
    return ds, True


def missing_image_reason(ds: pydicom.Dataset) -> str:
    """Why a dataset without image attributes has no image, as a noun phrase: an object that is
    not an image (a report, a presentation state), or a file cut short before its image.

    A truncated file is told apart by its SOP class: an image storage class (or none at all, or
    one cut short itself) whose header ends before Rows/Columns was cut short; any other class
    is an object that is not an image.
    """
    meta = getattr(ds, "file_meta", None)
    sop = _text(ds, "SOPClassUID", "") or (str(meta.get("MediaStorageSOPClassUID", "") or "") if meta else "")
    name = UID(sop).name if sop else ""
    if not sop or not UID(sop).is_valid or "Image" in name:  # a cut UID is not valid
        return "damaged or truncated DICOM file: its header ends before the image attributes (Rows/Columns)"
    return f"DICOM object without an image ({name}): a report or other non-image object"


def _transfer_syntax(ds: pydicom.Dataset) -> UID:
    """The file meta's syntax, or for a file without meta the encoding pydicom found."""
    meta = getattr(ds, "file_meta", None)
    syntax = meta.get("TransferSyntaxUID") if meta is not None else None
    if syntax:
        return UID(str(syntax))
    implicit, little = ds.original_encoding
    if implicit:
        return ImplicitVRLittleEndian
    return ExplicitVRLittleEndian if little in (True, None) else ExplicitVRBigEndian


def _pixel_element(fh: Any, ds: pydicom.Dataset) -> dict[str, Any] | None:
    """Tag, VR, length and value offset of the pixel data element at ``fh``'s position."""
    little = ds.original_encoding[1]
    endian = "<" if little in (True, None) else ">"
    start = fh.tell()
    head = fh.read(8)
    if len(head) < 8:
        return None
    group, elem = struct.unpack(endian + "HH", head[:4])
    keyword = _PIXEL_TAGS.get(group << 16 | elem)
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


def _int(ds: pydicom.Dataset, keyword: str, default: int | None = None) -> int | None:
    try:
        value = ds.get(keyword)
        if value is None or value == "":
            return default
        if isinstance(value, (list, tuple, MultiValue)):
            value = value[0]
        return int(value)
    except Exception:
        return default


def _text(ds: pydicom.Dataset, keyword: str, default: str) -> str:
    try:
        value = ds.get(keyword)
        return str(value).strip() if value not in (None, "") else default
    except Exception:
        return default


def _geometry(path: Path, ds: pydicom.Dataset) -> dict[str, int]:
    """Image size and sample format from the header, refused when absurd (before any allocation)."""
    rows, cols = _int(ds, "Rows"), _int(ds, "Columns")
    if rows is None or cols is None:
        raise ImageLoadError(path, "has no valid Rows/Columns in its header", "re-export the file")
    samples = _int(ds, "SamplesPerPixel", 1) or 1
    frames = _int(ds, "NumberOfFrames", 1) or 1
    bits_allocated = _int(ds, "BitsAllocated", 16) or 16
    bits_stored = _int(ds, "BitsStored", bits_allocated) or bits_allocated
    if rows <= 0 or cols <= 0:
        raise ImageLoadError(path, f"claims an empty image ({cols} x {rows} pixels)")
    if frames < 0 or samples not in (1, 3):
        raise ImageLoadError(path, f"has an invalid header ({samples} samples per pixel, {frames} frames)")
    _refuse_size(path, cols, rows, samples)
    return {
        "rows": rows,
        "cols": cols,
        "samples": samples,
        "frames": frames,
        "bits_allocated": bits_allocated,
        "bits_stored": bits_stored,
        "signed": _int(ds, "PixelRepresentation", 0) or 0,
    }


def _refuse_size(path: Path, width: int, height: int, samples: int = 1) -> None:
    if width > MAX_SIDE or height > MAX_SIDE or width * height * max(samples, 1) > MAX_PIXELS:
        raise ImageLoadError(
            path,
            f"claims {width} x {height} pixels, more than the {MAX_PIXELS:,}-pixel limit; "
            "refused before decoding to protect memory",
        )


def _fast_path_applies(ds: pydicom.Dataset, syntax: UID, element: dict[str, Any], g: dict[str, int]) -> bool:
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


def _read_native_frame(
    path: Path, fh: Any, element: dict[str, Any], g: dict[str, int], notes: list[str]
) -> np.ndarray:
    """The first frame of native pixel data, read once into its final array (no copies).

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
    fh.seek(element["offset"])
    got = fh.readinto(memoryview(arr).cast("B"))
    if got != frame_bytes:
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


def _decode_with_pydicom(
    path: Path,
    fh: Any,
    ds: pydicom.Dataset,
    syntax: UID,
    forced: bool,
    element: dict[str, Any] | None,
    frames: int,
    notes: list[str],
) -> np.ndarray:
    """Decode the first frame with pydicom's decoders (compressed, big endian, colour, float).

    The pixel data value is read from where the header ended and decoded from the dataset we
    already have, so the header is parsed once; only a deflated dataset is read again whole.
    """
    if not syntax.is_transfer_syntax:
        raise ImageLoadError(
            path,
            f"uses the transfer syntax {syntax}, which the viewer cannot decode (not a syntax it knows)",
            "convert it to an uncompressed or standard compressed syntax (e.g. with dcmtk or gdcmconv)",
        )
    index = 0 if frames > 1 else None
    if element is None:  # deflated: pydicom inflates the whole dataset (its size was checked)
        fh.seek(0)
        try:
            source = pydicom.dcmread(fh, force=forced)
        except Exception as exc:
            raise ImageLoadError(path, f"has damaged deflated data ({_short(exc)})", "re-export the file") from None
        if not any(keyword in source for keyword in _PIXEL_TAGS.values()):
            raise ImageLoadError(path, f"has no pixel data: it is a {missing_image_reason(source)}")
        return _pydicom_decode(path, source, syntax, index)

    keyword, length = element["keyword"], element["length"]
    fh.seek(element["offset"])
    value = fh.read() if length == 0xFFFFFFFF else fh.read(length)  # undefined: fragments to the end
    if syntax.is_encapsulated and keyword == "PixelData":
        _refuse_codestream_bomb(path, value)
        _check_fragments_complete(path, value, frames, notes)
    if element["vr"] is not None:
        vr = element["vr"].decode("ascii", "replace")
    else:
        vr = {"FloatPixelData": "OF", "DoubleFloatPixelData": "OD"}.get(keyword, "OB")
        if vr == "OB" and (_int(ds, "BitsAllocated", 8) or 8) > 8 and not syntax.is_encapsulated:
            vr = "OW"
    if syntax in _JPEG2000 and keyword == "PixelData":
        decoded = _decode_jpeg2000_grey(ds, value, frames)
        if decoded is not None:
            return decoded
    if not ds.file_meta.get("TransferSyntaxUID"):  # a file without meta: the encoding pydicom found
        ds.file_meta.TransferSyntaxUID = syntax
    ds.add_new(pydicom.tag.Tag(keyword), vr, value)
    try:
        return _pydicom_decode(path, ds, syntax, index)
    finally:
        del ds[keyword]  # the Radiograph keeps the header without its pixel bytes


_JPEG2000 = {JPEG2000Lossless, JPEG2000}


def _decode_jpeg2000_grey(ds: pydicom.Dataset, value: bytes, frames: int) -> np.ndarray | None:
    """The first frame of a greyscale JPEG 2000 image decoded by OpenCV, or None to use pydicom.

    pydicom's JPEG 2000 plugin (pylibjpeg-openjpeg) holds the GIL for the whole decode, about
    0.7 s for a 1955 x 1841 CR on our machines: while a worker decodes one, the GUI thread
    cannot run and the window freezes (found by bench/gui.py's stall measurement during a
    folder scan). OpenCV decodes with the same OpenJPEG library and releases the GIL. Only the
    plain case is taken (one unsigned sample, 8 or 16 bits allocated, the decoded size and type
    the header promises); anything else, or any failure, goes to pydicom, which then reports it.
    """
    if not (_int(ds, "SamplesPerPixel", 1) == 1 and _int(ds, "PixelRepresentation", 0) == 0
            and _int(ds, "BitsAllocated", 0) in (8, 16)):
        return None
    try:
        codestream = next(generate_frames(value, number_of_frames=frames))
        level = cv2.utils.logging.getLogLevel()
        # OpenCV warns that a greyscale codestream has no colour space: true and harmless
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
        try:
            image = cv2.imdecode(np.frombuffer(codestream, np.uint8), cv2.IMREAD_UNCHANGED)
        finally:
            cv2.utils.logging.setLogLevel(level)
    except Exception:  # damaged fragments or codestream: pydicom gives the specific error
        return None
    expected = np.uint8 if _int(ds, "BitsAllocated", 0) == 8 else np.uint16
    if image is None or image.shape != (_int(ds, "Rows"), _int(ds, "Columns")) or image.dtype != expected:
        return None
    return image


def _pydicom_decode(path: Path, ds: pydicom.Dataset, syntax: UID, index: int | None) -> np.ndarray:
    try:
        return decode_dicom_pixels(ds, index=index)
    except NotImplementedError as exc:
        raise ImageLoadError(
            path,
            f"uses the transfer syntax {_syntax_name(syntax)}, which the viewer cannot decode ({_short(exc)})",
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
            path, f"pixel data could not be decoded ({_syntax_name(syntax)}: {_short(exc)})", remedy
        ) from None


def _syntax_name(syntax: UID) -> str:
    return syntax.name if syntax.is_valid and syntax.name != str(syntax) else f"unknown UID {syntax}"


def _check_fragments_complete(path: Path, data: bytes, frames: int, notes: list[str]) -> None:
    """Refuse an encapsulated image whose fragments the file cuts short.

    JPEG-LS and JPEG 2000 decoders return a partial image from a truncated codestream without
    complaint, which would show a silently incomplete radiograph. With several frames only the
    first one matters (it is the one shown); a cut later frame is noted.
    """
    at, index = 0, 0
    while at + 8 <= len(data):
        group, elem, length = struct.unpack("<HHL", data[at : at + 8])
        if (group, elem) == (0xFFFE, 0xE0DD):  # sequence delimiter: everything was there
            return
        if (group, elem) != (0xFFFE, 0xE000) or length == 0xFFFFFFFF:
            return  # not well-formed items: leave the verdict to the decoder
        if at + 8 + length > len(data):
            if frames > 1 and index > 1:
                notes.append("the file is truncated: some later frames are incomplete")
                return
            raise ImageLoadError(
                path,
                f"is truncated: compressed fragment {index} needs {length:,} bytes, the file has "
                f"{len(data) - at - 8:,}",
                "copy or export the file again",
            )
        at, index = at + 8 + length, index + 1


def _refuse_codestream_bomb(path: Path, data: bytes) -> None:
    """Refuse a compressed frame whose own header claims absurd dimensions, before decoding it."""
    try:
        fragments = generate_fragments(data)
        next(fragments)  # the Basic Offset Table item
        first = next(fragments)[:65536]
    except Exception:
        return  # malformed encapsulation: the decoder reports it
    size = _codestream_dimensions(first)
    if size is not None:
        width, height, components = size
        _refuse_size(path, width, height, components)


def _codestream_dimensions(data: bytes) -> tuple[int, int, int] | None:
    """(width, height, components) from a JPEG/JPEG-LS SOF or a JPEG 2000 SIZ marker."""
    siz = data.find(b"\xff\x4f\xff\x51")
    if siz >= 0 and len(data) >= siz + 42:
        x, y, x0, y0 = struct.unpack(">IIII", data[siz + 8 : siz + 24])
        components = struct.unpack(">H", data[siz + 40 : siz + 42])[0]
        return x - x0, y - y0, components
    if data.startswith(b"\xff\xd8"):
        found = _jpeg_frame_header(data)
        if found is not None:
            return found
    return None


def _padding_mask(ds: pydicom.Dataset, stored: np.ndarray) -> np.ndarray | None:
    """Pixels equal to (or within the range of) Pixel Padding Value, in stored units (C.7.5.1.1.2)."""
    value = _int(ds, "PixelPaddingValue")
    if value is None:
        return None
    limit = _int(ds, "PixelPaddingRangeLimit")
    if limit is None:
        mask = stored == value
    else:
        low, high = sorted((value, limit))
        mask = (stored >= low) & (stored <= high)
    return mask if mask.any() else None


def _modality_values(path: Path, ds: pydicom.Dataset, stored: np.ndarray, colour: bool) -> np.ndarray:
    """Stored values -> modality units (C.11.1): float32, or the stored integers when the
    modality transform is the identity (the common radiograph; saves a full-size copy)."""
    try:
        if not colour and ds.get("ModalityLUTSequence"):
            pixels = np.asarray(apply_modality_lut(stored, ds), dtype=np.float32)
        elif not colour and "RescaleSlope" in ds and "RescaleIntercept" in ds:
            # pydicom's apply_modality_lut rescales in float64 (two full-size 8-byte copies); this
            # is the same multiply-add in float32, which is exact for <= 24-bit stored values.
            slope, intercept = float(ds.RescaleSlope), float(ds.RescaleIntercept)
            if not (np.isfinite(slope) and np.isfinite(intercept)) or slope == 0:
                raise ValueError(f"rescale slope {slope} / intercept {intercept}")
            pixels = np.multiply(stored, np.float32(slope), dtype=np.float32)
            pixels += np.float32(intercept)
        elif stored.dtype.kind in "ui":
            pixels = stored  # identity: stored values are modality values; no copy
        else:
            pixels = stored.astype(np.float32, copy=False)
    except ImageLoadError:
        raise
    except Exception as exc:
        raise ImageLoadError(path, f"has an unusable modality LUT or rescale ({_short(exc)})") from None
    if stored.dtype.kind == "f" and not np.isfinite(pixels).all():
        raise ImageLoadError(path, "has pixel values that are not finite numbers (NaN or infinity)")
    return pixels


def _pixel_spacing(ds: pydicom.Dataset) -> tuple[tuple[float, float] | None, str | None]:
    """Row/column spacing in mm; None when missing, zero or nonsense (RG1's is [0, 0])."""
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        try:
            row, col = (float(v) for v in ds.get(keyword))  # type: ignore[union-attr]
        except Exception:
            continue
        if 0 < row < 100 and 0 < col < 100:
            return (row, col), keyword
    return None, None


def _usable_voi_lut(ds: pydicom.Dataset, notes: list[str]) -> bool:
    """Whether the header's first VOI LUT can be applied (checked now, so display never fails)."""
    if "VOILUTSequence" not in ds:
        return False
    from .preprocess import voi_lut_to_unit  # here: preprocess imports this module

    try:
        voi_lut_to_unit(np.zeros(1, dtype=np.float32), ds)
    except Exception as exc:
        notes.append(f"the header's VOI LUT is unusable and was ignored ({_short(exc)})")
        return False
    return True


def header_windows(ds: pydicom.Dataset) -> list[Window]:
    """Every usable window the header offers, in header order (the first is the default)."""
    return _header_windows(ds, [])


def _header_windows(ds: pydicom.Dataset, notes: list[str]) -> list[Window]:
    try:
        centers, widths = ds.get("WindowCenter"), ds.get("WindowWidth")
        explanations = _as_list(ds.get("WindowCenterWidthExplanation", []))
        function = _text(ds, "VOILUTFunction", "LINEAR").upper()
    except Exception:
        notes.append("the header's window values are unreadable and were ignored")
        return []
    if centers is None or widths is None:
        return []
    if function not in ("LINEAR", "LINEAR_EXACT", "SIGMOID"):
        notes.append(f"unknown VOI LUT function {function!r} in the header: treated as LINEAR")
        function = "LINEAR"
    windows = []
    for i, (center, width) in enumerate(zip(_as_list(centers), _as_list(widths))):
        try:
            center_f, width_f = float(center), float(width)
        except (TypeError, ValueError):
            notes.append(f"header window {i + 1} is not a number and was ignored")
            continue
        valid = width_f >= 1.0 if function == "LINEAR" else width_f > 0.0  # C.11.2.1.2/3
        if not (np.isfinite(center_f) and np.isfinite(width_f) and valid):
            notes.append(f"header window {i + 1} (width {width}) is not a valid {function} window and was ignored")
            continue
        name = str(explanations[i]) if i < len(explanations) and explanations[i] else f"Header {i + 1}"
        windows.append(Window(center_f, width_f, name, function))
    return windows


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple, MultiValue)) else [value]


def _colour_to_grey(image: np.ndarray, notes: list[str], what: str, order: str = "RGB") -> np.ndarray:
    """BT.601 luma of an RGB(A) image (``order`` "BGR" for OpenCV's); equal channels are grey already."""
    if image.dtype not in (np.uint8, np.uint16, np.float32):
        image = image.astype(np.float32)
    if np.array_equal(image[..., 0], image[..., 1]) and np.array_equal(image[..., 0], image[..., 2]):
        notes.append(f"{what} with identical channels read as greyscale")
        return np.ascontiguousarray(image[..., 0])
    notes.append(f"{what} converted to greyscale")
    rgb = order == "RGB"
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_RGBA2GRAY if rgb else cv2.COLOR_BGRA2GRAY)
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY if rgb else cv2.COLOR_BGR2GRAY)


def _short(exc: BaseException) -> str:
    """An exception's message on one line, at most 300 characters."""
    text = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    return (text or type(exc).__name__)[:300]


# -- PNG / JPEG / TIFF / BMP ------------------------------------------------------------------
def _load_raster(path: Path, kind: str) -> Radiograph:
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise ImageLoadError(path, f"cannot be read ({exc.strerror or exc})") from None
    size = _raster_dimensions(memoryview(data), kind)
    if size is None:
        raise ImageLoadError(
            path, f"is a damaged {kind.upper()} file: its header gives no image size", "re-export or re-download it"
        )
    width, height = size
    if width <= 0 or height <= 0:
        raise ImageLoadError(path, f"claims an empty image ({width} x {height} pixels)")
    _refuse_size(path, width, height)
    try:
        image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:
        raise ImageLoadError(path, f"is a damaged {kind.upper()} file ({_short(exc)})") from None
    if image is None or image.size == 0:
        raise ImageLoadError(path, f"is a damaged or truncated {kind.upper()} file", "re-export or re-download it")

    notes: list[str] = []
    if image.ndim == 3:
        channels = image.shape[2]
        if channels == 1:
            image = image[:, :, 0]
        elif channels in (3, 4):
            what = "colour image with alpha (RGBA; alpha ignored)" if channels == 4 else "colour image (RGB)"
            image = _colour_to_grey(image, notes, what, order="BGR")
        else:
            raise ImageLoadError(path, f"has {channels} channels; expected grey, RGB or RGBA")
    if image.dtype == np.uint8:
        bits = 8
    elif image.dtype == np.uint16:
        bits = 16
    elif image.dtype in (np.float32, np.float64):
        bits = 32
        if not np.isfinite(image).all():
            raise ImageLoadError(path, "has pixel values that are not finite numbers (NaN or infinity)")
    else:
        raise ImageLoadError(path, f"has an unsupported pixel type {image.dtype}")
    if image.dtype == np.float64:
        image = image.astype(np.float32)
    return Radiograph(
        path=path,
        pixels=image,
        source_format=kind,
        photometric="MONOCHROME2",
        bits_stored=bits,
        notes=notes,
    )


def _raster_dimensions(data: bytes | memoryview, kind: str) -> tuple[int, int] | None:
    """(width, height) read from the file's own header without decoding; None if not found."""
    try:
        if kind == "png":
            return struct.unpack(">II", data[16:24]) if data[12:16] == b"IHDR" else None
        if kind == "jpeg":
            found = _jpeg_frame_header(data)
            return None if found is None else found[:2]
        if kind == "bmp":
            header_size = struct.unpack("<I", data[14:18])[0]
            if header_size == 12:  # BITMAPCOREHEADER
                return struct.unpack("<HH", data[18:22])
            width, height = struct.unpack("<ii", data[18:26])
            return width, abs(height)  # negative height = rows stored top-down
        if kind == "tiff":
            return _tiff_dimensions(data)
    except struct.error:
        return None
    return None


_SOF_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF, 0xF7}


def _jpeg_frame_header(data: bytes | memoryview) -> tuple[int, int, int] | None:
    """(width, height, components) from the first SOF (JPEG-LS SOF55 included) of a JPEG stream."""
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        if marker == 0xFF:
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        if marker == 0xD9 or marker == 0xDA:  # end of image, or scan data before any frame header
            return None
        length = struct.unpack(">H", data[i + 2 : i + 4])[0]
        if marker in _SOF_MARKERS:
            if i + 10 > len(data):
                return None
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return width, height, data[i + 9]
        i += 2 + length
    return None


def _tiff_dimensions(data: bytes | memoryview) -> tuple[int, int] | None:
    """ImageWidth/ImageLength of the first IFD of a TIFF or BigTIFF (the page OpenCV decodes)."""
    order = "<" if data[:2] == b"II" else ">"
    version = struct.unpack(order + "H", data[2:4])[0]
    if version == 42:
        ifd = struct.unpack(order + "I", data[4:8])[0]
        count = struct.unpack(order + "H", data[ifd : ifd + 2])[0]
        first, entry_size, count_fmt = ifd + 2, 12, "I"
    elif version == 43:
        ifd = struct.unpack(order + "Q", data[8:16])[0]
        count = struct.unpack(order + "Q", data[ifd : ifd + 8])[0]
        first, entry_size, count_fmt = ifd + 8, 20, "Q"
    else:
        return None
    found: dict[int, int] = {}
    value_at = 4 + struct.calcsize(count_fmt)
    for n in range(min(count, 4096)):
        at = first + n * entry_size
        tag, kind = struct.unpack(order + "HH", data[at : at + 4])
        if tag in (256, 257):
            fmt = {3: "H", 4: "I", 16: "Q"}.get(kind)
            if fmt is None:
                return None
            found[tag] = struct.unpack(order + fmt, data[at + value_at : at + value_at + struct.calcsize(fmt)])[0]
    if 256 in found and 257 in found:
        return found[256], found[257]
    return None
