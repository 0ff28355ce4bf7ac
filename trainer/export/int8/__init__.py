"""Int8 in one place: an int8 copy of an exported pair for the CPU, and the exporter's variant.

``quantize`` makes the copy (ONNX Runtime's static QDQ quantiser, calibrated on images prepared
by ``viewer.core.preprocess``): ``cxr-train quantize`` (also ``python -m trainer.quantize``)
and ``bench/quantized.py`` call it. ``variant`` is ``--int8`` of ``cxr-train train`` and
``export``: the copy calibrated on the run's training images, measured beside the fp32 pair on
its test split, and kept only if its mean AUROC is at most 0.005 lower.
"""

# Here rather than in quantize.py so that the command line's default needs no ONNX import.
DEFAULT_IMAGES = 64  # calibration images: enough for stable min/max of every activation
