"""Display transforms: stored DICOM values -> modality units -> grey in [0, 1], white = dense.

The steps of DICOM PS3.3 C.11, in order: the modality LUT (rescale slope/intercept or the LUT
sequence), then the VOI LUT or window (the header's first, or a robust percentile range that
leaves pixel padding out), then MONOCHROME1 inversion. Raster images have no header: their
default window is the identity (/255 for 8 bit, the used range for 16 bit).

The loader uses the modality step and checks a header's VOI LUT once while loading; the
display (window/level) and the model's preprocessing both use the VOI step, so the two never
disagree about what a window means.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydicom.multival import MultiValue
from pydicom.pixels.processing import apply_modality_lut

from .dicom_values import float_value, frame_group, has_value, text_value
from .radiograph import Radiograph, Window, WindowFunction

AUTO_PERCENTILES = (0.5, 99.5)
# Modality values and windows must leave room for the window arithmetic in float32 (max ~3.4e38).
MAX_MODALITY_VALUE = 1e30
MAX_WINDOW_VALUE = 1e32  # wider than any window over modality values (at most 2e30 across)


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
    if abs(center) > MAX_WINDOW_VALUE or width > MAX_WINDOW_VALUE:
        raise ValueError(f"window center {center:g} / width {width:g} are beyond float32 arithmetic")
    function = window.function
    if function == WindowFunction.SIGMOID:
        if width <= 0:
            raise ValueError("a SIGMOID window needs a width > 0")
        # y = 1 / (1 + exp(-4 (x - c) / w)); 1 - y is the same with the exponent's sign flipped.
        out: np.ndarray = np.subtract(values, np.float32(center), dtype=np.float32)
        out *= np.float32((4.0 if invert else -4.0) / width)
        with np.errstate(over="ignore"):  # exp overflow -> inf -> output 0, as it should
            np.exp(out, out=out)
        out += np.float32(1.0)
        np.reciprocal(out, out=out)
        return out
    if function == WindowFunction.LINEAR_EXACT:
        if width <= 0:
            raise ValueError("a LINEAR_EXACT window needs a width > 0")
        low, span = center - width / 2, width
    else:  # LINEAR: C.11.2.1.2.1, centre and width shifted by the standard's 0.5 and 1
        if width < 1:
            raise ValueError("a LINEAR window needs a width >= 1")
        low, span = center - 0.5 - (width - 1) / 2, width - 1
    if span == 0:  # LINEAR with width 1: a hard threshold
        bright: np.ndarray = np.greater(values, center - 0.5)
        return (~bright if invert else bright).astype(np.float32)
    # (x - low) / span, subtracting first: exact for integer-valued pixels even far from zero.
    if invert:
        out = np.subtract(np.float32(low + span), values, dtype=np.float32)
    else:
        out = np.subtract(values, np.float32(low), dtype=np.float32)
    out *= np.float32(1.0 / span)
    np.clip(out, 0.0, 1.0, out=out)
    return out


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
        return Window(center=low, width=1.0, name="Auto (constant image)", function=WindowFunction.LINEAR_EXACT)
    return Window(center=(low + high) / 2, width=high - low, name="Auto", function=WindowFunction.LINEAR_EXACT)


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
        return Window(center=127.5, width=255.0, name="Full range", function=WindowFunction.LINEAR_EXACT)
    low, high = float(radiograph.pixels.min()), float(radiograph.pixels.max())
    if not high > low:  # constant image: one mid grey
        return Window(center=low, width=1.0, name="Used range (constant image)", function=WindowFunction.LINEAR_EXACT)
    return Window(center=(low + high) / 2, width=high - low, name="Used range", function=WindowFunction.LINEAR_EXACT)


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
    grey: np.ndarray = table[index_values.astype(np.intp)]
    return grey


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
    if data.size < entries:  # indexing past the data would show every brighter value as white
        raise ValueError(f"the VOI LUT has {data.size} entries where its descriptor says {entries}")
    return data[:entries]


def modality_values(stored: np.ndarray, ds: Any, notes: list[str] | None = None, *, frame: int = 0) -> np.ndarray:
    """Stored greyscale values -> modality units (C.11.1): float32, or ``stored`` itself when the
    modality transform is the identity (the common radiograph; saves a full-size copy).

    An enhanced multi-frame object keeps its rescale in each frame's Pixel Value Transformation
    functional group; ``stored`` is frame ``frame`` (0-based) and its own group is used. An
    empty slope or intercept reads as 1 or 0 with a note. Raises ``ValueError`` (or pydicom's
    own error) for an unusable LUT or rescale, including one that would take the values beyond
    what float32 can hold.
    """
    if ds.get("ModalityLUTSequence"):
        return np.asarray(apply_modality_lut(stored, ds), dtype=np.float32)
    source = ds
    if "RescaleSlope" not in ds and "RescaleIntercept" not in ds:
        source = frame_group(ds, "PixelValueTransformationSequence", frame) or ds
    if "RescaleSlope" in source or "RescaleIntercept" in source:
        slope, intercept = _rescale(stored, source, notes)
        # pydicom's apply_modality_lut rescales in float64 (two full-size 8-byte copies); this
        # is the same multiply-add in float32, which is exact for <= 24-bit stored values.
        pixels: np.ndarray = np.multiply(stored, np.float32(slope), dtype=np.float32)
        pixels += np.float32(intercept)
        return pixels
    if stored.dtype.kind in "ui":
        return stored  # identity: stored values are modality values; no copy
    return stored.astype(np.float32, copy=False)


def _rescale(stored: np.ndarray, source: Any, notes: list[str] | None) -> tuple[float, float]:
    """(slope, intercept), checked: finite, a slope that is not 0, and results float32 can hold."""
    values = {}
    for keyword, default in (("RescaleSlope", 1.0), ("RescaleIntercept", 0.0)):
        if not has_value(source, keyword):
            if keyword in source and notes is not None:
                notes.append(f"the header's {keyword} is empty: {default:g} assumed")
            values[keyword] = default
            continue
        value = float_value(source, keyword)
        if value is None:
            raise ValueError(f"{keyword} {text_value(source, keyword, 'unreadable')[:40]!r} is not a finite number")
        values[keyword] = value
    slope, intercept = values["RescaleSlope"], values["RescaleIntercept"]
    if slope == 0:
        raise ValueError("rescale slope 0 would make every pixel the same value")
    if stored.dtype.kind in "ui":  # the stored type's range bounds the result without a pass
        info = np.iinfo(stored.dtype)
        low, high = float(info.min), float(info.max)
    else:
        low, high = float(np.min(stored)), float(np.max(stored))
    reach = max(abs(slope * low + intercept), abs(slope * high + intercept))
    if not reach <= MAX_MODALITY_VALUE:
        raise ValueError(f"rescale slope {slope:g} and intercept {intercept:g} take the pixel values to "
                         f"{reach:.3g}, beyond what the viewer can compute with ({MAX_MODALITY_VALUE:g})")
    return slope, intercept
