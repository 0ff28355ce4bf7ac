"""Small, real ONNX model pairs for tests, built with onnx.helper (no torch needed).

The classifier is image -> 8x8 average pool -> 1x1 conv -> ReLU (= features) -> global average
pool -> linear -> sigmoid; the sidecar is Grad-CAM of that head computed exactly, as the
trainer exports it: ReLU(sum_k W[c,k] / (h*w) * A^k), a 1x1 convolution and a ReLU.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from viewer.core.model_card import ModelCard

NIH_LABELS = (
    "Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule", "Pneumonia",
    "Pneumothorax", "Consolidation", "Edema", "Emphysema", "Fibrosis", "Pleural_Thickening", "Hernia",
)


def card_dict(model_id: str, labels=NIH_LABELS, size: int = 64, **overrides: Any) -> dict[str, Any]:
    """A complete, valid model card as a dict; ``overrides`` replace top-level fields."""
    card = {
        "schema_version": 1,
        "model_id": model_id,
        "name": "tiny-test-model",
        "arch": "tiny-cnn",
        "labels": list(labels),
        "input": {"height": size, "width": size, "channels": 1, "value_range": [0.0, 1.0]},
        "normalization": {"mean": [0.5], "std": [0.25], "note": "inside the graph"},
        "thresholds": {"rule": "fixed 0.5 (test model)", "values": {x: 0.5 for x in labels}},
        "calibration": {"method": "none"},
        "metrics": {"auroc": {x: None for x in labels}},
        "training": {"data": "none (random weights)", "epochs": 0, "seed": 0,
                     "trainer_version": "test", "git_commit": "none", "date": "2026-11-22"},
        "ood": {"method": "none", "statistics": {}, "threshold": 1e9},
    }
    card.update(overrides)
    return card


def make_model_pair(
    folder: Path,
    name: str = "tiny",
    labels=NIH_LABELS,
    size: int = 64,
    channels: int = 8,
    seed: int = 0,
    card_overrides: dict[str, Any] | None = None,
    sidecar_model_id: str | None = None,
) -> Path:
    """Write NAME.onnx and NAME.gradcam.onnx into ``folder``; return the classifier's path."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from viewer.core.onnx_card import set_card

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    n_labels = len(labels)
    conv_w = rng.normal(0, 1, (channels, 1, 1, 1)).astype(np.float32)
    conv_b = rng.normal(0, 0.5, (channels,)).astype(np.float32)
    fc_w = rng.normal(0, 1, (n_labels, channels)).astype(np.float32)
    fc_b = rng.normal(0, 0.1, (n_labels,)).astype(np.float32)
    model_id = hashlib.sha256(b"".join(a.tobytes() for a in (conv_w, conv_b, fc_w, fc_b))).hexdigest()
    h = w = size // 8

    classifier = helper.make_model(
        helper.make_graph(
            [
                helper.make_node("AveragePool", ["image"], ["pooled"], kernel_shape=[8, 8], strides=[8, 8]),
                helper.make_node("Conv", ["pooled", "conv_w", "conv_b"], ["pre"]),
                helper.make_node("Relu", ["pre"], ["features"]),
                helper.make_node("GlobalAveragePool", ["features"], ["gap"]),
                helper.make_node("Flatten", ["gap"], ["flat"]),
                helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["logits"], transB=1),
                helper.make_node("Sigmoid", ["logits"], ["probabilities"]),
            ],
            "tiny_classifier",
            [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 1, size, size])],
            [
                helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", n_labels]),
                helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", channels, h, w]),
            ],
            [numpy_helper.from_array(a, n) for a, n in
             ((conv_w, "conv_w"), (conv_b, "conv_b"), (fc_w, "fc_w"), (fc_b, "fc_b"))],
        ),
        opset_imports=[helper.make_opsetid("", 17)],
    )
    cam_w = (fc_w / (h * w)).reshape(n_labels, channels, 1, 1).astype(np.float32)
    sidecar = helper.make_model(
        helper.make_graph(
            [
                helper.make_node("Conv", ["features", "cam_w"], ["weighted"]),
                helper.make_node("Relu", ["weighted"], ["heatmaps"]),
            ],
            "tiny_gradcam",
            [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", channels, h, w])],
            [helper.make_tensor_value_info("heatmaps", TensorProto.FLOAT, ["N", n_labels, h, w])],
            [numpy_helper.from_array(cam_w, "cam_w")],
        ),
        opset_imports=[helper.make_opsetid("", 17)],
    )
    for model in (classifier, sidecar):
        model.ir_version = 8
        onnx.checker.check_model(model)

    card = ModelCard.from_dict(card_dict(model_id, labels, size, **(card_overrides or {})))
    set_card(classifier, card)
    if sidecar_model_id is not None:
        card = ModelCard.from_dict(card_dict(sidecar_model_id, labels, size, **(card_overrides or {})))
    set_card(sidecar, card)
    path = folder / f"{name}.onnx"
    onnx.save(classifier, str(path))
    onnx.save(sidecar, str(folder / f"{name}.gradcam.onnx"))
    return path
