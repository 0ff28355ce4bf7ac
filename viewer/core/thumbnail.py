"""The browser's small picture of an image: its default window, letterboxed into a square.

Plain numpy and OpenCV, so the folder analysis can make it wherever it decodes the image (in a
worker process as well as in the window's own).
"""

from __future__ import annotations

import cv2
import numpy as np

from .display_transforms import to_unit_grey
from .radiograph import Radiograph

THUMBNAIL_SIZE = 64


def make_thumbnail(radiograph: Radiograph, size: int = THUMBNAIL_SIZE) -> np.ndarray:
    """A small uint8 picture of the image with its default window (aspect kept, letterboxed)."""
    h, w = radiograph.height, radiograph.width
    step = max(1, min(h, w) // (size * 4))  # decimate first: windowing 4 MP for 64 px is waste
    small = Radiograph(**{**radiograph.__dict__, "pixels": radiograph.pixels[::step, ::step],
                          "padding_mask": None})
    grey = to_unit_grey(small)
    scale = size / max(grey.shape)
    tw, th = max(1, round(grey.shape[1] * scale)), max(1, round(grey.shape[0] * scale))
    resized = cv2.resize(grey, (tw, th), interpolation=cv2.INTER_AREA)
    canvas = np.zeros((size, size), np.uint8)
    y0, x0 = (size - th) // 2, (size - tw) // 2
    canvas[y0:y0 + th, x0:x0 + tw] = np.rint(resized * 255).astype(np.uint8)
    return canvas
