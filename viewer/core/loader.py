"""One loader for every radiograph a workstation meets: DICOM, PNG (8/16 bit), JPEG, TIFF, BMP.

``load_radiograph(path)`` returns a ``Radiograph`` or raises ``ImageLoadError`` naming the file,
the problem and, where there is one, the fix. Dimensions are checked from the header before any
pixel buffer is allocated, so a decompression bomb is refused instead of exhausting memory.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

# OpenCV's own pixel limit guards the raster formats whose headers we do not parse ourselves.
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(100_000_000))
import cv2  # noqa: E402
import pydicom  # noqa: E402
from pydicom.errors import InvalidDicomError  # noqa: E402
from pydicom.pixels import apply_modality_lut  # noqa: E402
from pydicom.pixels import pixel_array as decode_dicom_pixels  # noqa: E402

from .errors import ImageLoadError  # noqa: E402
from .radiograph import Radiograph, Window  # noqa: E402

MAX_PIXELS = 100_000_000  # 10,000 x 10,000: larger than any real radiograph
MAX_SIDE = 30_000
RASTER_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"}
DICOM_SUFFIXES = {".dcm", ".dicom", ".dic"}

_MAGIC = {
    b"\x89PNG\r\n\x1a\n": "png",
    b"\xff\xd8\xff": "jpeg",
    b"II*\x00": "tiff",
    b"MM\x00*": "tiff",
    b"BM": "bmp",
}


def sniff_format(path: Path, head: bytes | None = None) -> str | None:
    """'dicom', a raster format name, or None, judged from the file's first bytes."""
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
    """Load any supported radiograph from ``path``.

    Raises ``ImageLoadError`` for anything that cannot be shown, with the reason.
    """
    path = Path(os.fsdecode(path))
    try:
        if path.is_dir():
            raise ImageLoadError(path, "is a folder, not an image file")
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
    if kind == "dicom" or (kind is None and path.suffix.lower() in DICOM_SUFFIXES | {""}):
        return _load_dicom(path)
    if kind is not None:
        return _load_raster(path, kind)
    if path.suffix.lower() in RASTER_SUFFIXES:
        raise ImageLoadError(
            path, f"is named {path.suffix} but its content is not a {path.suffix[1:].upper()} image"
        )
    raise ImageLoadError(path, "is not an image format the viewer reads (DICOM, PNG, JPEG, TIFF, BMP)")


# -- DICOM ----------------------------------------------------------------------------------
_DEFER = 4096  # values larger than this (pixel data) are read only when decoded
_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")


def _load_dicom(path: Path) -> Radiograph:
    try:
        ds = pydicom.dcmread(path, defer_size=_DEFER)
    except InvalidDicomError:
        # No preamble: some exports omit it. Try again, but only accept a real dataset.
        try:
            ds = pydicom.dcmread(path, defer_size=_DEFER, force=True)
        except Exception as exc:
            raise ImageLoadError(path, f"is not a readable DICOM file ({_short(exc)})") from None
        if "SOPClassUID" not in ds and "Rows" not in ds:
            raise ImageLoadError(path, "is not a DICOM file (no DICOM preamble or image attributes)")
    except Exception as exc:
        raise ImageLoadError(path, f"has a damaged DICOM header ({_short(exc)})", "re-export the file") from None

    _check_dicom_dimensions(path, ds)
    for keyword in _PIXEL_KEYWORDS:  # the header keeps no pixel bytes (decoded below, by frame)
        if keyword in ds:
            del ds[keyword]
    notes: list[str] = []
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    try:
        stored = decode_dicom_pixels(path, index=0 if frames > 1 else None)
    except Exception as exc:
        raise ImageLoadError(path, _describe_decode_error(ds, exc), _decode_remedy(ds)) from None
    if frames > 1:
        notes.append(f"multi-frame image ({frames} frames): showing the first frame")

    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip().upper()
    if stored.ndim == 3:  # colour: pydicom already converted YBR to RGB
        stored = cv2.cvtColor(_to_uint_like(stored), cv2.COLOR_RGB2GRAY)
        notes.append(f"colour DICOM ({photometric}) converted to greyscale")
        photometric = "MONOCHROME2"
    if stored.ndim != 2 or stored.size == 0:
        raise ImageLoadError(path, f"has pixel data of unexpected shape {stored.shape}")

    padding = _padding_mask(ds, stored)
    try:
        pixels = apply_modality_lut(stored, ds)
    except Exception as exc:
        raise ImageLoadError(path, f"has an unusable modality LUT ({_short(exc)})") from None
    pixels = np.asarray(pixels, dtype=np.float32)
    if not np.isfinite(pixels).all():
        raise ImageLoadError(path, "has pixel values that are not finite numbers (NaN or infinity)")

    spacing, spacing_source = _pixel_spacing(ds)
    if spacing is None and ("PixelSpacing" in ds or "ImagerPixelSpacing" in ds):
        notes.append("pixel spacing in the header is zero or invalid: distances are in pixels")
    return Radiograph(
        path=path,
        pixels=pixels,
        source_format="dicom",
        photometric="MONOCHROME1" if photometric == "MONOCHROME1" else "MONOCHROME2",
        bits_stored=int(ds.get("BitsStored", ds.get("BitsAllocated", 16)) or 16),
        pixel_spacing=spacing,
        spacing_source=spacing_source,
        windows=header_windows(ds),
        has_voi_lut=bool(ds.get("VOILUTSequence")),
        padding_mask=padding,
        header=ds,
        notes=notes,
    )


def _check_dicom_dimensions(path: Path, ds: pydicom.Dataset) -> None:
    if not any(keyword in ds for keyword in _PIXEL_KEYWORDS):
        raise ImageLoadError(
            path, "has no pixel data (it is a DICOM object without an image, such as a report)"
        )
    try:
        rows, cols = int(ds.Rows), int(ds.Columns)
        samples = int(ds.get("SamplesPerPixel", 1) or 1)
    except (AttributeError, TypeError, ValueError):
        raise ImageLoadError(path, "has no valid Rows/Columns in its header") from None
    if rows <= 0 or cols <= 0:
        raise ImageLoadError(path, f"claims an empty image ({rows} x {cols} pixels)")
    if rows > MAX_SIDE or cols > MAX_SIDE or rows * cols * samples > MAX_PIXELS:
        raise ImageLoadError(
            path,
            f"claims {cols} x {rows} pixels, more than the {MAX_PIXELS:,}-pixel limit; "
            "refused before decoding to protect memory",
        )


def _padding_mask(ds: pydicom.Dataset, stored: np.ndarray) -> np.ndarray | None:
    """Pixels equal to (or within the range of) Pixel Padding Value, in stored units."""
    value = ds.get("PixelPaddingValue")
    if value is None or isinstance(value, (list, tuple, pydicom.multival.MultiValue)):
        return None
    limit = ds.get("PixelPaddingRangeLimit")
    if limit is None:
        mask = stored == value
    else:
        low, high = sorted((int(value), int(limit)))
        mask = (stored >= low) & (stored <= high)
    return mask if mask.any() else None


def _pixel_spacing(ds: pydicom.Dataset) -> tuple[tuple[float, float] | None, str | None]:
    """Row/column spacing in mm; None when missing, zero or nonsense (RG1's is [0, 0])."""
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        value = ds.get(keyword)
        try:
            row, col = (float(v) for v in value)  # type: ignore[union-attr]
        except (TypeError, ValueError):
            continue
        if 0 < row < 100 and 0 < col < 100:
            return (row, col), keyword
    return None, None


def header_windows(ds: pydicom.Dataset) -> list[Window]:
    """Every window the header offers, in header order (the first is the default)."""
    centers, widths = ds.get("WindowCenter"), ds.get("WindowWidth")
    if centers is None or widths is None:
        return []
    as_list = lambda v: list(v) if isinstance(v, (list, tuple, pydicom.multival.MultiValue)) else [v]  # noqa: E731
    explanations = as_list(ds.get("WindowCenterWidthExplanation", []))
    function = str(ds.get("VOILUTFunction", "LINEAR") or "LINEAR").strip().upper()
    windows = []
    for i, (center, width) in enumerate(zip(as_list(centers), as_list(widths))):
        try:
            center_f, width_f = float(center), float(width)
        except (TypeError, ValueError):
            continue
        if not (np.isfinite(center_f) and np.isfinite(width_f)) or width_f <= 0:
            continue
        name = str(explanations[i]) if i < len(explanations) and explanations[i] else f"Header {i + 1}"
        windows.append(Window(center_f, width_f, name, function))
    return windows


def _to_uint_like(arr: np.ndarray) -> np.ndarray:
    if arr.dtype in (np.uint8, np.uint16, np.float32):
        return arr
    return arr.astype(np.float32)


def _describe_decode_error(ds: pydicom.Dataset, exc: Exception) -> str:
    syntax = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    syntax_name = getattr(syntax, "name", str(syntax)) if syntax else "unknown transfer syntax"
    return f"pixel data could not be decoded ({syntax_name}: {_short(exc)})"


def _decode_remedy(ds: pydicom.Dataset) -> str | None:
    syntax = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    if syntax is not None and getattr(syntax, "is_compressed", False):
        return "the file may be truncated, or compressed with a syntax no installed decoder supports"
    return "the file may be truncated or its header may not match its pixel data"


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:240]


# -- PNG / JPEG / TIFF / BMP ------------------------------------------------------------------
def _load_raster(path: Path, kind: str) -> Radiograph:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageLoadError(path, f"cannot be read ({exc.strerror or exc})") from None
    size = _raster_dimensions(data, kind)
    if size is not None:
        width, height = size
        if width <= 0 or height <= 0:
            raise ImageLoadError(path, f"claims an empty image ({width} x {height} pixels)")
        if width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS:
            raise ImageLoadError(
                path,
                f"claims {width} x {height} pixels, more than the {MAX_PIXELS:,}-pixel limit; "
                "refused before decoding to protect memory",
            )
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:
        raise ImageLoadError(path, f"is a damaged {kind.upper()} file ({_short(exc)})") from None
    if image is None:
        raise ImageLoadError(path, f"is a damaged or truncated {kind.upper()} file", "re-export or re-download it")

    notes: list[str] = []
    if image.ndim == 3:
        channels = image.shape[2]
        if channels == 4:
            image = cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY)
            notes.append("colour image with alpha (RGBA) converted to greyscale; alpha ignored")
        elif channels == 3:
            image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
            notes.append("colour image (RGB) converted to greyscale")
        elif channels == 1:
            image = image[:, :, 0]
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
    return Radiograph(
        path=path,
        pixels=image.astype(np.float32, copy=False),
        source_format=kind,
        photometric="MONOCHROME2",
        bits_stored=bits,
        notes=notes,
    )


def _raster_dimensions(data: bytes, kind: str) -> tuple[int, int] | None:
    """(width, height) read from a PNG or JPEG header without decoding; None if not found."""
    if kind == "png" and len(data) >= 24 and data[12:16] == b"IHDR":
        return struct.unpack(">II", data[16:24])
    if kind == "jpeg":
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                i += 1
                continue
            marker = data[i + 1]
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7 or marker == 0xFF:
                i += 1 if marker == 0xFF else 2
                continue
            length = struct.unpack(">H", data[i + 2 : i + 4])[0]
            if marker in {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}:
                height, width = struct.unpack(">HH", data[i + 5 : i + 9])
                return width, height
            i += 2 + length
    return None
