"""The CXR trainer: NIH ChestX-ray14 -> DenseNet121 classifier + Grad-CAM sidecar (ONNX)."""

import os

# As in the viewer: keep ONNX Runtime from writing telemetry state (export checks import it).
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

__version__ = "0.1.0"
