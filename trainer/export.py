"""Export: the classifier ONNX, the exact Grad-CAM sidecar, the card in both, and three checks.

* ``NAME.onnx``: ``image`` [N,1,H,W] in [0,1] -> ``probabilities`` [N,L] (calibration inside)
  and ``features`` [N,C,h,w] (the Grad-CAM layer, post-ReLU). Exported by ``torch.onnx.export``.
* ``NAME.gradcam.onnx``: ``features`` -> ``heatmaps`` [N,L,h,w] = ReLU(conv1x1(features, V))
  with ``V[c,k] = scale_c * W[c,k] / (h*w)``. Because the head is GAP + one linear layer (and the
  calibration a positive per-label scale), ``V[c,k]`` is exactly Grad-CAM's alpha_k^c, the
  spatial mean of d(calibrated logit_c)/dA^k; the sidecar is built with ``onnx.helper``.

After writing, ``run_checks`` verifies (1) ``onnx.checker`` on both files and that the viewer's
``ModelPair.open`` accepts the pair, (2) ONNX Runtime against PyTorch on real images, (3) the
sidecar against autograd (pre-ReLU weighted sums) and against pytorch-grad-cam's ``GradCAM`` at
the same layer. If any check fails the files are deleted and ``ExportCheckError`` is raised.
"""

from __future__ import annotations

import copy
import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from viewer.core.errors import ModelContractError, one_line
from viewer.core.model import SIDECAR_SUFFIX, ModelPair
from viewer.core.model_card import ModelCard
from viewer.core.onnx_card import set_card

from . import __version__
from .evaluation.calibrate import Calibration
from .errors import ExportCheckError, TrainerError
from .models.network import CxrNet

log = logging.getLogger(__name__)

OPSET = 18
PROB_TOLERANCE = 1e-4  # ONNX Runtime vs PyTorch, absolute, on probabilities
FEATURE_TOLERANCE = 1e-4  # ... on features, relative to their largest magnitude
WEIGHTED_TOLERANCE = 1e-4  # sidecar pre-ReLU sums vs autograd, relative to their largest magnitude
CAM_MIN_CORRELATION = 0.999
CAM_MAX_DIFFERENCE = 0.01


class ExportClassifier(nn.Module):
    """What ``NAME.onnx`` computes: calibrated probabilities and the Grad-CAM features."""

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


class _CalibratedLogits(nn.Module):
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
    proto = program.model_proto
    proto.producer_name, proto.producer_version = "cxr-train", __version__
    return proto


@dataclass
class ExportResult:
    """Where the pair went, its id, and the outcome of every check."""

    classifier_path: Path
    sidecar_path: Path
    model_id: str
    card: ModelCard
    checks: dict[str, Any]


def export_pair(
    net: CxrNet,
    calibration: Calibration,
    card_fields: dict[str, Any],
    out_dir: Path,
    name: str,
    check_images: np.ndarray,
) -> ExportResult:
    """Write ``NAME.onnx`` + ``NAME.gradcam.onnx`` with the card, then check them.

    ``card_fields`` is the card without ``model_id`` (filled in here). ``check_images`` are
    prepared real images [N, H, W] for the comparisons. Raises ``ExportCheckError`` (and
    removes both files) when a check fails.
    """
    size = int(card_fields["input"]["height"])
    net = copy.deepcopy(net).cpu().eval()  # the caller's model keeps its device and layout
    net.set_channels_last(False)
    classifier = ExportClassifier(net, calibration).eval()
    model_id = model_id_of(classifier)
    card = ModelCard.from_dict({**card_fields, "model_id": model_id}, source="the exported model card")
    with torch.no_grad():
        feature_hw = tuple(net.feature_maps(torch.zeros(1, 1, size, size)).shape[2:])

    out_dir.mkdir(parents=True, exist_ok=True)
    classifier_path = out_dir / f"{name}.onnx"
    sidecar_path = out_dir / f"{name}{SIDECAR_SUFFIX}"
    protos = {
        classifier_path: classifier_proto(classifier, size),
        sidecar_path: sidecar_proto(gradcam_weights(classifier, feature_hw), feature_hw),  # type: ignore[arg-type]
    }
    for path, proto in protos.items():
        set_card(proto, card)
        onnx.save(proto, str(path))
    try:
        checks = run_checks(classifier_path, sidecar_path, classifier, check_images)
    except BaseException:
        _remove(classifier_path, sidecar_path)
        raise
    failed = [key for key, result in checks.items() if not result["passed"]]
    if failed:
        _remove(classifier_path, sidecar_path)
        details = "; ".join(f"{key}: {checks[key].get('problem', checks[key])}" for key in failed)
        raise ExportCheckError(f"export of {name} refused, checks failed ({details})")
    log.info("exported %s and %s (model_id %s...), all checks passed", classifier_path.name,
             sidecar_path.name, model_id[:12])
    return ExportResult(classifier_path, sidecar_path, model_id, card, checks)


def _remove(*paths: Path) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


# -- the checks ------------------------------------------------------------------------------------------
def run_checks(
    classifier_path: Path, sidecar_path: Path, classifier: ExportClassifier, images: np.ndarray
) -> dict[str, Any]:
    """All export checks; each result has ``passed`` and the measured figures."""
    if images.ndim != 3 or len(images) == 0:
        raise TrainerError("the export checks need at least one prepared image [N, H, W]")
    checks: dict[str, Any] = {"onnx_checker": check_onnx(classifier_path, sidecar_path)}
    try:
        pair = ModelPair.open(classifier_path, threads=1)
        checks["viewer_contract"] = {"passed": True}
    except ModelContractError as exc:
        checks["viewer_contract"] = {"passed": False, "problem": str(exc)}
        return checks
    batch = np.ascontiguousarray(images[:, None], np.float32)
    checks["onnxruntime_vs_pytorch"], ort_features = check_runtime(pair, classifier, batch)
    checks["gradcam"] = check_gradcam(pair, sidecar_path, classifier, batch, ort_features)
    return checks


def check_onnx(*paths: Path) -> dict[str, Any]:
    """``onnx.checker`` (full check, with shape inference) on every file."""
    for path in paths:
        try:
            onnx.checker.check_model(str(path), full_check=True)
        except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
            return {"passed": False, "problem": f"{path.name}: {one_line(exc)}"}
    return {"passed": True}


def check_runtime(
    pair: ModelPair, classifier: ExportClassifier, batch: np.ndarray
) -> tuple[dict[str, Any], np.ndarray]:
    """ONNX Runtime's outputs against PyTorch's on the same images."""
    probabilities, features = pair.classify(batch)
    with torch.no_grad():
        ref_prob, ref_features = (t.numpy() for t in classifier(torch.from_numpy(batch)))
    prob_diff = float(np.abs(probabilities - ref_prob).max())
    feature_scale = max(1.0, float(np.abs(ref_features).max()))
    feature_diff = float(np.abs(features - ref_features).max()) / feature_scale
    passed = prob_diff <= PROB_TOLERANCE and feature_diff <= FEATURE_TOLERANCE
    result: dict[str, Any] = {
        "passed": passed, "images": int(len(batch)),
        "max_abs_diff_probabilities": prob_diff, "max_rel_diff_features": feature_diff,
        "tolerance": PROB_TOLERANCE,
    }
    if not passed:
        result["problem"] = (f"probabilities differ by {prob_diff:.2e}, features by {feature_diff:.2e} "
                             f"(tolerance {PROB_TOLERANCE:g})")
    return result, features


def _autograd_weighted(classifier: ExportClassifier, features: torch.Tensor) -> np.ndarray:
    """sum_k alpha_k^c A^k for every label, alpha from autograd: the independent reference."""
    activations = features.detach().clone().requires_grad_(True)
    logits = classifier.calibrated_logits(activations)
    maps = []
    for c in range(logits.shape[1]):
        (grad,) = torch.autograd.grad(logits[:, c].sum(), activations, retain_graph=True)
        alpha = grad.mean(dim=(2, 3), keepdim=True)
        maps.append((alpha * activations).sum(dim=1))
    return torch.stack(maps, dim=1).detach().numpy()


def _sidecar_weighted(sidecar_path: Path, features: np.ndarray) -> np.ndarray:
    """The sidecar FILE's pre-ReLU sums: its graph, with the intermediate exposed as an output."""
    import onnxruntime as ort

    model = onnx.load(str(sidecar_path))
    n_labels, h, w = (d.dim_value for d in model.graph.output[0].type.tensor_type.shape.dim[1:])
    model.graph.output.append(helper.make_tensor_value_info("weighted", TensorProto.FLOAT, ["N", n_labels, h, w]))
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (weighted,) = session.run(["weighted"], {"features": features})
    return weighted


def _pytorch_grad_cam(classifier: ExportClassifier, batch: np.ndarray) -> np.ndarray:
    """pytorch-grad-cam's ``GradCAM`` at ``net.act`` for every label: [N, L, H, W] in [0, 1]."""
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    model = _CalibratedLogits(classifier).eval()
    cam = GradCAM(model=model, target_layers=[classifier.net.act])
    try:
        images = torch.from_numpy(batch)
        n_labels = classifier.calibration_scale.shape[0]
        maps = [cam(input_tensor=images, targets=[ClassifierOutputTarget(c)] * len(batch)) for c in range(n_labels)]
    finally:
        cam.activations_and_grads.release()  # remove its hooks from our model
    return np.stack(maps, axis=1)


def check_gradcam(
    pair: ModelPair,
    sidecar_path: Path,
    classifier: ExportClassifier,
    batch: np.ndarray,
    ort_features: np.ndarray,
) -> dict[str, Any]:
    """The sidecar against autograd (before ReLU) and against pytorch-grad-cam (after it)."""
    from pytorch_grad_cam.utils.image import scale_cam_image

    with torch.no_grad():
        torch_features = classifier.net.feature_maps(torch.from_numpy(batch))
    reference = _autograd_weighted(classifier, torch_features)
    weighted = _sidecar_weighted(sidecar_path, torch_features.numpy())
    weighted_scale = max(float(np.abs(reference).max()), 1e-12)
    weighted_diff = float(np.abs(weighted - reference).max()) / weighted_scale

    # end to end as the viewer computes it: ONNX Runtime features -> sidecar heatmaps
    heatmaps = pair.gradcam(ort_features)
    size = (batch.shape[3], batch.shape[2])
    # GradCAM.__call__ min-max scales, resizes, then min-max scales again (aggregate_multi_layers)
    ours = np.stack([scale_cam_image(scale_cam_image(heatmaps[:, c], size)) for c in range(heatmaps.shape[1])], axis=1)
    theirs = _pytorch_grad_cam(classifier, batch)
    correlations, differences, flat = [], [], 0
    for a, b in zip(ours.reshape(-1, size[0] * size[1]), theirs.reshape(-1, size[0] * size[1])):
        differences.append(float(np.abs(a - b).max()))
        if np.ptp(a) == 0 or np.ptp(b) == 0:  # an all-zero map (ReLU of a negative sum)
            flat += 1
            correlations.append(1.0 if np.ptp(a) == np.ptp(b) else 0.0)
        else:
            correlations.append(float(np.corrcoef(a, b)[0, 1]))
    min_correlation, max_difference = min(correlations), max(differences)
    passed = (weighted_diff <= WEIGHTED_TOLERANCE and min_correlation >= CAM_MIN_CORRELATION
              and max_difference <= CAM_MAX_DIFFERENCE)
    result: dict[str, Any] = {
        "passed": passed,
        "maps": len(correlations),
        "all_zero_maps": flat,
        "max_rel_diff_weighted_vs_autograd": weighted_diff,
        "min_correlation_vs_pytorch_grad_cam": min_correlation,
        "max_abs_diff_vs_pytorch_grad_cam": max_difference,
        "tolerances": {"weighted": WEIGHTED_TOLERANCE, "correlation": CAM_MIN_CORRELATION,
                       "difference": CAM_MAX_DIFFERENCE},
    }
    if not passed:
        result["problem"] = (
            f"pre-ReLU sums differ from autograd by {weighted_diff:.2e} (relative), maps correlate "
            f"with pytorch-grad-cam at {min_correlation:.5f} and differ by up to {max_difference:.4f}"
        )
    return result
