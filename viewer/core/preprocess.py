"""Display transforms and THE preprocessing function shared by the viewer and the trainer.

``to_unit_grey`` turns a radiograph into float32 grey in [0, 1], white = dense: the VOI LUT or
window (the header's first, or a robust percentile range that leaves pixel padding out), then
MONOCHROME1 inversion; raster images are divided by 255 (8 bit) or scaled by the range their
pixels use (16 bit). ``preprocess`` adds the one area resize to the model's input size. A model
never sees pixels prepared differently in training and in use, because both call ``preprocess``.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
from pydicom.pixels import apply_voi

from .errors import ImageLoadError
from .loader import load_radiograph
from .radiograph import Radiograph, Window

AUTO_PERCENTILES = (0.5, 99.5)


def window_to_unit(values: np.ndarray, window: Window) -> np.ndarray:
    """Apply a VOI window (DICOM PS3.3 C.11.2.1.2/3) to modality values, giving [0, 1].

    Same formulas as ``pydicom.pixels.apply_windowing`` (the tests use it as the oracle), but
    straight to [0, 1] in float32, which is what both the display and the model need.
    """
    values = np.asarray(values, dtype=np.float32)
    center, width = float(window.center), float(window.width)
    function = window.function.upper()
    if function == "SIGMOID":
        if width <= 0:
            raise ValueError("a SIGMOID window needs a width > 0")
        out = 1.0 / (1.0 + np.exp(-4.0 * (values - center) / width, dtype=np.float32))
        return out.astype(np.float32, copy=False)
    if function == "LINEAR_EXACT":
        if width <= 0:
            raise ValueError("a LINEAR_EXACT window needs a width > 0")
        low, span = center - width / 2, width
    else:  # LINEAR (the default, also for unknown function names)
        if width < 1:
            raise ValueError("a LINEAR window needs a width >= 1")
        low, span = center - 0.5 - (width - 1) / 2, width - 1
    if span == 0:  # LINEAR with width 1: a hard threshold
        return (values > center - 0.5).astype(np.float32)
    out = (values - np.float32(low)) * np.float32(1.0 / span)
    return np.clip(out, 0.0, 1.0, out=out)


def auto_window(radiograph: Radiograph) -> Window:
    """A robust window for images without one: the 0.5-99.5 percentile range, padding excluded."""
    values = radiograph.pixels
    if radiograph.padding_mask is not None:
        values = values[~radiograph.padding_mask]
    if values.size == 0:
        values = radiograph.pixels
    # Subsample large images: the percentiles of a quarter of a million pixels are as good.
    flat = values.reshape(-1)
    step = max(1, flat.size // 250_000)
    low, high = np.percentile(flat[::step], AUTO_PERCENTILES)
    if not high > low:  # a constant image: any window shows it as one grey level
        low, high = float(flat.min()), float(flat.min()) + 1.0
    return Window(center=(low + high) / 2, width=high - low, name="Auto", function="LINEAR_EXACT")


def default_window(radiograph: Radiograph) -> Window:
    """The window a DICOM image opens with: the header's first, else the automatic one.

    For raster images this is the identity mapping the design prescribes (/255 for 8 bit, the
    used range for 16 bit), so a user adjusting window/level starts from what the model sees.
    """
    if radiograph.windows:
        return radiograph.windows[0]
    if not radiograph.is_dicom and radiograph.bits_stored == 8:
        return Window(center=127.5, width=255.0, name="Full range", function="LINEAR_EXACT")
    if not radiograph.is_dicom:
        low, high = float(radiograph.pixels.min()), float(radiograph.pixels.max())
        if not high > low:
            high = low + 1.0
        return Window(center=(low + high) / 2, width=high - low, name="Used range", function="LINEAR_EXACT")
    return auto_window(radiograph)


def to_unit_grey(
    radiograph: Radiograph, window: Window | None = None, *, apply_photometric: bool = True
) -> np.ndarray:
    """Full-resolution float32 grey in [0, 1], white = dense.

    ``window`` overrides the default (header VOI LUT, first window, or automatic).
    ``apply_photometric=False`` skips the MONOCHROME1 inversion.
    """
    if window is None and radiograph.has_voi_lut and not radiograph.windows:
        grey = _apply_voi_lut_sequence(radiograph)
    else:
        grey = window_to_unit(radiograph.pixels, window or default_window(radiograph))
    if apply_photometric and radiograph.inverted:
        grey = 1.0 - grey
    return grey


def _apply_voi_lut_sequence(radiograph: Radiograph) -> np.ndarray:
    ds = radiograph.header
    out = apply_voi(radiograph.pixels, ds, index=0).astype(np.float32)
    descriptor = ds.VOILUTSequence[0].LUTDescriptor
    bits = int(descriptor[2]) if len(descriptor) > 2 and int(descriptor[2]) > 0 else 16
    top = max(float(2**bits - 1), float(out.max()) if out.size else 1.0)
    return np.clip(out / top, 0.0, 1.0)


def resize_to_input(grey: np.ndarray, height: int, width: int) -> np.ndarray:
    """The one resize to the model's input: area interpolation, no padding (as NIH made theirs)."""
    if grey.shape == (height, width):
        return np.ascontiguousarray(grey, dtype=np.float32)
    interpolation = cv2.INTER_AREA if grey.shape[0] >= height and grey.shape[1] >= width else cv2.INTER_LINEAR
    return cv2.resize(grey.astype(np.float32, copy=False), (width, height), interpolation=interpolation)


def preprocess(
    source: Radiograph | str | os.PathLike[str], height: int, width: int, window: Window | None = None
) -> np.ndarray:
    """THE preprocessing function: any source image -> float32 [height, width] grey in [0, 1].

    ``source`` is a loaded ``Radiograph`` or a path (loaded with ``load_radiograph``).
    Raises ``ImageLoadError`` when the file cannot be read.
    """
    radiograph = source if isinstance(source, Radiograph) else load_radiograph(Path(os.fspath(source)))
    try:
        grey = to_unit_grey(radiograph, window)
    except ValueError as exc:
        raise ImageLoadError(radiograph.path, f"cannot be windowed ({exc})") from None
    return resize_to_input(grey, height, width)


def to_model_batch(images: list[np.ndarray]) -> np.ndarray:
    """Stack prepared [H, W] images into the classifier's [N, 1, H, W] float32 input."""
    return np.ascontiguousarray(np.stack(images)[:, None, :, :], dtype=np.float32)
