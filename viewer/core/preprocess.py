"""THE preprocessing function shared by the viewer and the trainer.

``preprocess`` turns any source image into the model's input: the display transforms of
``display_transforms.to_unit_grey`` (VOI LUT or window, MONOCHROME1 inversion; raster images
divided by 255 or scaled by the range their pixels use), then the one area resize to the
model's input size. A model never sees pixels prepared differently in training and in use,
because both call ``preprocess``.
"""

from __future__ import annotations

import math
import os

import cv2
import numpy as np

from .display_transforms import default_window, to_unit_grey
from .errors import ImageLoadError
from .loader import load_radiograph
from .radiograph import Radiograph, Window, WindowFunction


def resize_to_input(grey: np.ndarray, height: int, width: int) -> np.ndarray:
    """The one resize to the model's input: area interpolation, no padding (as NIH made theirs)."""
    if grey.shape == (height, width):
        return np.ascontiguousarray(grey, dtype=np.float32)
    interpolation = cv2.INTER_AREA if grey.shape[0] >= height and grey.shape[1] >= width else cv2.INTER_LINEAR
    return cv2.resize(grey.astype(np.float32, copy=False), (width, height), interpolation=interpolation)


BAND_BYTES = 1 << 20  # float32 per band: stays in the L2 cache between the shift and the resize


def _bands(source: int, target: int, longest: int) -> list[tuple[int, int, int, int]] | None:
    """Cuts of an area resize from ``source`` to ``target`` pixels into bands that change nothing.

    Output pixel ``i`` averages source ``[i s, (i+1) s)`` with ``s = source / target``: a cut
    after output ``k`` is exact when ``k s`` is whole, i.e. ``k`` is a multiple of
    ``target / gcd(source, target)``. Each band is resized with the same scale factor as the
    whole, so OpenCV uses the same weights and the result is bit-identical. Returns
    ``(source_start, source_end, target_start, target_end)`` per band, each band at most
    ``longest`` source pixels where the cuts allow it; None when there is no cut at all.
    """
    unit_out = target // math.gcd(source, target)
    unit_in = source * unit_out // target
    if unit_out == target:
        return None
    per_band = max(1, longest // unit_in)
    return [(j * unit_in // unit_out, min(target, j + per_band * unit_out) * unit_in // unit_out,
             j, min(target, j + per_band * unit_out)) for j in range(0, target, per_band * unit_out)]


def _shifted_area_resize(pixels: np.ndarray, origin: float, negate: bool, height: int, width: int) -> np.ndarray:
    """``cv2.resize(origin - pixels if negate else pixels - origin, INTER_AREA)`` in float32.

    The same numbers as shifting the whole image and resizing it, computed band by band (rows
    where the cuts allow, else columns) through one small buffer: the full-size float32 image
    (14 MB for a 1955 x 1841 CR) is never written to memory and read back.
    """
    def shifted(values: np.ndarray, out: np.ndarray) -> np.ndarray:
        if negate:
            np.subtract(np.float32(origin), values, out=out)
        else:
            np.subtract(values, np.float32(origin), out=out)
        return out

    rows, cols = pixels.shape
    shrinking = rows >= height and cols >= width
    by_rows = _bands(rows, height, max(1, BAND_BYTES // (4 * cols))) if shrinking else None
    by_cols = None if by_rows else (_bands(cols, width, max(1, BAND_BYTES // (4 * rows))) if shrinking else None)
    if not (by_rows and len(by_rows) > 1) and not (by_cols and len(by_cols) > 1):
        return resize_to_input(shifted(pixels, np.empty(pixels.shape, np.float32)), height, width)
    out = np.empty((height, width), np.float32)
    if by_rows:
        buffer = np.empty((max(b - a for a, b, _, _ in by_rows), cols), np.float32)
        for a, b, i, j in by_rows:
            band = shifted(pixels[a:b], buffer[: b - a])
            out[i:j] = cv2.resize(band, (width, j - i), interpolation=cv2.INTER_AREA)
    elif by_cols:
        buffer = np.empty((rows, max(b - a for a, b, _, _ in by_cols)), np.float32)
        for a, b, i, j in by_cols:
            band = shifted(pixels[:, a:b], buffer[:, : b - a])
            out[:, i:j] = cv2.resize(band, (j - i, height), interpolation=cv2.INTER_AREA)
    return out


def preprocess(
    source: Radiograph | str | os.PathLike[str] | bytes, height: int, width: int, window: Window | None = None
) -> np.ndarray:
    """THE preprocessing function: any source image -> float32 [height, width] grey in [0, 1].

    ``source`` is a loaded ``Radiograph`` or a path (loaded with ``load_radiograph``).
    Raises ``ImageLoadError`` when the file cannot be read.
    """
    radiograph = source if isinstance(source, Radiograph) else load_radiograph(source)
    try:
        small = _resize_then_window(radiograph, window, height, width)
        if small is not None:
            return small
        grey = to_unit_grey(radiograph, window)
    except (ValueError, TypeError, AttributeError, IndexError, KeyError) as exc:
        raise ImageLoadError(radiograph.path, f"cannot be windowed ({exc})") from None
    # area/linear interpolation of float32 values in [0, 1] may round a hair past 1 (fuzzing
    # found 1.0000001): the model is promised [0, 1]
    prepared: np.ndarray = np.clip(resize_to_input(grey, height, width), 0.0, 1.0)
    return prepared


def _resize_then_window(
    radiograph: Radiograph, window: Window | None, height: int, width: int
) -> np.ndarray | None:
    """The same result as window-then-resize, computed in the cheaper order when that is exact.

    A linear window that clips no pixel is an affine map, and a resize averages with weights
    that sum to one, so the two commute. The one full-size pass is the window's shift, the
    first step of ``window_to_unit`` (``x - low``, or ``low + span - x`` for MONOCHROME1),
    which makes float32 of the pixels; the scale by ``1 / span`` and the clip to [0, 1] are
    then done on the small image. Shifting before resizing keeps the resize's rounding at the
    scale of the window rather than of the values, so even a narrow window far from zero
    matches windowing first to float32 rounding. None when it does not apply (a SIGMOID window
    or VOI LUT, or a window that clips: those are windowed at full size, exactly).
    """
    if window is None and radiograph.has_voi_lut and radiograph.header is not None:
        return None
    window = window or default_window(radiograph)
    function = window.function
    if function == WindowFunction.SIGMOID:
        return None
    if function == WindowFunction.LINEAR_EXACT:
        low, span = window.center - window.width / 2, float(window.width)
    else:
        low, span = window.center - 0.5 - (window.width - 1) / 2, window.width - 1.0
    if not span > 0 or not (np.isfinite(low) and np.isfinite(span)):
        return None
    pixels = radiograph.pixels
    if pixels.dtype == np.uint8 and low <= 0 and low + span >= 255:
        lowest, highest = 0.0, 255.0
    elif pixels.dtype in (np.uint8, np.uint16, np.int16, np.float32):
        lowest, highest, _, _ = cv2.minMaxLoc(pixels)
    else:
        lowest, highest = float(pixels.min()), float(pixels.max())
    if lowest < low or highest > low + span:
        return None
    # exactly window_to_unit's first pass, so the two orders differ only by float rounding
    if radiograph.inverted:
        small = _shifted_area_resize(pixels, low + span, True, height, width)
    else:
        small = _shifted_area_resize(pixels, low, False, height, width)
    small *= np.float32(1.0 / span)
    return np.clip(small, 0.0, 1.0, out=small)


def to_model_batch(images: list[np.ndarray]) -> np.ndarray:
    """Stack prepared [H, W] images into the classifier's [N, 1, H, W] float32 input."""
    return np.ascontiguousarray(np.stack(images)[:, None, :, :], dtype=np.float32)
