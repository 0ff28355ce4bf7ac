"""Heatmap overlays as ready-to-draw images, one per label, made once per inference.

All maps come from one inference pass; here each is upsampled once to a display grid (at most
``OVERLAY_MAX_SIDE`` pixels, same aspect as the image: the painter scales it smoothly onto the
image) and normalised with the core's one heatmap function. Switching the shown finding then
swaps a QImage; changing the colormap recolours the small uint8 maps; opacity is applied by the
painter. Nothing is recomputed on a click.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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


@dataclass
class HeatmapSet:
    """Normalised uint8 maps for every label of one image, and their coloured images."""

    labels: tuple[str, ...]
    maps: np.ndarray  # [L, gh, gw] uint8, 0..255 (core normalisation)
    colormap: str = DEFAULT_COLORMAP
    _rgba: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    _images: dict[str, QImage] = field(default_factory=dict, repr=False)

    @classmethod
    def from_gradcam(
        cls, labels: tuple[str, ...] | list[str], heatmaps: np.ndarray, image_height: int,
        image_width: int, colormap: str = DEFAULT_COLORMAP,
    ) -> HeatmapSet:
        """Upsample and normalise raw Grad-CAM maps [L, h, w] (runs in a worker)."""
        gh, gw = overlay_grid(image_height, image_width)
        maps = np.empty((len(labels), gh, gw), np.uint8)
        for i in range(len(labels)):
            up = core_heatmap.upsample(heatmaps[i], gh, gw)
            maps[i] = core_heatmap.normalize_to_uint8(up)
        result = cls(tuple(labels), maps, colormap)
        result.recolour(colormap)
        return result

    def recolour(self, colormap: str) -> None:
        """Colour every map with ``colormap`` (a few milliseconds for 14 maps)."""
        table = colormap_table(colormap)
        self.colormap = colormap
        self._rgba.clear()
        self._images.clear()
        for label, grey in zip(self.labels, self.maps):
            rgba = np.ascontiguousarray(table[grey])
            self._rgba[label] = rgba  # keeps the buffer of the QImage alive
            self._images[label] = rgba_qimage(rgba)

    def image(self, label: str) -> QImage | None:
        return self._images.get(label)

    def is_empty(self, label: str) -> bool:
        """True when the map has nothing to show (all zero after Grad-CAM's ReLU, or flat)."""
        grey = self.normalised(label)
        return grey is None or not grey.any()

    def normalised(self, label: str) -> np.ndarray | None:
        """The uint8 map of ``label`` on the display grid (for tests and agreement display)."""
        if label not in self.labels:
            return None
        return self.maps[self.labels.index(label)]
