"""Fast window/level for display: modality values -> 8-bit grey through a lookup table.

The image is quantised ONCE (when it is loaded, in a worker) into a uint16 index per pixel;
changing the window then only recomputes a table of at most 65,536 entries with the core's own
``window_to_unit`` (so the display uses exactly the windowing formulas the model uses) and one
``np.take``. Half-size levels (area averaged) are made for drawing zoomed-out views without
aliasing, and a small level serves as the preview while the user drags window/level. The
image's density percentiles (for the lung / soft tissue / bone presets of
``viewer.viewmodel.windowing``) are taken here too, while the worker has the pixels at hand.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from PySide6.QtGui import QImage

from viewer.core.display_transforms import default_window, window_to_unit
from viewer.core.radiograph import Radiograph, Window
from viewer.viewmodel.windowing import density_percentiles

MAX_BINS = 65_536
PREVIEW_MAX_SIDE = 768  # the level drawn while window/level is being dragged


def grey_qimage(grey: np.ndarray) -> QImage:
    """A QImage that views a C-contiguous uint8 [h, w] array without copying.

    The caller must keep ``grey`` alive as long as the QImage (``GreyFrame`` does).
    """
    if grey.dtype != np.uint8 or grey.ndim != 2 or not grey.flags.c_contiguous:
        raise ValueError("grey_qimage needs a C-contiguous uint8 2-D array")
    h, w = grey.shape
    return QImage(grey.data, w, h, grey.strides[0], QImage.Format.Format_Grayscale8)


def rgba_qimage(rgba: np.ndarray) -> QImage:
    """A QImage viewing a C-contiguous uint8 [h, w, 4] premultiplied RGBA array (kept alive by caller)."""
    if rgba.dtype != np.uint8 or rgba.ndim != 3 or rgba.shape[2] != 4 or not rgba.flags.c_contiguous:
        raise ValueError("rgba_qimage needs a C-contiguous uint8 [h, w, 4] array")
    h, w, _ = rgba.shape
    return QImage(rgba.data, w, h, rgba.strides[0], QImage.Format.Format_RGBA8888_Premultiplied)


@dataclass
class GreyFrame:
    """One rendered level: the uint8 array and the QImage that views it (kept together)."""

    array: np.ndarray
    image: QImage
    scale: float  # level pixels per image pixel (1.0, 0.5, 0.25, ...)


class GreyRenderer:
    """Window/level of one radiograph for display.

    Build it off the GUI thread (quantisation touches every pixel once); ``render`` is cheap
    enough for every mouse move of a window/level drag when ``preview=True``.
    """

    def __init__(self, radiograph: Radiograph) -> None:
        pixels = radiograph.pixels
        self.height, self.width = int(pixels.shape[0]), int(pixels.shape[1])
        self.photometric_inverted = radiograph.inverted
        finite_min, finite_max = float(np.min(pixels)), float(np.max(pixels))
        self.value_min, self.value_max = finite_min, finite_max
        span = finite_max - finite_min
        integral = span < MAX_BINS and bool(np.all(np.equal(np.mod(pixels[::7, ::7], 1.0), 0.0)))
        if integral:
            # Integer data (every real radiograph): one bin per value, so the LUT is exact.
            self._bins = int(span) + 1
            self._index = (pixels - finite_min).astype(np.uint16)
            self._bin_values = finite_min + np.arange(self._bins, dtype=np.float32)
            if not np.array_equal(self._bin_values[self._index[::7, ::7]], pixels[::7, ::7]):
                integral = False
        if not integral:
            self._bins = MAX_BINS
            scale = (MAX_BINS - 1) / span if span > 0 else 0.0
            self._index = np.rint((pixels - finite_min) * scale).astype(np.uint16)
            step = span / (MAX_BINS - 1) if span > 0 else 0.0
            self._bin_values = (finite_min + np.arange(MAX_BINS, dtype=np.float64) * step).astype(np.float32)
        self.integer_values = integral  # every value a whole number: read-outs show whole units
        self._levels = _index_levels(self._index)
        self.default_window = default_window(radiograph)
        self.percentiles = density_percentiles(radiograph)

    def lut(self, window: Window, invert: bool = False) -> np.ndarray:
        """The uint8 table for ``window``: white = dense, flipped again when ``invert``."""
        unit = window_to_unit(self._bin_values, window)
        if self.photometric_inverted != invert:
            unit = 1.0 - unit
        return np.rint(unit * 255.0).astype(np.uint8)

    def render(self, window: Window, invert: bool = False, *, preview: bool = False) -> list[GreyFrame]:
        """Every level (full resolution first), or only the small preview level."""
        table = self.lut(window, invert)
        levels = self._levels[-1:] if preview else self._levels
        frames = []
        for index, scale in levels:
            grey = np.take(table, index)
            frames.append(GreyFrame(grey, grey_qimage(grey), scale))
        return frames

    def unit_grey(self, window: Window, invert: bool = False) -> np.ndarray:
        """Full-resolution uint8 grey (for export and tests)."""
        return np.take(self.lut(window, invert), self._levels[0][0])


def _index_levels(index: np.ndarray) -> list[tuple[np.ndarray, float]]:
    """Full-size index, then halvings down to the preview size.

    Halving the *index* by area averaging is exact for a linear window inside its range and
    close enough at its ends for an on-screen level that is smaller than the screen anyway.
    """
    levels = [(index, 1.0)]
    current, scale = index, 1.0
    while max(current.shape) > PREVIEW_MAX_SIDE:
        h, w = current.shape
        current = cv2.resize(current, (max(1, w // 2), max(1, h // 2)), interpolation=cv2.INTER_AREA)
        scale /= 2.0
        levels.append((np.ascontiguousarray(current), scale))
    return levels
