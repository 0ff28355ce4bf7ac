"""Colour images become greyscale, with a note saying so (the preprocessing contract)."""

from __future__ import annotations

import cv2
import numpy as np


def colour_to_grey(image: np.ndarray, notes: list[str], what: str, order: str = "RGB") -> np.ndarray:
    """BT.601 luma of an RGB(A) image (``order`` "BGR" for OpenCV's); equal channels are grey already."""
    if image.dtype not in (np.uint8, np.uint16, np.float32):
        image = image.astype(np.float32)
    if np.array_equal(image[..., 0], image[..., 1]) and np.array_equal(image[..., 0], image[..., 2]):
        notes.append(f"{what} with identical channels read as greyscale")
        return np.ascontiguousarray(image[..., 0])
    notes.append(f"{what} converted to greyscale")
    rgb = order == "RGB"
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_RGBA2GRAY if rgb else cv2.COLOR_BGRA2GRAY)
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY if rgb else cv2.COLOR_BGR2GRAY)
