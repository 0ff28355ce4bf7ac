"""CXR Viewer: a desktop chest X-ray viewer with local ONNX findings and Grad-CAM heatmaps."""

__version__ = "0.1.0"
