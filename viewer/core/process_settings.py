"""Process-wide settings, applied by the entry points (``cxr-viewer``, ``cxr-train``, the bench).

Library code never changes global state when it is imported: an application that imports
``viewer.core`` keeps its own pydicom and OpenCV settings. The programs of this project call
``configure_process()`` first thing, before anything reads an image.
"""

from __future__ import annotations

import os

from .errors import CxrError

THREADS_VARIABLE = "CXR_THREADS"
# OpenCV reads this limit once, when the library loads: it is a second line of defence behind
# the loader's own header checks (loader.guards.MAX_PIXELS), which do not depend on it.
_OPENCV_PIXEL_LIMIT = str(100_000_000)


class SettingsError(CxrError):
    """An environment variable of this project has a value it cannot use."""


def configure_process() -> None:
    """Apply the settings every program of this project runs with. Safe to call twice.

    - pydicom's read-time validation off: it warns (to stderr and the log) about every
      non-conformant header value and quotes it, so a birth date written 1938-02-17 would be
      printed; nothing identifying may reach a log line. Header values are shown as they are.
    - OpenCV's own pixel limit, when OpenCV is not loaded yet.
    - ONNX Runtime's telemetry off (it writes state under ~/.cache/Microsoft otherwise).
    """
    import pydicom.config

    pydicom.config.settings.reading_validation_mode = pydicom.config.IGNORE
    os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", _OPENCV_PIXEL_LIMIT)
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")


def threads_from_environment() -> int | None:
    """``CXR_THREADS``: how many threads ONNX Runtime may use for the model; None when unset
    (ONNX Runtime then uses every core). Raises ``SettingsError`` for a value that is not a
    positive whole number, naming the variable."""
    text = os.environ.get(THREADS_VARIABLE, "").strip()
    if not text:
        return None
    try:
        threads = int(text)
    except ValueError:
        threads = 0
    if threads < 1:
        raise SettingsError(f"{THREADS_VARIABLE}={text[:40]!r} is not a positive whole number of threads")
    return threads
