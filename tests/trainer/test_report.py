"""``cxr-train report`` end to end on generated NIH-like data and a real (tiny) ONNX pair: the
numbers it writes are those of the viewer's own Predictor, scored independently here."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from tests.factories import NIH_LABELS, make_model_pair
from tests.trainer.synthetic import make_dataset
from trainer.cli import main
from trainer.data.split import SPLITS, SUBSETS
from viewer.core.inference import Predictor

BBOX = ("Image Index,Finding Label,Bbox [x,y,w,h],,,\n"
        "00000007_000.png,Atelectasis,100,100,300,300\n"
        "00000007_000.png,Infiltrate,500,500,200,200\n"
        "00000008_001.png,Nodule,700,200,60,60\n"
        "00000001_000.png,Mass,10,10,100,100\n")  # a training image: not evaluated
GOOGLE_HEADER = ("Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position,"
                 "OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y],Fracture,Pneumothorax,"
                 "Airspace opacity,Nodule or mass,Set Id\n")
GOOGLE_ROWS = {"00000009_000.png": "NO,NO,YES,NO", "00000009_001.png": "NO,NO,NO,YES",
               "00000010_000.png": "YES,NO,NO,NO", "00000002_000.png": "NO,YES,YES,YES"}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """12 patients x 2 images at 64 px; patients 7-12 are the test split; boxes and expert labels."""
    data = make_dataset(tmp_path / "nih", patients=12, per_patient=2)
    (data / "BBox_List_2017.csv").write_text(BBOX, encoding="utf-8")
    (data / "google2019_nih-chest-xray-labels.csv").write_text(GOOGLE_HEADER + "".join(
        f"{name},No Finding,0,1,50,M,PA,2500,2048,0.168,0.168,{values},test\n" for name, values in GOOGLE_ROWS.items()
    ), encoding="utf-8")
    lines = ["Image Index,Patient ID,split\n"]
    for path in sorted((data / "images").glob("*.png")):
        patient = int(path.name[:8])
        lines.append(f"{path.name},{patient},{'train' if patient <= 4 else 'val' if patient <= 6 else 'test'}\n")
    (tmp_path / "split.csv").write_text("".join(lines), encoding="utf-8")
    return tmp_path


def test_report_scores_what_the_viewer_predicts(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = make_model_pair(folder / "models")
    out = folder / "report"
    status = main(["report", "--model", str(model), "--data", str(folder / "nih"), "--split-file",
                   str(folder / "split.csv"), "--out", str(out), "--tta", "flip", "--bootstrap", "20",
                   "--threads", "1"])
    assert status == 0
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert markdown in capsys.readouterr().out

    test_images = sorted((folder / "nih" / "images").glob("0000000[7-9]_*.png")) + sorted(
        (folder / "nih" / "images").glob("0000001[0-2]_*.png"))
    assert report["data"]["subset"] == "test" and report["data"]["evaluated"] == len(test_images) == 12

    # AUROC: recomputed here from the viewer's own Predictor and scikit-learn
    predictor = Predictor.open(model, threads=1)
    probs = np.stack([predictor.predict(p).probabilities for p in test_images])
    entries = {line.split(",")[0]: line.split(",")[1] for line in
               (folder / "nih" / "Data_Entry_2017_v2020.csv").read_text().splitlines()[1:]}
    checked = 0
    for j, label in enumerate(NIH_LABELS):
        y = np.array([label in entries[p.name].split("|") for p in test_images], float)
        entry = report["classification"]["plain"]["auroc"][label]
        if 0 < y.sum() < len(y):
            assert entry["value"] == pytest.approx(roc_auc_score(y, probs[:, j]), abs=1e-5)
            checked += 1
        else:
            assert entry is None
    assert checked >= 3

    # flip on this mirror-symmetric pair changes nothing
    tta = report["classification"]["tta"]
    assert tta["mode"] == "flip" and tta["max_abs_probability_change"] < 1e-5
    assert all(c is None or abs(c["change"]) < 1e-6 for c in tta["change"]["per_label"].values())
    assert tta["change"]["mean_change_ci95"] == [0.0, 0.0]

    # localisation: the three boxes of two test images, none of the training image's
    loc = report["localization"]
    assert loc["all"]["boxes"] == 3 and loc["images_with_boxes"] == 2
    assert set(loc["per_label"]) == {"Atelectasis", "Infiltration", "Nodule"}

    # expert labels: three test images have them (the fourth row is a training image)
    expert = report["expert_labels"]
    assert expert["images_with_expert_labels"] == 3
    assert expert["findings"]["Fracture"]["n_pos"] == 1 and expert["findings"]["Fracture"]["auroc"] is None

    # subgroups: the generated file's sexes; every image is PA
    assert report["subgroups"]["view"]["groups"] == ["PA"]
    assert sum(report["subgroups"]["sex"]["images"].values()) == 12
    for heading in ("## Classification", "## Localisation", "## Subgroups", "## Expert labels"):
        assert heading in markdown


def test_a_split_the_model_was_not_trained_with_is_refused(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # the card records another split; split.csv beside the model is used by default
    metrics = {"auroc": {x: None for x in NIH_LABELS}, "split": {"hash": "0" * 64}}
    model = make_model_pair(folder / "models", card_overrides={"metrics": metrics})
    (folder / "models" / "split.csv").write_text((folder / "split.csv").read_text(), encoding="utf-8")
    status = main(["report", "--model", str(model), "--data", str(folder / "nih"), "--out", str(folder / "r")])
    assert status == 1
    error = capsys.readouterr().err.strip().splitlines()
    assert "not the split this model was trained with" in error[-1] and error[-1].startswith("cxr-train: error:")
    assert not (folder / "r").exists()


def test_unreadable_images_are_named_and_the_rest_evaluated(folder: Path) -> None:
    model = make_model_pair(folder / "models")
    (folder / "nih" / "images" / "00000011_000.png").write_bytes(b"not a png")
    status = main(["report", "--model", str(model), "--data", str(folder / "nih"), "--split-file",
                   str(folder / "split.csv"), "--out", str(folder / "r"), "--bootstrap", "0"])
    assert status == 0
    report = json.loads((folder / "r" / "report.json").read_text(encoding="utf-8"))
    assert list(report["data"]["unreadable"]) == ["00000011_000.png"] and report["data"]["evaluated"] == 11
    assert "tta" not in report["classification"]


def test_a_subset_needs_a_split_file(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = make_model_pair(folder / "models")
    assert main(["report", "--model", str(model), "--data", str(folder / "nih"), "--subset", "val"]) == 1
    assert "--subset val needs --split-file" in capsys.readouterr().err
    assert SUBSETS == (*SPLITS, "all")
