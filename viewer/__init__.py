"""CXR Viewer: a desktop chest X-ray viewer with local ONNX findings and Grad-CAM heatmaps."""

import os

# ONNX Runtime writes a device id and a telemetry queue under ~/.cache/Microsoft when it is
# imported, unless this is set first. Nothing about a user's machine or images leaves it.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

__version__ = "0.1.0"
