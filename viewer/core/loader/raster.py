"""PNG, JPEG, TIFF and BMP files -> ``Radiograph`` (decoded by OpenCV after the size check)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..errors import ImageLoadError, one_line
from ..radiograph import Photometric, Radiograph, SourceFormat
from .colour import colour_to_grey
from .guards import refuse_size
from .headers import bytes_reader, raster_dimensions


def load_raster(path: Path, kind: SourceFormat) -> Radiograph:
    """The image in the ``kind`` file at ``path`` ("png", "jpeg", "tiff", "bmp"), as grey."""
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise ImageLoadError(path, f"cannot be read ({exc.strerror or exc})") from None
    size = raster_dimensions(bytes_reader(data.data), kind)
    if size is None:
        raise ImageLoadError(
            path, f"is a damaged {kind.upper()} file: its header gives no image size", "re-export or re-download it"
        )
    width, height = size
    if width <= 0 or height <= 0:
        raise ImageLoadError(path, f"claims an empty image ({width} x {height} pixels)")
    refuse_size(path, width, height)
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
