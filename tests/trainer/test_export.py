"""trainer.export: the ONNX pair keeps the contract and passes its three checks, or is refused."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from trainer.errors import ExportCheckError
from trainer.evaluation.calibrate import Calibration
from trainer.export import pair as export_module
from trainer.export.card import card_fields
from trainer.export.graphs import ExportClassifier, model_id_of
from trainer.export.pair import export_pair
from trainer.models.network import build_model
from viewer.core.model import ModelPair
from viewer.core.model_card import CARD_METADATA_KEY
from viewer.core.nih import NIH_LABELS
from viewer.core.preprocess import preprocess


def fields_for(arch: str, size: int) -> dict:
    return card_fields(
        name="test-export", arch=arch, labels=NIH_LABELS, size=size,
        thresholds={"rule": "test", "values": {x: 0.5 for x in NIH_LABELS}},
        calibration={"method": "platt", "applied_in_graph": True},
        metrics={"auroc": {x: None for x in NIH_LABELS}},
        training={"data": "generated", "epochs": 0, "seed": 0},
        ood={"method": "none", "statistics": {}, "threshold": 1.0},
    )


def real_images(tiny_data: Path, size: int, n: int = 3) -> np.ndarray:
    return np.stack([preprocess(p, size, size) for p in sorted((tiny_data / "images").glob("*.png"))[:n]])


def calibration() -> Calibration:
    rng = np.random.default_rng(0)
    return Calibration("platt", rng.uniform(0.5, 2.0, 14).astype(np.float32), rng.normal(0, 1,
            14).astype(np.float32), {})


def test_export_writes_a_pair_the_viewer_accepts(tiny_data: Path, tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = build_model("tiny", NIH_LABELS).eval()
    images = real_images(tiny_data, 64)
    result = export_pair(net, calibration(), fields_for("tiny", 64), tmp_path, "m", images)

    assert all(check["passed"] for check in result.checks.values())
    assert result.checks["gradcam"]["min_correlation_vs_pytorch_grad_cam"] >= 0.999
    pair = ModelPair.open(result.classifier_path)
    assert pair.card.model_id == result.model_id and pair.feature_shape == (32, 8, 8)
    # both files carry the same card; model_id is the sha256 of the classifier's tensors in key order
    cards = {onnx.load(str(p)).metadata_props[-1].value for p in (result.classifier_path, result.sidecar_path)}
    assert len(cards) == 1 and CARD_METADATA_KEY in {p.key for p in onnx.load(str(result.sidecar_path)).metadata_props}
    classifier = ExportClassifier(net, calibration())
    state = classifier.state_dict()
    digest = hashlib.sha256(b"".join(state[k].numpy().tobytes() for k in sorted(state))).hexdigest()
    assert result.model_id == digest

    # dynamic batch: five images at once, calibrated probabilities as PyTorch computes them
    batch = np.random.default_rng(1).random((5, 1, 64, 64)).astype(np.float32)
    probabilities, features = pair.classify(batch)
    with torch.no_grad():
        logits = net(torch.from_numpy(batch)).numpy()
    np.testing.assert_allclose(probabilities, calibration().apply(logits), atol=1e-5)
    heatmaps = pair.gradcam(features)
    assert heatmaps.shape == (5, 14, 8, 8) and (heatmaps >= 0).all()


def test_model_id_follows_the_weights() -> None:
    net = build_model("tiny", NIH_LABELS)
    before = model_id_of(ExportClassifier(net, calibration()))
    with torch.no_grad():
        net.classifier.bias[3] += 1e-3
    assert model_id_of(ExportClassifier(net, calibration())) != before
    assert model_id_of(ExportClassifier(net, Calibration.identity(14))) != model_id_of(ExportClassifier(net,
            calibration()))


def test_a_wrong_sidecar_is_refused_and_removed(tiny_data: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    real = export_module.gradcam_weights
    # Grad-CAM without the 1/(h*w) and calibration scale factors: same maps up to a positive
    # factor per label, which the pre-ReLU comparison with autograd must catch
    monkeypatch.setattr(export_module, "gradcam_weights", lambda c, hw: real(c,
            hw) * 64 / c.calibration_scale.numpy()[:, None, None, None])
    with pytest.raises(ExportCheckError, match="gradcam: pre-ReLU sums differ from autograd"):
        export_pair(build_model("tiny", NIH_LABELS), calibration(), fields_for("tiny", 64), tmp_path, "m",
                real_images(tiny_data, 64))
    assert not list(tmp_path.glob("*.onnx"))

    # the maps of another label: caught by pytorch-grad-cam's maps too
    monkeypatch.setattr(export_module, "gradcam_weights", lambda c, hw: np.roll(real(c, hw), 1, axis=0))
    with pytest.raises(ExportCheckError, match="maps correlate with pytorch-grad-cam at"):
        export_pair(build_model("tiny", NIH_LABELS), calibration(), fields_for("tiny", 64), tmp_path, "m",
                real_images(tiny_data, 64))
    assert not list(tmp_path.glob("*.onnx"))


def test_an_invalid_card_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    from viewer.core.errors import ModelCardError

    fields = fields_for("tiny", 64)
    fields["thresholds"] = {"rule": "test", "values": {"Atelectasis": 2.0}}
    with pytest.raises(ModelCardError, match="thresholds.values"):
        export_pair(build_model("tiny", NIH_LABELS), calibration(), fields, tmp_path, "m", np.zeros((1, 64, 64),
                np.float32))
    assert not list(tmp_path.glob("*.onnx"))


@pytest.mark.slow
def test_densenet121_export_at_64_pixels(tiny_data: Path, tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = build_model("densenet121", NIH_LABELS)
    result = export_pair(net, calibration(), fields_for("densenet121", 64), tmp_path, "dn",
            real_images(tiny_data, 64, 2))
    assert all(check["passed"] for check in result.checks.values())
    assert ModelPair.open(result.classifier_path).feature_shape == (1024, 2, 2)


@pytest.mark.slow
def test_mobilenet_v3_export_passes_the_three_checks(tiny_data: Path, tmp_path: Path) -> None:
    """MobileNetV3's Grad-CAM layer is after a Hardswish (features may be slightly negative):
    the sidecar must still match autograd before the ReLU and pytorch-grad-cam after it."""
    torch.manual_seed(0)
    net = build_model("mobilenet_v3_small", NIH_LABELS)
    result = export_pair(net, calibration(), fields_for("mobilenet_v3_small", 64), tmp_path, "mb",
                         real_images(tiny_data, 64, 2))
    assert all(check["passed"] for check in result.checks.values())
    assert result.checks["gradcam"]["max_rel_diff_weighted_vs_autograd"] <= 1e-4
    pair = ModelPair.open(result.classifier_path)
    assert pair.feature_shape == (576, 2, 2) and pair.card.arch == "mobilenet_v3_small"


def test_the_card_records_the_commit_of_the_checkout_it_runs_from() -> None:
    from trainer.export import card

    assert (card.SOURCE_TREE / "trainer" / "export" / "card.py").is_file()
    assert (card.SOURCE_TREE / "viewer" / "core").is_dir()  # git status looks at both folders
