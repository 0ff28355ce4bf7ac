"""Trainer options: mixed precision (the fp16 scaler path runs on the CPU too when asked), worker
defaults, ``--tensorboard``, and ``--int8`` (the int8 target of docs/design.md through the trainer)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from trainer.cli import main
from trainer.training.devices import resolve_workers
from trainer.training.precision import choose_precision
from viewer.core.model import ModelPair

CPU = torch.device("cpu")
TINY = ["--arch", "tiny", "--size", "64", "--epochs", "2", "--batch-size", "8", "--bootstrap", "50",
        "--threads", "1", "--log-every", "0", "--ood-sample", "100", "--gallery", "0"]


def test_auto_is_full_precision_on_the_cpu_and_fp16_falls_back_to_it(caplog: pytest.LogCaptureFixture) -> None:
    assert choose_precision("auto", CPU).name == "fp32"
    assert choose_precision("fp32", CPU).scaler is None
    bf16 = choose_precision("bf16", CPU)
    assert bf16.name == "bf16" and bf16.scaler is None  # same exponent range as fp32: nothing to scale
    with caplog.at_level("INFO", logger="trainer.training.precision"):
        fallback = choose_precision("fp16", CPU)
    assert fallback.name == "fp32" and fallback.scaler is None
    assert "needs a GPU" in caplog.text


def test_autocast_computes_in_the_chosen_dtype() -> None:
    layer = nn.Linear(4, 3)
    x = torch.randn(2, 4)
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        with choose_precision(name, CPU).autocast():
            assert layer(x).dtype == dtype
    with choose_precision("fp16", CPU, fp16_on_cpu=True).autocast():
        assert layer(x).dtype == torch.float16


def _regression() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))
    x = torch.randn(64, 8)
    return model, x, x[:, :1] * 2 - x[:, 1:2]


def test_the_fp16_scaler_path_trains_and_skips_overflowing_steps() -> None:
    model, x, y = _regression()
    precision = choose_precision("fp16", CPU, fp16_on_cpu=True)
    assert precision.scaler is not None and precision.scaler.is_enabled()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(60):
        with precision.autocast():
            prediction = model(x)
        loss = nn.functional.mse_loss(prediction.float(), y)
        losses.append(loss.item())
        precision.step(loss, optimizer, model.parameters(), grad_clip=1.0)
    assert losses[-1] < 0.3 * losses[0]

    # an overflowing gradient: the step is skipped, the weights stay, the scale drops
    before = [p.detach().clone() for p in model.parameters()]
    scale = precision.scaler.get_scale()
    with precision.autocast():
        prediction = model(x)
    stepped = precision.step(nn.functional.mse_loss(prediction.float(), y) * float("inf"), optimizer,
                             model.parameters())
    assert not stepped and precision.scaler.get_scale() < scale
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    # and its state goes into checkpoints and comes back
    again = choose_precision("fp16", CPU, fp16_on_cpu=True)
    again.load_state_dict(precision.state_dict())
    assert again.scaler.get_scale() == precision.scaler.get_scale()


def test_worker_defaults() -> None:
    assert resolve_workers(-1, CPU) == 0  # the CPU's cores train; cached images need little work
    assert resolve_workers(3, CPU) == 3
    gpu_workers = resolve_workers(-1, torch.device("cuda"))
    assert 1 <= gpu_workers <= 8
    assert resolve_workers(-1, torch.device("cuda"), processes_per_machine=64) == 1


@pytest.mark.slow
def test_tensorboard_logs_each_epoch(tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "run"
    assert main(["train", "--data", str(tiny_data), "--out", str(out), "--tensorboard", "--no-export", *TINY]) == 0
    capsys.readouterr()
    events = EventAccumulator(str(out / "tensorboard"), size_guidance={"images": 0}).Reload()
    history = json.loads((out / "history.json").read_text())
    losses = [event.value for event in events.Scalars("loss/train")]
    assert losses == pytest.approx([record["train_loss"] for record in history], rel=1e-6)
    assert [event.step for event in events.Scalars("lr")] == [1, 2]
    assert any(tag.startswith("auroc/") and tag != "auroc/mean" for tag in events.Tags()["scalars"])
    assert events.Tags()["images"], "the Grad-CAM images of the validation images"


@pytest.mark.slow
def test_int8_variant_from_the_exporter(tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert main(["train", "--data", str(tiny_data), "--out", str(out), *TINY]) == 0
    capsys.readouterr()
    again = tmp_path / "again"
    code = main(["export", "--checkpoint", str(out / "checkpoints" / "model.pt"), "--out", str(again), "--int8"])
    assert code == 0, capsys.readouterr().err
    report = json.loads((again / "export_checks.json").read_text())["int8"]
    assert report["test_images"] == len((out / "test_list.txt").read_text().split())
    change = report["mean_auroc"]["change"]
    assert report["kept"] == (change is not None and change >= -0.005), report["reason"]
    if report["kept"]:
        pair = ModelPair.open(again / "model-int8.onnx")
        assert pair.card.metrics["mean_auroc"] == pytest.approx(report["mean_auroc"]["int8"], abs=1e-6)
    else:
        assert not (again / "model-int8.onnx").exists()
    assert np.isfinite(report["max_probability_difference"])


def test_mixup_blends_images_and_targets_alike_and_repeats_from_its_seed() -> None:
    from trainer.training.losses import mixup

    images = torch.arange(4 * 1 * 2 * 2, dtype=torch.float32).view(4, 1, 2, 2)
    targets = torch.eye(4)
    mixed, mixed_targets = mixup(images, targets, 0.4, (0, 1, 2, 0))
    again, again_targets = mixup(images, targets, 0.4, (0, 1, 2, 0))
    assert torch.equal(mixed, again) and torch.equal(mixed_targets, again_targets)
    # with one-hot targets, row i of the mixed targets holds the weights of the images blended
    # into mixed image i: they sum to 1 and reproduce it
    assert torch.allclose(mixed_targets.sum(dim=1), torch.ones(4))
    assert torch.allclose(mixed_targets @ images.view(4, -1), mixed.view(4, -1), atol=1e-5)
    assert not torch.equal(mixed, images)
    other, _ = mixup(images, targets, 0.4, (0, 1, 3, 0))
    assert not torch.equal(other, mixed)
