"""What the two exported files compute, as a torch module and an ONNX graph.

* ``NAME.onnx``: ``image`` [N,1,H,W] in [0,1] -> ``probabilities`` [N,L] (calibration inside)
  and ``features`` [N,C,h,w] (the Grad-CAM layer, post-ReLU): ``ExportClassifier``, exported by
  ``torch.onnx.export`` (``classifier_proto``).
* ``NAME.gradcam.onnx``: ``features`` -> ``heatmaps`` [N,L,h,w] = ReLU(conv1x1(features, V))
  with ``V[c,k] = scale_c * W[c,k] / (h*w)``. Because the head is GAP + one linear layer (and the
  calibration a positive per-label scale), ``V[c,k]`` is exactly Grad-CAM's alpha_k^c, the
  spatial mean of d(calibrated logit_c)/dA^k; the sidecar is built with ``onnx.helper``
  (``sidecar_proto``).

``model_id_of`` is the card's ``model_id``: a hash of the classifier's weights alone.
"""

from __future__ import annotations

import hashlib

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from viewer.core.errors import one_line

from .. import __version__
from ..errors import TrainerError
from ..evaluation.calibrate import Calibration
from ..models.network import CxrNet

OPSET = 18


class ExportClassifier(nn.Module):
    """What ``NAME.onnx`` computes: calibrated probabilities and the Grad-CAM features."""

    # buffers (``register_buffer``), declared so that they type as tensors
    calibration_scale: torch.Tensor
    calibration_bias: torch.Tensor

    def __init__(self, net: CxrNet, calibration: Calibration) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("calibration_scale", torch.from_numpy(calibration.scale.astype(np.float32)))
        self.register_buffer("calibration_bias", torch.from_numpy(calibration.bias.astype(np.float32)))

    def calibrated_logits(self, features: torch.Tensor) -> torch.Tensor:
        return self.net.head(features) * self.calibration_scale + self.calibration_bias

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.net.feature_maps(image)
        return torch.sigmoid(self.calibrated_logits(features)), features


class CalibratedLogits(nn.Module):
    """The classifier as pytorch-grad-cam needs it: image -> the logits the sigmoid sees."""

    def __init__(self, classifier: ExportClassifier) -> None:
        super().__init__()
        self.classifier = classifier

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.classifier.calibrated_logits(self.classifier.net.feature_maps(image))


def model_id_of(module: nn.Module) -> str:
    """sha256 over the module's state-dict tensors in sorted key order (the card's ``model_id``)."""
    digest = hashlib.sha256()
    state = module.state_dict()
    for key in sorted(state):
        digest.update(state[key].detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def gradcam_weights(classifier: ExportClassifier, feature_hw: tuple[int, int]) -> np.ndarray:
    """``V[c,k] = scale_c * W[c,k] / (h*w)`` as a [L, C, 1, 1] convolution kernel."""
    h, w = feature_hw
    weight = classifier.net.classifier.weight.detach().double().numpy()
    scale = classifier.calibration_scale.detach().double().numpy()
    cam = scale[:, None] * weight / (h * w)
    return cam.astype(np.float32)[:, :, None, None]


def sidecar_proto(kernel: np.ndarray, feature_hw: tuple[int, int], weighted_output: bool = False) -> onnx.ModelProto:
    """The Grad-CAM sidecar graph; ``weighted_output`` also exposes the pre-ReLU sums (checks)."""
    n_labels, channels = kernel.shape[:2]
    h, w = feature_hw
    outputs = [helper.make_tensor_value_info("heatmaps", TensorProto.FLOAT, ["N", n_labels, h, w])]
    if weighted_output:
        outputs.append(helper.make_tensor_value_info("weighted", TensorProto.FLOAT, ["N", n_labels, h, w]))
    graph = helper.make_graph(
        [helper.make_node("Conv", ["features", "gradcam_weights"], ["weighted"], kernel_shape=[1, 1]),
         helper.make_node("Relu", ["weighted"], ["heatmaps"])],
        "cxr_gradcam",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", channels, h, w])],
        outputs,
        [numpy_helper.from_array(kernel, "gradcam_weights")],
        doc_string="Grad-CAM for every label: ReLU(sum_k alpha_k^c A^k), alpha = scale_c W[c,k]/(h*w)",
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="cxr-train", producer_version=__version__)
    model.ir_version = 8  # readable by every ONNX Runtime since 1.10
    return model


def classifier_proto(classifier: ExportClassifier, size: int) -> onnx.ModelProto:
    """``torch.onnx.export`` of the classifier with a dynamic batch axis."""
    classifier.eval()
    example = (torch.rand(2, 1, size, size),)
    batch = torch.export.Dim("N", min=1, max=4096)
    try:
        program = torch.onnx.export(
            classifier, example, input_names=["image"], output_names=["probabilities", "features"],
            dynamic_shapes={"image": {0: batch}}, opset_version=OPSET, dynamo=True, verbose=False,
        )
    except Exception as exc:  # the exporter raises many types; the reason is in the message
        raise TrainerError(f"torch.onnx.export failed: {one_line(exc)}") from None
    if program is None:  # only the legacy exporter (dynamo=False) returns nothing
        raise TrainerError("torch.onnx.export returned no ONNX program")
    proto = program.model_proto
    proto.producer_name, proto.producer_version = "cxr-train", __version__
    return proto
