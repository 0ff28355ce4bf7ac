"""PNG, JPEG, TIFF and BMP files -> ``Radiograph`` (decoded by OpenCV after the size check)."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from ..errors import ImageLoadError, one_line
from ..radiograph import Photometric, Radiograph, SourceFormat
from .colour import colour_to_grey
from .guards import refuse_size
from .headers import file_reader, raster_dimensions

# A raster file may be larger than its image's pixels only by its compression's worst case and
# its metadata: twice the pixels at 8 bytes each (16-bit RGBA), plus 16 MB of EXIF, ICC, text.
_BYTES_PER_PIXEL_BOUND = 16
_METADATA_BOUND = 16 << 20


def _refuse_oversized_file(path: Path, kind: SourceFormat, size: tuple[int, int], file_bytes: int) -> None:
    """Refuse a file far larger than the image its header declares, before reading it (a valid
    header in front of gigabytes would otherwise be read whole)."""
    width, height = size
    bound = width * height * _BYTES_PER_PIXEL_BOUND + _METADATA_BOUND
    if file_bytes > bound:
        raise ImageLoadError(
            path, f"is {file_bytes:,} bytes, far more than its declared {width} x {height} {kind.upper()} image "
            f"can take (at most {bound:,}); refused before reading it", "re-export or re-download it",
        )


def load_raster(path: Path, kind: SourceFormat) -> Radiograph:
    """The image in the ``kind`` file at ``path`` ("png", "jpeg", "tiff", "bmp"), as grey."""
    try:
        with open(path, "rb") as handle:  # judged by its header before anything else is read
            size = raster_dimensions(file_reader(handle), kind)
            if size is None:
                raise ImageLoadError(
                    path, f"is a damaged {kind.upper()} file: its header gives no image size",
                    "re-export or re-download it",
                )
            width, height = size
            if width <= 0 or height <= 0:
                raise ImageLoadError(path, f"claims an empty image ({width} x {height} pixels)")
            refuse_size(path, width, height)
            _refuse_oversized_file(path, kind, size, os.fstat(handle.fileno()).st_size)
            handle.seek(0)
            data = np.fromfile(handle, dtype=np.uint8)
    except OSError as exc:
        raise ImageLoadError(path, f"cannot be read ({exc.strerror or exc})") from None
    try:
        image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:
        raise ImageLoadError(path, f"is a damaged {kind.upper()} file ({one_line(exc)})") from None
    if image is None or image.size == 0:
        raise ImageLoadError(path, f"is a damaged or truncated {kind.upper()} file", "re-export or re-download it")

    notes: list[str] = []
    if image.ndim == 3:
        channels = image.shape[2]
        if channels == 1:
            image = image[:, :, 0]
        elif channels in (3, 4):
            what = "colour image with alpha (RGBA; alpha ignored)" if channels == 4 else "colour image (RGB)"
            image = colour_to_grey(image, notes, what, order="BGR")
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
        photometric=Photometric.MONOCHROME2,
        bits_stored=bits,
        notes=notes,
    )
