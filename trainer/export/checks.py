"""The export checks: a written pair is accepted only if it computes what the PyTorch model does.

``run_checks`` verifies (1) ``onnx.checker`` on both files and that the viewer's
``ModelPair.open`` accepts the pair, (2) ONNX Runtime against PyTorch on real images, (3) the
sidecar against autograd (pre-ReLU weighted sums) and against pytorch-grad-cam's ``GradCAM`` at
the same layer. Each result has ``passed`` and the measured figures (``export_checks.json``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper

from viewer.core.errors import ModelContractError, one_line
from viewer.core.model import ModelPair

from ..errors import TrainerError
from .graphs import CalibratedLogits, ExportClassifier

PROB_TOLERANCE = 1e-4  # ONNX Runtime vs PyTorch, absolute, on probabilities
FEATURE_TOLERANCE = 1e-4  # ... on features, relative to their largest magnitude
WEIGHTED_TOLERANCE = 1e-4  # sidecar pre-ReLU sums vs autograd, relative to their largest magnitude
CAM_MIN_CORRELATION = 0.999
CAM_MAX_DIFFERENCE = 0.01


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

    model = CalibratedLogits(classifier).eval()
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
