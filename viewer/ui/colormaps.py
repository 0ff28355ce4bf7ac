"""Colormaps for heatmap overlays, as premultiplied RGBA lookup tables (no matplotlib needed)."""

from __future__ import annotations

import numpy as np

# Below this normalised activation a pixel is fully transparent; above ALPHA_FULL fully
# coloured. Without the ramp a heatmap paints over the whole radiograph, including the
# anatomy that the model did not use.
ALPHA_START = 0.3
ALPHA_FULL = 0.7

# Colormap anchors (position, R, G, B); sampled from the published definitions.
_ANCHORS: dict[str, list[tuple[float, int, int, int]]] = {
    "Jet": [(0.0, 0, 0, 131), (0.125, 0, 0, 255), (0.375, 0, 255, 255), (0.625, 255, 255, 0),
            (0.875, 255, 0, 0), (1.0, 128, 0, 0)],
    "Inferno": [(0.0, 0, 0, 4), (0.125, 31, 12, 72), (0.25, 85, 15, 109), (0.375, 136, 34, 106),
                (0.5, 186, 54, 85), (0.625, 227, 89, 51), (0.75, 249, 140, 10),
                (0.875, 249, 201, 50), (1.0, 252, 255, 164)],
    "Viridis": [(0.0, 68, 1, 84), (0.125, 71, 44, 122), (0.25, 59, 81, 139), (0.375, 44, 113, 142),
                (0.5, 33, 144, 141), (0.625, 39, 173, 129), (0.75, 92, 200, 99),
                (0.875, 170, 220, 50), (1.0, 253, 231, 37)],
    "Hot": [(0.0, 11, 0, 0), (0.365, 255, 0, 0), (0.746, 255, 255, 0), (1.0, 255, 255, 255)],
}
COLORMAPS: tuple[str, ...] = tuple(_ANCHORS)
DEFAULT_COLORMAP = "Jet"


def colormap_table(name: str) -> np.ndarray:
    """[256, 4] uint8 premultiplied RGBA: colour from the colormap, alpha from the ramp."""
    anchors = _ANCHORS[name]
    positions = np.array([a[0] for a in anchors])
    x = np.linspace(0.0, 1.0, 256)
    rgb = np.stack([np.interp(x, positions, [a[c] for a in anchors]) for c in (1, 2, 3)], axis=1)
    alpha = np.clip((x - ALPHA_START) / (ALPHA_FULL - ALPHA_START), 0.0, 1.0)
    table = np.empty((256, 4), np.uint8)
    table[:, :3] = np.rint(rgb * alpha[:, None])
    table[:, 3] = np.rint(alpha * 255)
    return table
