"""``--aux-weight``: a training-only head learns what the label file says besides the findings
(any finding, sex, AP view, age); it shapes the shared features and is never exported."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score

from trainer.cli import main
from trainer.config import TrainConfig
from trainer.data.augment import AugmentConfig
from trainer.data.datasets import EvalImages, TrainImages
from trainer.data.labels import AUX_TARGETS
from trainer.data.nih import load_labelled_images
from trainer.models.network import CxrNet, build_model
from trainer.models.weights import load_weights
from trainer.pipeline.prepare import PreparedData, prepare_data
from trainer.training.loop import Trainer
from trainer.training.losses import aux_loss
from trainer.training.predict import predict_logits

TINY = ["--arch", "tiny", "--size", "64", "--epochs", "2", "--batch-size", "8", "--bootstrap", "50",
        "--threads", "1", "--log-every", "0", "--ood-sample", "100", "--gallery", "0"]


def test_aux_targets_come_from_the_label_file_and_unknown_values_stay_unknown(tiny_data: Path, tmp_path: Path) -> None:
    data = tmp_path / "nih"
    shutil.copytree(tiny_data, data)
    csv = data / "Data_Entry_2017_v2020.csv"
    lines = csv.read_text(encoding="utf-8").splitlines(keepends=True)
    # the first image: no sex, a lateral view and no age; the second: AP, female, 7 years
    first = lines[1].split(",")
    first[4], first[5], first[6] = "", "", "LL"
    second = lines[2].split(",")
    second[4], second[5], second[6] = "007Y", "F", "AP"
    lines[1], lines[2] = ",".join(first), ",".join(second)
    csv.write_text("".join(lines), encoding="utf-8")

    table = load_labelled_images(data)
    aux = table.aux_targets()
    assert aux.shape == (len(table.samples), len(AUX_TARGETS)) and aux.dtype == np.float32
    by_name = {sample.image_index: row for sample, row in zip(table.samples, aux)}
    one, two = by_name[first[0]], by_name[second[0]]
    assert one[0] == (1.0 if first[1] != "No Finding" else 0.0)
    assert np.isnan(one[1]) and np.isnan(one[2]) and np.isnan(one[3])
    assert two[1:].tolist() == pytest.approx([0.0, 1.0, 0.07])
    for sample, row in zip(table.samples, aux):
        assert row[0] == float(bool(sample.labels))  # "any finding" is 0 exactly for No Finding


def test_aux_loss_is_the_bce_of_the_known_targets_only() -> None:
    logits = torch.tensor([[0.3, -1.0], [2.0, 0.5]], requires_grad=True)
    targets = torch.tensor([[1.0, float("nan")], [0.0, 0.25]])
    expected = F.binary_cross_entropy_with_logits(torch.stack([logits[0, 0], logits[1, 0], logits[1, 1]]),
                                                  torch.tensor([1.0, 0.0, 0.25]))
    loss = aux_loss(logits, targets)
    assert loss.item() == pytest.approx(expected.item())
    loss.backward()
    assert logits.grad is not None and logits.grad[0, 1] == 0.0  # the unknown target pulls nothing
    nothing = aux_loss(logits, torch.full((2, 2), float("nan")))
    assert nothing.item() == 0.0 and nothing.requires_grad


def _train_two_epochs(config: TrainConfig, data: PreparedData, out: Path, aux_weight: float) -> CxrNet:
    torch.manual_seed(0)
    net = build_model(config.arch, data.table.labels, aux_outputs=len(AUX_TARGETS))
    aux = data.aux_targets("train") if aux_weight > 0 else None
    train_set = TrainImages(data.sources["train"], data.targets("train"), config.size, AugmentConfig(),
                            config.seed, aux=aux)
    config = dataclasses.replace(config, aux_weight=aux_weight)
    Trainer(config, net, train_set, None, data.targets("val"), out, data.split_hash).fit()
    return net


def test_the_aux_loss_trains_the_aux_head_and_the_shared_features(tiny_config: TrainConfig, tmp_path: Path) -> None:
    config = dataclasses.replace(tiny_config, epochs=2)
    data = prepare_data(config, tmp_path)
    torch.manual_seed(0)
    initial = build_model(config.arch, data.table.labels, aux_outputs=len(AUX_TARGETS)).state_dict()
    with_aux = _train_two_epochs(config, data, tmp_path / "aux", 1.0).state_dict()
    without = _train_two_epochs(config, data, tmp_path / "plain", 0.0).state_dict()
    # the same start and batches: only the auxiliary loss tells the two runs apart
    assert torch.equal(without["aux_head.weight"], initial["aux_head.weight"])
    assert not torch.equal(with_aux["aux_head.weight"], initial["aux_head.weight"])
    assert not torch.equal(with_aux["features.conv0.weight"], without["features.conv0.weight"])


def test_the_aux_head_learns_a_visible_target_and_leaves_the_findings_alone(tiny_config: TrainConfig,
                                                                            tmp_path: Path) -> None:
    # the generated images brighten a square per finding: "any finding" is visible in them
    data = prepare_data(tiny_config, tmp_path)
    images = EvalImages(data.sources["train"], data.targets("train"), tiny_config.size)
    x = torch.stack([images[i][0] for i in range(len(images))])
    targets = torch.from_numpy(data.aux_targets("train"))
    torch.manual_seed(0)
    net = build_model(tiny_config.arch, data.table.labels, aux_outputs=len(AUX_TARGETS))
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(60):
        optimizer.zero_grad()
        _, aux = net(x, with_aux=True)
        aux_loss(aux, targets).backward()
        optimizer.step()
    net.eval()
    with torch.no_grad():
        logits, aux = net(x, with_aux=True)
        assert torch.equal(logits, net(x))  # asking for the aux head changes nothing in the findings
    assert roc_auc_score(targets[:, 0].numpy(), aux[:, 0].numpy()) > 0.9


@pytest.mark.slow
def test_an_aux_run_exports_only_the_findings_and_reexports_from_its_checkpoint(
        tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert main(["train", "--data", str(tiny_data), "--out", str(out), "--aux-weight", "0.5", *TINY]) == 0
    checkpoint = out / "checkpoints" / "model.pt"
    state = torch.load(checkpoint, weights_only=True)
    assert state["config"]["aux_weight"] == 0.5
    assert state["model"]["aux_head.weight"].shape[0] == len(AUX_TARGETS)
    model_file = next(p for p in out.glob("*.onnx") if not p.name.endswith(".gradcam.onnx"))
    session = ort.InferenceSession(str(model_file), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == ["probabilities", "features"]
    assert session.get_outputs()[0].shape[1] == 14
    assert "onnxruntime_vs_pytorch" in json.loads((out / "export_checks.json").read_text())
    capsys.readouterr()
    again = tmp_path / "again"
    assert main(["export", "--checkpoint", str(checkpoint), "--out", str(again)]) == 0, capsys.readouterr().err
    first = json.loads((out / "metrics.json").read_text())["metrics"]["mean_auroc"]
    assert json.loads((again / "metrics.json").read_text())["metrics"]["mean_auroc"] == pytest.approx(first, abs=1e-6)


def test_weights_of_an_aux_run_start_a_run_with_or_without_the_aux_head(tiny_config: TrainConfig,
                                                                      tmp_path: Path) -> None:
    labels = tuple(load_labelled_images(tiny_config.data).labels)
    torch.manual_seed(1)
    source = build_model("tiny", labels, aux_outputs=len(AUX_TARGETS))
    path = tmp_path / "aux.pt"
    torch.save(source.state_dict(), path)

    plain = build_model("tiny", labels)
    report = load_weights(plain, path)
    assert report.head_loaded
    assert torch.equal(plain.classifier.weight, source.classifier.weight)

    with_aux = build_model("tiny", labels, aux_outputs=len(AUX_TARGETS))
    load_weights(with_aux, path)
    assert with_aux.aux_head is not None and source.aux_head is not None
    assert torch.equal(with_aux.aux_head.weight, source.aux_head.weight)
    x = torch.rand(2, 1, 64, 64)
    source.eval(), plain.eval()
    assert torch.allclose(source(x), plain(x))


def test_a_negative_aux_weight_is_refused(tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["train", "--data", str(tiny_data), "--out", str(tmp_path / "run"), "--aux-weight", "-1", *TINY])
    assert code != 0
    assert "--aux-weight must be 0 (off) or positive" in capsys.readouterr().err


def test_predict_logits_of_an_aux_model_are_the_findings_only(tiny_config: TrainConfig) -> None:
    labels = tuple(load_labelled_images(tiny_config.data).labels)
    net = build_model("tiny", labels, aux_outputs=len(AUX_TARGETS))
    images = [(torch.rand(1, 64, 64), torch.zeros(len(labels))) for _ in range(3)]
    assert predict_logits(net, images, batch_size=2).shape == (3, len(labels))
