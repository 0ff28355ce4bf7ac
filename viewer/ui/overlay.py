"""Heatmap overlays as ready-to-draw images, one per label, each made once per inference.

All maps come from one inference pass; here each is upsampled once to a display grid (at most
``OVERLAY_MAX_SIDE`` pixels, same aspect as the image: the painter scales it smoothly onto the
image) and normalised with the core's one heatmap function. Switching the shown finding then
swaps a QImage; changing the colormap recolours the small uint8 maps; opacity is applied by the
painter. Nothing is recomputed on a click.

A map is made when it is first asked for, and kept: the worker makes the one the image opens
on before its findings go to the screen, then the others (``make_all``) while the user looks,
so the findings are not held back by thirteen maps nobody has asked for yet (normalising a
512 x 512 map takes a few milliseconds, fourteen of them most of the time to the findings).
Whichever thread asks first makes a map, under the set's lock.
"""

from __future__ import annotations

import threading

import numpy as np
from PySide6.QtGui import QImage

from viewer.core import heatmap as core_heatmap

from .colormaps import DEFAULT_COLORMAP, colormap_table
from .display import rgba_qimage

OVERLAY_MAX_SIDE = 512


def overlay_grid(height: int, width: int) -> tuple[int, int]:
    """The display grid of an overlay for an image of ``height`` x ``width`` pixels."""
    scale = min(1.0, OVERLAY_MAX_SIDE / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


class HeatmapSet:
    """Normalised uint8 maps for every label of one image, and their coloured images, each
    made on first use from the raw Grad-CAM maps."""

    def __init__(self, labels: tuple[str, ...], heatmaps: np.ndarray, grid: tuple[int, int],
                 colormap: str = DEFAULT_COLORMAP) -> None:
        self.labels = labels
        self.grid = grid
        self.colormap = colormap
        self._raw = heatmaps  # [L, h, w] float32, read-only
        self._table = colormap_table(colormap)
        self._lock = threading.Lock()
        self._maps: dict[str, np.ndarray] = {}  # label -> [gh, gw] uint8 (core normalisation)
        self._rgba: dict[str, np.ndarray] = {}  # keeps the buffer of each QImage alive
        self._images: dict[str, QImage] = {}
        self._empty = [not _varies(core_heatmap.upsample(m, *grid)) for m in heatmaps]

    @classmethod
    def from_gradcam(
        cls, labels: tuple[str, ...] | list[str], heatmaps: np.ndarray, image_height: int,
        image_width: int, colormap: str = DEFAULT_COLORMAP, *, first: str | None = None,
    ) -> HeatmapSet:
        """The overlays of raw Grad-CAM maps [L, h, w] (runs in a worker); ``first``'s is made
        now, the others when asked for. Raises ``ValueError`` for maps that are not finite."""
        raw = np.asarray(heatmaps, np.float32)
        if not np.isfinite(raw).all():
            raise ValueError("the heatmap has non-finite values (NaN or infinity)")
        result = cls(tuple(labels), raw, overlay_grid(image_height, image_width), colormap)
        if first is not None:
            result.image(first)
        return result

    @property
    def maps(self) -> np.ndarray:
        """Every normalised map, [L, gh, gw] uint8 (all made)."""
        return np.stack([self._map(label) for label in self.labels]) if self.labels else np.zeros((0, *self.grid),
                                                                                                 np.uint8)

    def make_all(self) -> None:
        """Make every overlay not made yet (a worker, after the findings went out)."""
        for label in self.labels:
            self.image(label)

    def recolour(self, colormap: str) -> None:
        """Colour every map made so far with ``colormap`` (the others take it when made)."""
        with self._lock:
            self.colormap = colormap
            self._table = colormap_table(colormap)
            self._rgba.clear()
            self._images.clear()
            for label in list(self._maps):
                self._colour(label)

    def image(self, label: str) -> QImage | None:
        made = self._images.get(label)  # made already: no lock (a worker may be making another)
        if made is not None or label not in self.labels:
            return made
        with self._lock:
            if label not in self._images:
                self._map_locked(label)
                self._colour(label)
            return self._images[label]

    def is_empty(self, label: str) -> bool:
        """True when the map has nothing to show (all zero after Grad-CAM's ReLU, or flat)."""
        return label not in self.labels or self._empty[self.labels.index(label)]

    def normalised(self, label: str) -> np.ndarray | None:
        """The uint8 map of ``label`` on the display grid (for tests and agreement display)."""
        if label not in self.labels:
            return None
        return self._map(label)

    def _map(self, label: str) -> np.ndarray:
        with self._lock:
            return self._map_locked(label)

    def _map_locked(self, label: str) -> np.ndarray:
        grey = self._maps.get(label)
        if grey is None:
            up = core_heatmap.upsample(self._raw[self.labels.index(label)], *self.grid)
            grey = self._maps[label] = core_heatmap.normalize_to_uint8(up)
        return grey

    def _colour(self, label: str) -> None:
        # a 256-entry table of whole RGBA pixels: one lookup a pixel instead of four
        rgba = self._table.view(np.uint32).ravel()[self._maps[label]].view(np.uint8).reshape(*self.grid, 4)
        self._rgba[label] = rgba
        self._images[label] = rgba_qimage(rgba)


def _varies(values: np.ndarray) -> bool:
    """The normalised map has something to draw: its values are not all the same."""
    return bool(values.size) and bool(values.max() > values.min())
