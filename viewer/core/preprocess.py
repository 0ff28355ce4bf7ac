"""Display transforms and THE preprocessing function shared by the viewer and the trainer.

``to_unit_grey`` turns a radiograph into float32 grey in [0, 1], white = dense: the VOI LUT or
window (the header's first, or a robust percentile range that leaves pixel padding out), then
MONOCHROME1 inversion; raster images are divided by 255 (8 bit) or scaled by the range their
pixels use (16 bit). ``preprocess`` adds the one area resize to the model's input size. A model
never sees pixels prepared differently in training and in use, because both call ``preprocess``.
"""

from __future__ import annotations

import math
import os
from typing import Any

import cv2
import numpy as np
from pydicom.multival import MultiValue

from .errors import ImageLoadError
from .loader import load_radiograph
from .radiograph import Radiograph, Window

AUTO_PERCENTILES = (0.5, 99.5)


def window_to_unit(values: np.ndarray, window: Window, *, invert: bool = False) -> np.ndarray:
    """Apply a VOI window (DICOM PS3.3 C.11.2.1.2/3) to modality values, giving float32 [0, 1].

    Same formulas as ``pydicom.pixels.apply_windowing`` (the tests use it as the oracle), but
    straight to [0, 1] in float32 in three passes over the image, which is what both the display
    and the model need. ``invert=True`` gives ``1 - result`` (MONOCHROME1) in the same passes.
    Unknown function names are treated as LINEAR, the standard's default. Raises ``ValueError``
    for a width the function does not allow (LINEAR needs >= 1, the others > 0).
    """
    center, width = float(window.center), float(window.width)
    if not (np.isfinite(center) and np.isfinite(width)):
        raise ValueError(f"window center {center} / width {width} are not finite")
    function = (window.function or "LINEAR").upper()
    if function == "SIGMOID":
        if width <= 0:
            raise ValueError("a SIGMOID window needs a width > 0")
        # y = 1 / (1 + exp(-4 (x - c) / w)); 1 - y is the same with the exponent's sign flipped.
        out = np.subtract(values, np.float32(center), dtype=np.float32)
        out *= np.float32((4.0 if invert else -4.0) / width)
        with np.errstate(over="ignore"):  # exp overflow -> inf -> output 0, as it should
            np.exp(out, out=out)
        out += np.float32(1.0)
        return np.reciprocal(out, out=out)
    if function == "LINEAR_EXACT":
        if width <= 0:
            raise ValueError("a LINEAR_EXACT window needs a width > 0")
        low, span = center - width / 2, width
    else:  # LINEAR: C.11.2.1.2.1, centre and width shifted by the standard's 0.5 and 1
        if width < 1:
            raise ValueError("a LINEAR window needs a width >= 1")
        low, span = center - 0.5 - (width - 1) / 2, width - 1
    if span == 0:  # LINEAR with width 1: a hard threshold
        bright = np.greater(values, center - 0.5)
        return (~bright if invert else bright).astype(np.float32)
    # (x - low) / span, subtracting first: exact for integer-valued pixels even far from zero.
    if invert:
        out = np.subtract(np.float32(low + span), values, dtype=np.float32)
    else:
        out = np.subtract(values, np.float32(low), dtype=np.float32)
    out *= np.float32(1.0 / span)
    return np.clip(out, 0.0, 1.0, out=out)


def _sample(radiograph: Radiograph) -> np.ndarray:
    """Up to ~250,000 evenly spaced non-padding pixels: percentiles of these are as good as all."""
    flat = radiograph.pixels.reshape(-1)
    step = max(1, flat.size // 250_000)
    values = flat[::step]
    if radiograph.padding_mask is not None:
        kept = values[~radiograph.padding_mask.reshape(-1)[::step]]
        if kept.size:
            values = kept
    return values


def auto_window(radiograph: Radiograph) -> Window:
    """A robust window for images without one: the 0.5-99.5 percentile range, padding excluded.

    Falls back to the full range when the percentiles coincide (a small object on a flat
    background), and to a window centred on the value for a constant image, which therefore
    shows as one mid grey.
    """
    values = _sample(radiograph)
    low, high = (float(v) for v in np.percentile(values, AUTO_PERCENTILES))
    if not high > low:
        low, high = float(values.min()), float(values.max())
    if not high > low:
        return Window(center=low, width=1.0, name="Auto (constant image)", function="LINEAR_EXACT")
    return Window(center=(low + high) / 2, width=high - low, name="Auto", function="LINEAR_EXACT")


def default_window(radiograph: Radiograph) -> Window:
    """The window an image opens with (and the one a user's window/level adjustment starts from).

    DICOM: the header's first window, else the automatic one (when the header has a VOI LUT
    Sequence, ``to_unit_grey`` applies that instead; this window is then the adjustable start).
    Raster: the identity mapping the design prescribes, /255 for 8 bit and the range the pixels
    use for 16 bit (or float), so window/level starts from what the model sees.
    """
    if radiograph.windows:
        return radiograph.windows[0]
    if radiograph.is_dicom:
        return auto_window(radiograph)
    if radiograph.bits_stored == 8:
        return Window(center=127.5, width=255.0, name="Full range", function="LINEAR_EXACT")
    low, high = float(radiograph.pixels.min()), float(radiograph.pixels.max())
    if not high > low:  # constant image: one mid grey
        return Window(center=low, width=1.0, name="Used range (constant image)", function="LINEAR_EXACT")
    return Window(center=(low + high) / 2, width=high - low, name="Used range", function="LINEAR_EXACT")


def to_unit_grey(
    radiograph: Radiograph, window: Window | None = None, *, apply_photometric: bool = True
) -> np.ndarray:
    """Full-resolution float32 grey in [0, 1], white = dense.

    ``window`` overrides the default (the header's VOI LUT Sequence, else its first window, else
    the automatic window; see ``default_window``). ``apply_photometric=False`` skips the
    MONOCHROME1 inversion.
    """
    invert = apply_photometric and radiograph.inverted
    if window is None and radiograph.has_voi_lut and radiograph.header is not None:
        grey = voi_lut_to_unit(radiograph.pixels, radiograph.header)
        return np.subtract(np.float32(1.0), grey, out=grey) if invert else grey
    return window_to_unit(radiograph.pixels, window or default_window(radiograph), invert=invert)


def voi_lut_to_unit(values: np.ndarray, ds: Any, index: int = 0) -> np.ndarray:
    """Apply item ``index`` of the header's VOI LUT Sequence (C.11.2.1.1), giving float32 [0, 1].

    The lookup is ``pydicom.pixels.apply_voi``'s (the tests use it as the oracle), done here
    because pydicom 3.0 indexes 8-bit LUTs through a uint8 array, which wraps inputs above 255.
    The output is scaled by the range the LUT's entries actually use (the smallest 2**n - 1 that
    holds its largest entry) rather than the descriptor's bit depth: some devices (Agfa CR)
    declare 16 bits for 12-bit entries, which would otherwise show nearly black (Horos and
    Cornerstone do the same). For a LUT that uses its declared depth the two agree.
    """
    item = ds.VOILUTSequence[index]
    entries, first = (int(v) for v in item.LUTDescriptor[:2])
    entries = entries or 65536  # PS3.3 C.11.2.1.1: 0 means 2**16 entries
    data = _lut_entries(item, ds, entries)
    top = 2 ** max(1, int(data.max()).bit_length()) - 1
    table = data.astype(np.float32) * np.float32(1.0 / top)
    index_values = np.rint(np.subtract(values, first, dtype=np.float32))
    np.clip(index_values, 0, len(table) - 1, out=index_values)
    return table[index_values.astype(np.intp)]


def _lut_entries(item: Any, ds: Any, entries: int) -> np.ndarray:
    """LUT Data as unsigned integers, whether stored as a US list or OW bytes (8 or 16 bit)."""
    element = item["LUTData"]
    if element.VR == "OW" or isinstance(element.value, (bytes, bytearray)):
        raw = bytes(element.value)
        little = ds.original_encoding[1] is not False
        if len(raw) == entries:  # 8-bit entries packed one per byte
            data = np.frombuffer(raw, dtype=np.uint8)
        else:
            data = np.frombuffer(raw, dtype="<u2" if little else ">u2")
    else:
        value = element.value
        data = np.asarray(list(value) if isinstance(value, (list, tuple, MultiValue)) else [value], dtype=np.int64)
    data = data[:entries]
    if data.size == 0:
        raise ValueError("the VOI LUT has no entries")
    return data


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
            return np.subtract(np.float32(origin), values, out=out)
        return np.subtract(values, np.float32(origin), out=out)

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
    else:
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
    return np.clip(resize_to_input(grey, height, width), 0.0, 1.0)


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
    function = (window.function or "LINEAR").upper()
    if function == "SIGMOID":
        return None
    if function == "LINEAR_EXACT":
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
