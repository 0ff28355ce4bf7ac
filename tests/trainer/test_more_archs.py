"""--arch mobilenet_v2 and vgg16 end to end: cxr-train trains them, and their exported pair passes
the export checks (ONNX Runtime against PyTorch, the sidecar against autograd and pytorch-grad-cam)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torchvision

from tests.trainer.test_cli import TINY, run
from tests.trainer.test_export import calibration, fields_for, real_images
from trainer.export.pair import export_pair
from trainer.models.network import build_model
from viewer.core.model import ModelPair
from viewer.core.nih import NIH_LABELS


@pytest.mark.slow
def test_mobilenet_v2_trains_from_a_torchvision_file_and_exports(tiny_data: Path, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    torch.manual_seed(0)
    weights = tmp_path / "mobilenet_v2-imagenet-layout.pth"
    torch.save(torchvision.models.mobilenet_v2(weights=None).state_dict(), weights)
    argv = [*TINY]
    argv[argv.index("--arch") + 1] = "mobilenet_v2"
    argv[argv.index("--epochs") + 1] = "1"
    out = tmp_path / "run"
    code, _, err = run(["train", "--data", str(tiny_data), "--out", str(out), "--weights", str(weights),
                        "--gallery", "0", *argv], capsys)
    assert code == 0, err
    assert "tensors loaded" in (out / "train.log").read_text()
    checks = json.loads((out / "export_checks.json").read_text())
    assert all(check["passed"] for check in checks.values()), checks
    assert checks["gradcam"]["max_rel_diff_weighted_vs_autograd"] <= 1e-4
    pair = ModelPair.open(out / "model.onnx")
    assert pair.feature_shape == (1280, 2, 2) and pair.card.arch == "mobilenet_v2"
    assert pair.card.training["initial_weights"] == weights.name


@pytest.mark.slow
def test_vgg16_export_passes_the_checks(tiny_data: Path, tmp_path: Path) -> None:
    """No training run for VGG16 (15M trunk parameters, a minute of CPU at 64 px): one training
    step is in test_train.py; here its pair, with the 4x4 map of features.29, passes the checks."""
    torch.manual_seed(0)
    net = build_model("vgg16", NIH_LABELS)
    result = export_pair(net, calibration(), fields_for("vgg16", 64), tmp_path, "vgg",
                         real_images(tiny_data, 64, 2))
    assert all(check["passed"] for check in result.checks.values()), result.checks
    assert result.checks["gradcam"]["max_rel_diff_weighted_vs_autograd"] <= 1e-4
    pair = ModelPair.open(result.classifier_path)
    assert pair.feature_shape == (512, 4, 4) and pair.card.arch == "vgg16"


def test_arch_speed_bench_times_each_arch_against_densenet121(capsys: pytest.CaptureFixture[str]) -> None:
    """The bench behind docs/trainer.md's speed figures runs (its figures mean nothing here)."""
    from bench.arch_speed import main

    main(["--size", "32", "--repeats", "1", "--arch", "mobilenet_v2"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("32 px, batch 1, 1 thread(s), median of 1")
    assert [line.split()[0] for line in lines[1:]] == ["densenet121", "mobilenet_v2"]
    assert "x1.00" in lines[1] and "Grad-CAM map (1280, 1, 1)" in lines[2]
