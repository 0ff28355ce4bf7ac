"""trainer.training: loss weighting, one step, the schedules, resume, averaging, early stopping, the logs."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from trainer.config import TrainConfig
from trainer.data.augment import AugmentConfig
from trainer.data.datasets import EvalImages, TrainImages
from trainer.models.network import build_model
from trainer.pipeline.prepare import prepare_data
from trainer.training.loop import Trainer
from trainer.training.losses import ClassWeights, class_weights, loss_function, positive_weights
from trainer.training.schedule import Plateau, lr_factor
from viewer.core.nih import NIH_LABELS


def test_positive_weights() -> None:
    targets = np.array([[1, 0, 0], [1, 0, 1], [0, 0, 1], [0, 0, 1], [0, 0, 1]], np.float32)
    balanced = positive_weights(targets, "balanced", 100.0)
    np.testing.assert_allclose(balanced.numpy(), [3 / 2, 1.0, 1.0])  # no positives: weight 1; 1/4 < 1 -> 1
    np.testing.assert_allclose(positive_weights(targets, "sqrt", 100.0).numpy(), [math.sqrt(1.5), 1.0, 1.0])
    rare = np.zeros((101, 1), np.float32)
    rare[0] = 1
    assert float(positive_weights(rare, "balanced", 20.0)[0]) == 20.0  # clipped
    assert positive_weights(targets, "none", 20.0) is None


def test_posneg_weights_balance_each_label_and_average_one() -> None:
    # label 0: 2 of 10 positive; 1: none; 2: 1 of 10 (ratio 9, capped at 4 below); 3: 7 of 10 (more positives)
    targets = np.zeros((10, 4), np.float32)
    targets[:2, 0] = 1
    targets[:1, 2] = 1
    targets[:7, 3] = 1
    weights = class_weights(targets, "posneg", 20.0)
    pos, neg = weights.positive.numpy(), weights.negative.numpy()
    # uncapped: positives (P+N)/2P, negatives (P+N)/2N, so each class carries half of the label's loss
    np.testing.assert_allclose([pos[0], neg[0]], [10 / 4, 10 / 16], rtol=1e-6)
    np.testing.assert_allclose([pos[3], neg[3]], [10 / 14, 10 / 6], rtol=1e-6)
    assert pos[1] == neg[1] == 1.0  # no positives in training: nothing to balance
    positives = targets.sum(axis=0)
    for j in (0, 2, 3):  # the weights average 1 over the training images: the loss keeps its scale
        assert (positives[j] * pos[j] + (10 - positives[j]) * neg[j]) / 10 == pytest.approx(1.0)
    capped = class_weights(targets, "posneg", 4.0)
    assert capped.positive[2] / capped.negative[2] == pytest.approx(4.0)  # 9 limited to 4
    assert capped.positive[3] / capped.negative[3] == pytest.approx(3 / 7)  # within [1/4, 4]: kept
    assert class_weights(targets, "none", 20.0) is None
    balanced = class_weights(targets, "balanced", 20.0)
    np.testing.assert_allclose(balanced.positive.numpy(), positive_weights(targets, "balanced", 20.0).numpy())
    assert (balanced.negative == 1).all()


def test_weighting_is_on_by_default_and_computed_on_the_training_split(tiny_config: TrainConfig,
                                                                       tmp_path: Path) -> None:
    assert TrainConfig().pos_weight == "posneg"
    trainer = make_trainer(dataclasses.replace(tiny_config, epochs=1), tmp_path)
    expected = class_weights(trainer.train_set.targets, "posneg", tiny_config.pos_weight_max)
    assert torch.equal(trainer.class_weights.positive, expected.positive)
    assert not torch.equal(expected.positive, class_weights(trainer.val_targets, "posneg", 20.0).positive)
    off = make_trainer(dataclasses.replace(tiny_config, epochs=1, pos_weight="none"), tmp_path / "off")
    assert off.class_weights is None


def test_two_sided_loss_matches_the_formula() -> None:
    logits = torch.tensor([[2.0, -1.0], [0.5, 0.0], [-0.3, 1.5]])
    targets = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    weights = ClassWeights(torch.tensor([3.0, 0.8]), torch.tensor([0.6, 1.5]))
    smoothed = targets * 0.9 + 0.05
    p = torch.sigmoid(logits)
    manual = -(weights.positive * smoothed * torch.log(p) + weights.negative * (1 - smoothed) * torch.log(1 - p)).mean()
    torch.testing.assert_close(loss_function(logits, targets, weights, 0.1), manual)


def test_loss_with_weights_and_smoothing_matches_the_formula() -> None:
    logits = torch.tensor([[2.0, -1.0], [0.5, 0.0]])
    targets = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    weight = torch.tensor([3.0, 1.0])
    smoothed = targets * 0.8 + 0.1
    p = torch.sigmoid(logits)
    manual = -(weight * smoothed * torch.log(p) + (1 - smoothed) * torch.log(1 - p)).mean()
    torch.testing.assert_close(loss_function(logits, targets, weight, 0.2), manual)


@pytest.mark.parametrize("arch", ["tiny", "densenet121", "mobilenet_v3_small", "mobilenet_v3_large", "mobilenet_v2",
                                  "vgg16"])
def test_one_training_step_reaches_every_parameter(arch: str) -> None:
    torch.manual_seed(0)
    net = build_model(arch, NIH_LABELS)
    images = torch.rand(4, 1, 64, 64)
    targets = (torch.rand(4, 14) > 0.7).float()
    loss = loss_function(net(images), targets, class_weights(targets.numpy(), "posneg", 20), 0.1)
    assert torch.isfinite(loss)
    loss.backward()
    for name, parameter in net.named_parameters():
        assert parameter.grad is not None, name
        assert torch.isfinite(parameter.grad).all(), name
        assert parameter.grad.abs().sum() > 0, name


def test_the_default_schedule_is_the_seeds_adam_with_step_decay() -> None:
    config = TrainConfig()
    assert (config.optimizer, config.lr, config.schedule, config.step_epochs, config.lr_decay,
            config.warmup_epochs) == ("adam", 1e-3, "step", 2, 0.1, 0.0)
    steps = 7
    factors = [lr_factor(s, steps, config) for s in range(6 * steps)]
    np.testing.assert_allclose(factors[:2 * steps], 1.0)  # epochs 1-2: 1e-3
    np.testing.assert_allclose(factors[2 * steps:4 * steps], 0.1)  # epochs 3-4: 1e-4
    np.testing.assert_allclose(factors[4 * steps:], 0.01)
    net = build_model("tiny", NIH_LABELS)
    from trainer.training.schedule import make_optimizer

    assert type(make_optimizer(net, config)) is torch.optim.Adam
    sgd = make_optimizer(net, dataclasses.replace(config, optimizer="sgd"))
    assert sgd.defaults["momentum"] == 0.9 and not sgd.defaults["nesterov"]


def test_schedule_warms_up_then_follows_the_cosine() -> None:
    config = TrainConfig(epochs=10, warmup_epochs=1, min_lr_ratio=0.01, schedule="cosine")
    steps = 20
    factors = [lr_factor(s, steps, config) for s in range(10 * steps)]
    assert factors[0] == pytest.approx(1 / 20) and factors[19] == pytest.approx(1.0)
    assert factors[20] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(factors[20:], factors[21:]))  # never rises after warm-up
    assert factors[-1] == pytest.approx(0.01, abs=1e-3)
    stepped = dataclasses.replace(config, schedule="step", step_epochs=3, warmup_epochs=0)
    assert lr_factor(3 * steps, steps, stepped) == pytest.approx(0.1)
    assert lr_factor(6 * steps + 5, steps, stepped) == pytest.approx(0.01)


def make_trainer(config: TrainConfig, out: Path) -> Trainer:
    data = prepare_data(config, out)
    torch.manual_seed(config.seed)
    net = build_model(config.arch, data.table.labels)
    train_set = TrainImages(data.sources["train"], data.targets("train"), config.size, AugmentConfig(), config.seed)
    val_set = EvalImages(data.sources["val"], data.targets("val"), config.size)
    return Trainer(config, net, train_set, val_set, data.targets("val"), out, data.split_hash)


@pytest.mark.parametrize("average", ["none", "ema"])
def test_resume_continues_exactly(tiny_config: TrainConfig, tmp_path: Path, average: str) -> None:
    config = dataclasses.replace(tiny_config, epochs=3, average=average, ema_decay=0.9, drop_rate=0.2)
    straight = make_trainer(config, tmp_path / "straight")
    straight.fit()

    first = make_trainer(config, tmp_path / "interrupted")
    partial = first.fit(stop_after=1)
    assert not partial.finished and partial.epochs_run == 1
    torch.manual_seed(12345)  # a new process would start from another RNG state
    second = make_trainer(config, tmp_path / "interrupted")
    second.restore(tmp_path / "interrupted" / "checkpoints" / "last.pt")
    resumed = second.fit()
    assert resumed.finished and resumed.epochs_run == 3
    for key, value in straight.model.state_dict().items():
        assert torch.equal(value, second.model.state_dict()[key]), key
    assert [r.train_loss for r in straight.history] == [r.train_loss for r in second.history]
    assert [r.val_loss for r in straight.history] == [r.val_loss for r in second.history]


def test_resume_refuses_another_split(tiny_config: TrainConfig, tmp_path: Path) -> None:
    from trainer.errors import TrainerError

    trainer = make_trainer(tiny_config, tmp_path / "a")
    trainer.fit(stop_after=1)
    other = make_trainer(dataclasses.replace(tiny_config, seed=5), tmp_path / "b")
    with pytest.raises(TrainerError, match="another split"):
        other.restore(tmp_path / "a" / "checkpoints" / "last.pt")


def test_ema_weights_are_what_gets_exported(tiny_config: TrainConfig, tmp_path: Path) -> None:
    config = dataclasses.replace(tiny_config, average="ema", ema_decay=0.5, monitor="val_loss", patience=0)
    trainer = make_trainer(config, tmp_path)
    result = trainer.fit()
    best = trainer.best_epoch
    assert result.chosen == f"EMA weights of epoch {best}, the best by val_loss"
    saved = torch.load(tmp_path / "checkpoints" / "best.pt", weights_only=True)["model"]
    assert all(torch.equal(result.final_state[k], v) for k, v in saved.items())
    if best == config.epochs:  # the final EMA differs from the raw weights it averages
        assert not torch.equal(result.final_state["classifier.weight"], trainer.model.classifier.weight)


def test_swa_averages_and_recomputes_batchnorm(tiny_config: TrainConfig, tmp_path: Path) -> None:
    config = dataclasses.replace(tiny_config, epochs=3, average="swa", swa_start=0.5)  # epochs 2 and 3
    trainer = make_trainer(config, tmp_path)
    result = trainer.fit()
    assert result.chosen == "SWA average of the last 2 epochs"
    assert not torch.equal(result.final_state["classifier.weight"], trainer.model.classifier.weight)
    assert not torch.equal(result.final_state["features.norm2.running_mean"],
                           trainer.model.state_dict()["features.norm2.running_mean"])
    assert all(torch.isfinite(v.float()).all() for v in result.final_state.values())


def test_plateau_follows_torchs_reduce_lr_on_plateau() -> None:
    """The independent oracle: torch's ReduceLROnPlateau on the same losses."""
    losses = [1.0, 0.9, 0.95, 0.9, 0.89995, 0.85, 0.86, 0.87, 0.88, float("inf"), 0.5, 0.6]
    for patience in (0, 1, 2):
        parameter = torch.nn.Parameter(torch.zeros(1))
        optimizer = torch.optim.SGD([parameter], lr=1.0)
        reference = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.1, patience=patience)
        ours = Plateau(patience, 0.1)
        for loss in losses:
            reference.step(loss)
            ours.step(loss)
            assert ours.scale == pytest.approx(optimizer.param_groups[0]["lr"], rel=1e-12), (patience, loss)
    assert not Plateau(0, 0.1).step(float("nan"))  # no validation: never reduced


def test_sgd_with_reduce_on_plateau_in_training_and_resume(tiny_config: TrainConfig, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    config = dataclasses.replace(tiny_config, epochs=4, optimizer="sgd", schedule="plateau", warmup_epochs=0,
                                 plateau_patience=0, patience=0, lr=0.01)
    trainer = make_trainer(config, tmp_path / "a")
    losses = iter([0.5, 0.6, 0.4, 0.45])
    monkeypatch.setattr(trainer, "validate", lambda: (next(losses), 0.5))
    trainer.fit()
    # epoch 2 is worse: x0.1 from epoch 3; epoch 4 worse than epoch 3: x0.1 again (for a 5th epoch)
    assert [r.lr for r in trainer.history] == pytest.approx([0.01, 0.01, 0.001, 0.001])
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(0.0001)
    saved = torch.load(tmp_path / "a" / "checkpoints" / "last.pt", weights_only=True)
    assert saved["plateau"]["scale"] == pytest.approx(0.01)

    again = make_trainer(dataclasses.replace(config, epochs=5), tmp_path / "a")
    again.restore(tmp_path / "a" / "checkpoints" / "last.pt")
    assert again.plateau.scale == pytest.approx(0.01) and again.optimizer.param_groups[0]["lr"] == pytest.approx(1e-4)


def test_early_stopping_on_the_validation_loss_by_default(tiny_config: TrainConfig, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    assert (TrainConfig().monitor, TrainConfig().patience) == ("val_loss", 3)
    config = dataclasses.replace(tiny_config, epochs=8, patience=3)
    trainer = make_trainer(config, tmp_path)
    losses = iter([0.6, 0.5, 0.55, 0.52, 0.51, 0.3, 0.2, 0.1])
    monkeypatch.setattr(trainer, "validate", lambda: (next(losses), 0.99))
    result = trainer.fit()
    assert result.stopped_early and result.epochs_run == 5  # lowest at 2, then three higher
    assert trainer.best_epoch == 2 and result.chosen == "weights of epoch 2, the best by val_loss"
    history = (tmp_path / "history.csv").read_text().splitlines()
    assert history[0].startswith("epoch,train_loss,val_loss,val_auroc,lr") and len(history) == 6
    assert [float(line.split(",")[2]) for line in history[1:]] == [0.6, 0.5, 0.55, 0.52, 0.51]


def test_early_stopping_after_patience(tiny_config: TrainConfig, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    config = dataclasses.replace(tiny_config, epochs=6, patience=2, monitor="val_auroc")
    trainer = make_trainer(config, tmp_path)
    aurocs = iter([0.6, 0.7, 0.65, 0.69, 0.9, 0.9])
    monkeypatch.setattr(trainer, "validate", lambda: (0.5, next(aurocs)))
    result = trainer.fit()
    assert result.stopped_early and result.epochs_run == 4  # best at 2, then two worse epochs
    assert trainer.best_epoch == 2 and result.chosen == "weights of epoch 2, the best by val_auroc"


def test_a_diverging_loss_stops_with_a_clear_error(tiny_config: TrainConfig, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from trainer.errors import TrainerError
    from trainer.training import loop as train_module

    trainer = make_trainer(tiny_config, tmp_path)
    monkeypatch.setattr(train_module, "loss_function", lambda *a, **k: torch.tensor(float("nan"), requires_grad=True))
    with pytest.raises(TrainerError, match="the training loss became nan in epoch 1"):
        trainer.fit()


def test_validation_loss_is_plain_bce(tiny_config: TrainConfig, tmp_path: Path) -> None:
    config = dataclasses.replace(tiny_config, label_smoothing=0.2, pos_weight="balanced", epochs=1)
    trainer = make_trainer(config, tmp_path)
    trainer.fit()
    logits = torch.from_numpy(np.stack([trainer.model.eval()(x[None])[0].detach().numpy()
                                        for x, _ in trainer.val_set]))
    expected = float(F.binary_cross_entropy_with_logits(logits, torch.from_numpy(trainer.val_targets)))
    assert trainer.history[-1].val_loss == pytest.approx(expected, rel=1e-5)


def test_bf16_training_runs_channels_last_and_exports_fp32(tiny_config: TrainConfig, tmp_path: Path) -> None:
    config = dataclasses.replace(tiny_config, precision="bf16", epochs=1)
    trainer = make_trainer(config, tmp_path)
    result = trainer.fit()
    assert trainer.model.channels_last
    assert trainer.model.features.conv0.weight.is_contiguous(memory_format=torch.channels_last)
    assert np.isfinite(result.history[0].train_loss)
    assert all(v.is_contiguous() for v in result.final_state.values())  # checkpoints are plain


def test_a_missing_gpu_is_reported_before_any_work(tiny_config: TrainConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    from trainer.errors import TrainerError
    from trainer.pipeline.run import train_run

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(TrainerError, match="torch sees no CUDA GPU"):
        train_run(dataclasses.replace(tiny_config, device="cuda"))
    assert not (Path(tiny_config.out) / "cache").exists()


def test_without_validation_there_is_no_early_stop(tiny_config: TrainConfig, tmp_path: Path) -> None:
    config = dataclasses.replace(tiny_config, epochs=3, patience=1, val_fraction=0.0)
    trainer = make_trainer(config, tmp_path)
    result = trainer.fit()
    assert not result.stopped_early and result.epochs_run == 3
    assert result.chosen == "last epoch (3); no validation figure to choose by"


@pytest.mark.parametrize("average", ["none", "ema"])
def test_the_chosen_weights_come_with_their_validation_logits(tiny_config: TrainConfig, tmp_path: Path,
                                                              average: str) -> None:
    from trainer.training.predict import predict_logits

    config = dataclasses.replace(tiny_config, epochs=3, average=average, ema_decay=0.5)
    trainer = make_trainer(config, tmp_path)
    result = trainer.fit()
    net = build_model(config.arch, NIH_LABELS)
    net.load_state_dict(result.final_state)
    # finishing reuses them instead of predicting again: they must be exactly what it would compute
    np.testing.assert_array_equal(result.val_logits, predict_logits(net, trainer.val_set, config.batch_size * 2))
