"""Training augmentation: one random affine warp (crop, scale, rotation, flip) plus grey jitter.

The cache holds each image a little larger than the model input; a random crop of it is warped
to the input size in ONE interpolation (crop, resize, rotation and flip composed into a single
matrix), so augmentation costs about one resize per image. Validation and test images are never
augmented: they are ``preprocess`` at exactly the input size, as the viewer prepares them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class AugmentConfig:
    """How strong the augmentation is; ``AugmentConfig.none()`` gives a plain resize."""

    crop_scale: float = 0.7  # smallest crop area, as a fraction of the cached image
    aspect: tuple[float, float] = (3 / 4, 4 / 3)
    rotate: float = 7.0  # degrees
    hflip: float = 0.5
    jitter: float = 0.1

    @classmethod
    def none(cls) -> AugmentConfig:
        return cls(crop_scale=1.0, aspect=(1.0, 1.0), rotate=0.0, hflip=0.0, jitter=0.0)


def random_affine(rng: np.random.Generator, source: int, output: int, config: AugmentConfig) -> np.ndarray:
    """A 2x3 matrix mapping OUTPUT pixel coordinates to SOURCE coordinates (inverse map)."""
    area = rng.uniform(config.crop_scale, 1.0) * source * source
    log_low, log_high = math.log(config.aspect[0]), math.log(config.aspect[1])
    ratio = math.exp(rng.uniform(log_low, log_high)) if log_high > log_low else 1.0
    crop_w = min(source, math.sqrt(area * ratio))
    crop_h = min(source, math.sqrt(area / ratio))
    # the crop's centre, anywhere that keeps the (unrotated) crop inside the image
    cx = rng.uniform(crop_w / 2, source - crop_w / 2)
    cy = rng.uniform(crop_h / 2, source - crop_h / 2)
    angle = math.radians(rng.uniform(-config.rotate, config.rotate)) if config.rotate else 0.0
    flip = config.hflip > 0 and rng.random() < config.hflip

    # output pixel centre (u, v) -> offset from the output centre, scaled to the crop, rotated,
    # moved to the crop centre. Pixel centres sit at integer + 0.5 in continuous coordinates.
    sx, sy = crop_w / output, crop_h / output
    if flip:
        sx = -sx
    cos, sin = math.cos(angle), math.sin(angle)
    linear = np.array([[cos * sx, -sin * sy], [sin * sx, cos * sy]])
    centre_out = np.array([output / 2, output / 2])
    centre_src = np.array([cx, cy])
    # continuous: src = L (out + 0.5 - c_out) + c_src; cv2 uses pixel indices, hence the 0.5s
    offset = centre_src - linear @ (centre_out - 0.5) - 0.5
    return np.hstack([linear, offset[:, None]])


def augment(image: np.ndarray, output: int, rng: np.random.Generator, config: AugmentConfig) -> np.ndarray:
    """A randomly warped and jittered ``output`` x ``output`` float32 copy of a square ``image``.

    ``image`` is uint8 (0..255) or float in [0, 1]; the result is float32 in [0, 1].
    """
    source = np.asarray(image)
    if source.dtype == np.uint8:
        source = source.astype(np.float32) * np.float32(1 / 255)
    else:
        source = source.astype(np.float32, copy=False)
    matrix = random_affine(rng, source.shape[0], output, config)
    warped = cv2.warpAffine(
        source, matrix, (output, output),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE,
    )
    if config.jitter > 0:
        contrast = np.float32(1.0 + rng.uniform(-config.jitter, config.jitter))
        brightness = np.float32(rng.uniform(-config.jitter, config.jitter) / 2)
        warped = (warped - np.float32(0.5)) * contrast + np.float32(0.5) + brightness
        # the model contract is [0, 1]: jitter must not leave it
        np.clip(warped, 0.0, 1.0, out=warped)
    return warped


def resize_square(image: np.ndarray, output: int) -> np.ndarray:
    """Plain area resize of a cached image to the input size (no augmentation), float32 in [0, 1]."""
    source = np.asarray(image)
    scale = np.float32(1 / 255) if source.dtype == np.uint8 else np.float32(1)
    source = source.astype(np.float32) * scale
    if source.shape == (output, output):
        return source
    return cv2.resize(source, (output, output), interpolation=cv2.INTER_AREA)
