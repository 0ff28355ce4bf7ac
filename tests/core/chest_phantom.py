"""Generated frontal-chest-like images for tests that must run without ../shared/data.

Not a realistic radiograph: a torso with shoulders, two dark lung fields crossed by ribs, a bright
spine and mediastinum with the heart to the image's right, and the diaphragm below, with
random position, size, contrast, blur and noise. Enough structure for the OOD check to learn
"this layout, this way up" and for tests to tell it apart from rotated copies and real non-chest
images.
"""

from __future__ import annotations

import cv2
import numpy as np


def chest_phantom(rng: np.random.Generator, size: int = 128) -> np.ndarray:
    """One phantom, float32 [size, size] in [0, 1], white = dense."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    dx, dy = rng.normal(0, 0.02, 2)
    scale = rng.uniform(0.9, 1.08)
    x = (x - 0.5 - dx) / scale + 0.5
    y = (y - 0.5 - dy) / scale + 0.5

    image = np.full((size, size), 0.05, np.float32)
    shoulders = 0.12 + 0.25 * (2 * (x - 0.5)) ** 2  # the top edge of the torso
    torso = (np.abs(x - 0.5) < 0.44) & (y > shoulders)
    image[torso] = 0.55
    lung_y = rng.uniform(0.40, 0.46)
    lungs = np.zeros((size, size), bool)
    for side in (-1, 1):
        cx = 0.5 + side * rng.uniform(0.18, 0.22)
        lungs |= ((x - cx) / rng.uniform(0.12, 0.15)) ** 2 + ((y - lung_y) / rng.uniform(0.26, 0.3)) ** 2 < 1
    lungs &= torso
    image[lungs] = 0.2
    ribs = np.sin((y + 0.2 * np.abs(x - 0.5)) * np.pi * rng.uniform(26, 30)) > 0.6  # arcs, lower laterally
    image[ribs & lungs] += 0.15
    image[(np.abs(x - 0.5) < 0.04) & torso] = 0.8  # spine
    image[((x - 0.56) / 0.12) ** 2 + ((y - 0.58) / 0.14) ** 2 < 1] = 0.75  # heart, to the image's right
    image[(y > 0.72 + 0.06 * np.cos((x - 0.5) * 6)) & torso] = 0.7  # diaphragm and abdomen

    image = cv2.GaussianBlur(image, (0, 0), size / 120)
    image = image * rng.uniform(0.7, 1.2) + rng.uniform(-0.05, 0.1)
    image += rng.normal(0, 0.02, image.shape).astype(np.float32)
    return np.clip(image, 0.0, 1.0).astype(np.float32)


def chest_phantoms(count: int, seed: int = 0, size: int = 128) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [chest_phantom(rng, size) for _ in range(count)]
