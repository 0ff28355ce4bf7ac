"""External validation: ``cxr-train evaluate`` and ``report`` score a model on another dataset's
labels through the taxonomy (issue 21). The oracle is scikit-learn on the images whose target
the dataset gives, with the pairing written out by hand in the test (NIH's Effusion is CheXpert's
Pleural Effusion; CheXpert has no Infiltration)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from tests.factories import make_model_pair
from tests.trainer.test_dataset_option import make_chexpert_for_training
from trainer.cli import main
from trainer.data.chexpert import CHEXPERT_LABELS
from viewer.core.inference import Predictor

# the model's labels (NIH's names) -> the CheXpert column that labels them, None: not annotated
PAIRS = {"Effusion": "Pleural Effusion", "Cardiomegaly": "Cardiomegaly", "Pneumonia": "Pneumonia",
         "Infiltration": None, "Atelectasis": "Atelectasis"}


@pytest.fixture(scope="module")
def chexpert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_chexpert_for_training(tmp_path_factory.mktemp("external"), patients=20, seed=4)


def _label_rows(top: Path) -> dict[str, dict[str, str]]:
    rows = {}
    for name in ("train.csv", "valid.csv"):
        with (top / name).open(newline="") as handle:
            for row in csv.DictReader(handle):
                rows[row["Path"].split("/", 1)[1]] = row
    return rows


def _oracle(rows: dict[str, dict[str, str]], paths: list[str], scores: np.ndarray, column: str,
            policy: str) -> float:
    """AUROC of one CheXpert column as the policy reads it: blank negative, -1 left out (ignore)
    or negative (zeros)."""
    targets, kept = [], []
    for i, path in enumerate(paths):
        cell = rows[path][column]
        if cell == "-1" and policy == "ignore":
            continue
        targets.append(1 if cell == "1" else 0)
        kept.append(i)
    return float(roc_auc_score(targets, scores[kept]))


@pytest.mark.parametrize("policy", ["ignore", "zeros"])
def test_evaluate_scores_an_nih_model_on_chexpert_labels(chexpert: Path, tmp_path: Path, policy: str,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    rows = _label_rows(chexpert)
    paths = sorted(rows)
    rng = np.random.default_rng(1)
    scores = rng.random((len(paths), len(PAIRS)))
    predictions = tmp_path / "predictions.csv"
    with predictions.open("w", newline="") as handle:  # the columns cxr-viewer batch writes
        writer = csv.writer(handle)
        writer.writerow(["Image Index", "path", "status", *[f"prob_{x}" for x in PAIRS]])
        for path, row in zip(paths, scores):
            writer.writerow([Path(path).name, path, "ok", *[f"{v:.6f}" for v in row]])
    out = tmp_path / "report.json"
    assert main(["evaluate", "--predictions", str(predictions), "--data", str(chexpert), "--uncertainty", policy,
                 "--bootstrap", "50", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    report = json.loads(out.read_text())
    assert report["dataset"] == "chexpert" and report["not_annotated"] == ["Infiltration"]
    assert "Infiltration" in printed and "not a chexpert label" in printed
    for j, (label, column) in enumerate(PAIRS.items()):
        entry = report["auroc"][label]
        if column is None:
            assert entry is None
            continue
        assert entry["value"] == pytest.approx(_oracle(rows, paths, scores[:, j], column, policy), abs=1e-6)
    assert report["n_images"] == len(paths)


def test_a_row_is_matched_by_its_path_not_its_shared_file_name(chexpert: Path, tmp_path: Path) -> None:
    # every CheXpert image is called view1_frontal.jpg: without a path the rows match nothing
    predictions = tmp_path / "p.csv"
    predictions.write_text("Image Index,prob_Effusion\nview1_frontal.jpg,0.5\n", encoding="utf-8")
    assert main(["evaluate", "--predictions", str(predictions), "--data", str(chexpert)]) == 1


def test_report_on_chexpert_is_an_external_validation_table(chexpert: Path, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    model = make_model_pair(tmp_path / "model")
    out = tmp_path / "report"
    assert main(["report", "--model", str(model), "--data", str(chexpert), "--uncertainty", "ignore",
                 "--bootstrap", "30", "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["data"]["dataset"] == "chexpert" and report["data"]["uncertainty"] == "ignore"
    section = report["classification"]
    labels = report["model"]["labels"]
    not_in_chexpert = {"Infiltration", "Emphysema", "Fibrosis", "Hernia", "Mass", "Nodule", "Pleural_Thickening"}
    assert set(section["not_annotated"]) == not_in_chexpert
    # the same images through the viewer's Predictor, scored by scikit-learn on the known targets
    rows = _label_rows(chexpert)
    paths = sorted(rows)
    predictor = Predictor.open(model, cache_size=0)
    probabilities = np.stack([predictor.predict(chexpert / p).probabilities for p in paths])
    for label in ("Effusion", "Cardiomegaly", "Atelectasis"):
        column = {"Effusion": "Pleural Effusion"}.get(label, label)
        expected = _oracle(rows, paths, probabilities[:, labels.index(label)], column, "ignore")
        assert section["plain"]["auroc"][label]["value"] == pytest.approx(expected, abs=1e-4)
    for label in not_in_chexpert:
        assert section["plain"]["auroc"][label] is None
    markdown = (out / "report.md").read_text()
    assert "not annotated by chexpert" in markdown
    assert report["expert_labels"] is None  # Google's labels are NIH's


def test_chexpert_labels_are_paired_with_a_chexpert_model(chexpert: Path, tmp_path: Path) -> None:
    # a model trained on CheXpert names its labels CheXpert's way: all 13 are annotated
    model = make_model_pair(tmp_path / "model", labels=CHEXPERT_LABELS)
    out = tmp_path / "report"
    assert main(["report", "--model", str(model), "--data", str(chexpert), "--bootstrap", "0",
                 "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["classification"]["not_annotated"] == []
