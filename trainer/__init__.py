"""The CXR trainer: NIH ChestX-ray14 -> DenseNet121 classifier + Grad-CAM sidecar (ONNX)."""

__version__ = "0.1.0"
