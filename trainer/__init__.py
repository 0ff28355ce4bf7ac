"""The CXR trainer: NIH ChestX-ray14 -> DenseNet121 classifier + Grad-CAM sidecar (ONNX).

A package per stage, each importing only those below it: ``data`` (labels, split, pixels),
``models``, ``training``, ``evaluation``, ``export``, ``report``, and ``pipeline`` (the run's
steps) under ``cli`` (``cxr-train``); docs/ARCHITECTURE.md maps the modules.
"""

import os

# As in the viewer: keep ONNX Runtime from writing telemetry state (export checks import it).
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

__version__ = "0.1.0"
