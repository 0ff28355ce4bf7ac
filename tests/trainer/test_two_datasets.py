"""Training on two datasets at once (``--also-data``, issue 21): the union of their labels
through the taxonomy, each label a dataset does not annotate masked out of the loss."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from tests.trainer.test_dataset_option import make_chexpert_for_training
from trainer.cli import main
from trainer.data.chexpert import load_chexpert
from trainer.data.combined import PATIENT_OFFSET, combine, combined_labels
from trainer.data.nih import load_labelled_images
from trainer.training.losses import loss_function
from viewer.core.model import ModelPair
from viewer.core.nih import NIH_LABELS

CHEXPERT_ONLY = ("Enlarged Cardiomediastinum", "Lung Opacity", "Lung Lesion", "Pleural Other", "Fracture",
                 "Support Devices")
NIH_ONLY = ("Emphysema", "Fibrosis", "Hernia", "Infiltration", "Mass", "Nodule", "Pleural_Thickening")


@pytest.fixture(scope="module")
def chexpert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_chexpert_for_training(tmp_path_factory.mktemp("two"), patients=12, seed=7)


def test_the_labels_are_the_union_through_the_taxonomy(tiny_data: Path, chexpert: Path) -> None:
    nih, chex = load_labelled_images(tiny_data), load_chexpert(chexpert, uncertainty="ignore")
    labels = combined_labels([("nih", nih), ("chexpert", chex)])
    # NIH's 14 first; CheXpert adds only the findings NIH lacks (its Pleural Effusion is Effusion)
    assert labels == (*NIH_LABELS, *CHEXPERT_ONLY)
    assert "Pleural Effusion" not in labels
    table = combine([("nih", nih), ("chexpert", chex)])
    assert len(table.samples) == len(nih.samples) + len(chex.samples)
    mask, targets = table.mask(), table.targets()
    column = {label: j for j, label in enumerate(labels)}
    first_chexpert = len(nih.samples)
    # NIH images know nothing of CheXpert-only findings, CheXpert images nothing of NIH-only ones
    assert not mask[:first_chexpert, [column[x] for x in CHEXPERT_ONLY]].any()
    assert mask[:first_chexpert, [column[x] for x in NIH_LABELS]].all()
    assert not mask[first_chexpert:, [column[x] for x in NIH_ONLY]].any()
    # a CheXpert Pleural Effusion positive is an Effusion positive; an uncertain one is masked (ignore)
    for k, source in enumerate(chex.samples):
        row = first_chexpert + k
        assert targets[row, column["Effusion"]] == (1.0 if "Pleural Effusion" in source.labels else 0.0)
        assert mask[row, column["Effusion"]] == (0.0 if "Pleural Effusion" in source.masked else 1.0)
    # patients and names never collide across the datasets
    assert all(s.patient_id >= PATIENT_OFFSET for s in table.samples[first_chexpert:])
    assert table.samples[0].image_index.startswith("nih/")
    assert len({s.image_index for s in table.samples}) == len(table.samples)


def test_a_label_the_dataset_does_not_annotate_gives_no_gradient(tiny_data: Path, chexpert: Path) -> None:
    table = combine([("nih", load_labelled_images(tiny_data)), ("chexpert", load_chexpert(chexpert))])
    row = len(table.samples) - 1  # a CheXpert image
    j = table.labels.index("Infiltration")
    targets = torch.from_numpy(table.targets([row]))
    mask = torch.from_numpy(table.mask([row]))
    assert mask[0, j] == 0
    logits = torch.randn(1, len(table.labels), requires_grad=True)
    loss_function(logits, targets, mask=mask).backward()
    assert logits.grad[0, j] == 0
    assert logits.grad[0, table.labels.index("Effusion")] != 0


def test_two_datasets_train_end_to_end(tiny_data: Path, chexpert: Path, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    code = main(["train", "--data", str(tiny_data), "--also-data", f"chexpert={chexpert}", "--uncertainty", "ignore",
                 "--out", str(out), "--arch", "tiny", "--size", "64", "--epochs", "1", "--batch-size", "8",
                 "--warmup-epochs", "0.5", "--bootstrap", "10", "--gallery", "0", "--threads", "1",
                 "--log-every", "0", "--ood-sample", "20", "--calibration", "none"])
    assert code == 0, capsys.readouterr().err
    summary = json.loads(capsys.readouterr().out)
    recorded = yaml.safe_load((out / "config.yaml").read_text(encoding="utf-8"))
    assert recorded["dataset"] == "nih" and recorded["uncertainty"] == "ignore"
    assert recorded["also_data"] == [f"chexpert={chexpert.absolute()}"]
    pair = ModelPair.open(summary["model"])
    assert tuple(pair.card.labels) == (*NIH_LABELS, *CHEXPERT_ONLY)
    split = (out / "split.csv").read_text(encoding="utf-8")
    assert "chexpert/" in split and "nih/" in split
    metrics = json.loads((out / "metrics.json").read_text())["metrics"]
    assert set(metrics["auroc"]) == set(pair.card.labels)


def test_an_also_data_folder_without_label_files_is_named(tiny_data: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["train", "--data", str(tiny_data), "--also-data", str(tmp_path / "empty"), "--out",
                 str(tmp_path / "r"), "--arch", "tiny", "--size", "64", "--epochs", "1"]) == 1
    err = capsys.readouterr().err
    assert str(tmp_path / "empty") in err and "Traceback" not in err
    # the run stopped before training: no model written
    assert not (tmp_path / "r" / "model.onnx").exists()
