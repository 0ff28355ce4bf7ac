"""trainer.export.randomisation: the Grad-CAM maps' parameter-randomisation sanity check."""

from __future__ import annotations

import copy
import json
import logging
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from tests.trainer.test_export import calibration, fields_for, real_images
from trainer.config import TrainConfig
from trainer.evaluation.calibrate import Calibration
from trainer.export.pair import export_pair
from trainer.export.randomisation import (
    GATING_STEP,
    MAX_MEDIAN_CORRELATION,
    features_and_block_input,
    features_from_block,
    fresh_network,
    gradcam_maps,
    last_block,
    log_result,
    randomisation_check,
    randomise,
)
from trainer.models import archs
from trainer.models.network import build_model
from trainer.pipeline.run import train_run
from viewer.core.model import ModelPair
from viewer.core.nih import NIH_LABELS


class Square(nn.Module):
    """x * x: the trunk's last block's weight w only scales its output, by w^2 > 0."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * x


def _squared_trunk() -> tuple[nn.Module, int]:
    # a one-channel trunk: features = (w * stem(x))^2, so a Grad-CAM map is ReLU(V_c w^2 stem(x)^2),
    # the same ranking of pixels for every w and every V_c > 0 (a flat map where V_c < 0)
    return nn.Sequential(OrderedDict(
        stem=nn.Conv2d(3, 1, 3, stride=8, padding=1), last=nn.Conv2d(1, 1, 1, bias=False), square=Square(),
    )), 1


@pytest.fixture
def squared_arch(monkeypatch: pytest.MonkeyPatch) -> str:
    """An arch, registered for one test, whose maps cannot depend on its head or last block."""
    monkeypatch.setitem(archs.ARCHITECTURES, "test-squared", archs.Architecture("test-squared", _squared_trunk, "relu"))
    return "test-squared"


def test_last_block_of_each_arch() -> None:
    expected = {"tiny": ("features.conv2", "features.norm2"), "resnet18": ("features.layer4",),
                "densenet121": ("features.denseblock4", "features.norm5"), "mobilenet_v3_small": ("features.12",)}
    for arch in archs.ARCHITECTURES:  # every registered arch has one, starting at a convolution
        with torch.device("meta"):  # the modules' structure only: no memory, no initialisation
            net = build_model(arch, NIH_LABELS)
        block = last_block(net)
        assert block == expected.get(arch, block), arch
        assert any(p.dim() >= 2 for p in net.get_submodule(block[0]).parameters()), arch


def test_maps_are_the_exported_sidecars(tiny_data: Path, tmp_path: Path) -> None:
    """The check's torch maps are what the viewer gets from the exported pair (ONNX Runtime)."""
    torch.manual_seed(0)
    net = build_model("tiny", NIH_LABELS).eval()
    image = real_images(tiny_data, 64, 1)
    result = export_pair(net, calibration(), fields_for("tiny", 64), tmp_path, "m", image)
    pair = ModelPair.open(result.classifier_path)
    heatmaps = pair.gradcam(pair.classify(image[:, None].astype(np.float32))[1])
    ours = gradcam_maps(net, calibration(), image)
    assert ours.shape == heatmaps.shape == (1, 14, 8, 8)
    np.testing.assert_allclose(ours, heatmaps, rtol=1e-4, atol=1e-5 * float(np.abs(heatmaps).max()))


def test_maps_that_cannot_follow_the_weights_fail(squared_arch: str, tiny_data: Path) -> None:
    torch.manual_seed(0)
    net = build_model(squared_arch, NIH_LABELS).eval()
    with torch.no_grad():
        net.classifier.weight.abs_()  # every trained map is then stem(x)^2's ranking
    result = randomisation_check(net, Calibration.identity(14), real_images(tiny_data, 64, 8), seed=1)

    assert not result["passed"] and "barely change" in result["problem"]
    for step in ("head", GATING_STEP):
        record = result["steps"][step]
        assert record["maps_compared"] > 0 and record["median_correlation"] == pytest.approx(1.0)
    assert result["steps"][GATING_STEP]["randomised"] == ["classifier", "features.last"]
    # the randomised head's negative weights give flat maps, which have no ranking to compare
    assert result["steps"]["head"]["maps_compared"] + result["steps"]["head"]["flat_maps_left_out"] == 3 * 8 * 14


def test_maps_that_follow_the_weights_pass(tiny_data: Path, caplog: pytest.LogCaptureFixture) -> None:
    torch.manual_seed(0)
    net = build_model("tiny", NIH_LABELS).eval()
    result = randomisation_check(net, calibration(), real_images(tiny_data, 64, 8), seed=1)
    assert result["passed"] and "problem" not in result
    with caplog.at_level(logging.INFO):
        log_result(result)
    assert "Grad-CAM randomisation check passed" in caplog.text
    assert result["steps"][GATING_STEP]["median_correlation"] < 0.25 < MAX_MEDIAN_CORRELATION
    assert result["steps"][GATING_STEP]["randomised"] == ["classifier", "features.conv2", "features.norm2"]
    assert result["images"] == 8 and result["labels"] == 14
    # seeded: the same figures again
    again = randomisation_check(net, calibration(), real_images(tiny_data, 64, 8), seed=1)
    assert again["steps"] == result["steps"]


def test_the_network_checked_is_left_as_it_was(tiny_data: Path) -> None:
    torch.manual_seed(0)
    net = build_model("tiny", NIH_LABELS).train()
    net.set_channels_last(True)
    before = {key: value.clone() for key, value in net.state_dict().items()}
    rng = torch.get_rng_state()
    randomisation_check(net, calibration(), real_images(tiny_data, 64, 2), seed=1)
    after = net.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    assert net.training and net.channels_last and torch.equal(torch.get_rng_state(), rng)


def test_a_run_records_the_check_and_exports_even_when_it_fails(tiny_config: TrainConfig,
                                                                monkeypatch: pytest.MonkeyPatch,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    """A failed check is recorded, printed and logged as a warning; the pair is still exported."""
    from trainer.pipeline import finish

    real = finish.randomisation_check
    monkeypatch.setattr(finish, "randomisation_check", lambda *args, **kw: real(*args, **kw, threshold=-1.0))
    with caplog.at_level(logging.INFO):
        summary = train_run(tiny_config).to_dict()  # type: ignore[union-attr]
    out = Path(tiny_config.out)
    assert (out / "model.onnx").is_file() and (out / "model.gradcam.onnx").is_file()
    record = json.loads((out / "export_checks.json").read_text())["gradcam_randomisation"]
    assert set(record["steps"]) == {"head", GATING_STEP} and record["images"] == 8
    assert tiny_config.seed not in record["seeds"]  # not the draw the training run started from
    median = record["steps"][GATING_STEP]["median_correlation"]
    assert not record["passed"] and record["problem"]
    assert summary["gradcam_randomisation"] == {"passed": False, "median_correlation": median}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("Grad-CAM randomisation check FAILED" in line for line in warnings)
    # at the real limit the tiny run's maps pass: they follow its weights
    assert median <= MAX_MEDIAN_CORRELATION


def test_the_last_block_alone_gives_the_full_forwards_features(tiny_data: Path) -> None:
    """Step 2 runs only the randomised copy's last block on what the trained trunk gave it."""
    torch.manual_seed(0)
    net = build_model("tiny", NIH_LABELS).eval()
    images = real_images(tiny_data, 64, 2)
    features, block_input = features_and_block_input(net, images)
    assert block_input is not None and block_input.shape[1] == 16  # conv2's input
    other = copy.deepcopy(net)
    randomise(other, fresh_network(net, 1), ("classifier", *last_block(net)))
    with torch.no_grad():
        expected = other.feature_maps(torch.from_numpy(images[:, None]))
    assert torch.allclose(features_from_block(other, block_input), expected, atol=1e-6)
    assert not torch.allclose(features, expected)
