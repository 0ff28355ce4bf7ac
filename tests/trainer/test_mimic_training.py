"""A MIMIC-CXR-JPG run end to end on generated tables and images in the published layout: its
own split (``--split official``), CheXpert's 13 labels with uncertain findings left out, the
exported model scored again by ``cxr-train evaluate`` on the same labels (issue 21)."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from trainer.cli import main
from trainer.data.chexpert import CHEXPERT_LABELS
from viewer.core.model import ModelPair


def _write_gz(path: Path, rows: list[list[object]]) -> None:
    with gzip.open(path, "wt", newline="") as handle:
        csv.writer(handle).writerows(rows)


def make_mimic_for_training(root: Path, subjects: int = 24, seed: int = 0) -> Path:
    """``subjects`` patients of two frontal 64 px studies each; the last 4 validate, the 4 before
    test; findings drawn as bright squares so the model has something to learn; some uncertain."""
    rng = np.random.default_rng(seed)
    labels = [["subject_id", "study_id", "No Finding", *CHEXPERT_LABELS]]
    meta = [["dicom_id", "subject_id", "study_id", "ViewPosition"]]
    split = [["dicom_id", "study_id", "subject_id", "split"]]
    n = 0
    for k in range(subjects):
        subject = 10000000 + k
        part = "validate" if k >= subjects - 4 else "test" if k >= subjects - 8 else "train"
        for s in range(2):
            study, dicom_id = 50000000 + n, f"{n:04d}abcd-{k:03d}"
            codes = {CHEXPERT_LABELS[n % len(CHEXPERT_LABELS)]: "1.0"}
            codes.setdefault(CHEXPERT_LABELS[(n * 7) % len(CHEXPERT_LABELS)], "-1.0")
            pixels = rng.normal(100, 20, (64, 64))
            for label, code in codes.items():
                if code == "1.0":
                    y, x = divmod(CHEXPERT_LABELS.index(label), 4)
                    pixels[y * 16:(y + 1) * 16, x * 16:(x + 1) * 16] += 80
            image = root / "files" / f"p{str(subject)[:2]}" / f"p{subject}" / f"s{study}" / f"{dicom_id}.jpg"
            image.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(image), np.clip(pixels, 0, 255).astype(np.uint8))
            labels.append([subject, study, "", *[codes.get(x, "") for x in CHEXPERT_LABELS]])
            meta.append([dicom_id, subject, study, "PA" if s == 0 else "AP"])
            split.append([dicom_id, study, subject, part])
            n += 1
    _write_gz(root / "mimic-cxr-2.0.0-chexpert.csv.gz", labels)
    _write_gz(root / "mimic-cxr-2.0.0-metadata.csv.gz", meta)
    _write_gz(root / "mimic-cxr-2.0.0-split.csv.gz", split)
    return root


def test_a_mimic_run_trains_on_its_published_split_and_is_evaluated_again(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = make_mimic_for_training(tmp_path / "mimic")
    out = tmp_path / "run"
    code = main(["train", "--data", str(data), "--split", "official", "--uncertainty", "ignore", "--out", str(out),
                 "--arch", "tiny", "--size", "64", "--epochs", "2", "--batch-size", "8", "--warmup-epochs", "0.5",
                 "--bootstrap", "20", "--gallery", "0", "--threads", "1", "--log-every", "0", "--ood-sample", "20",
                 "--calibration", "none"])
    assert code == 0, capsys.readouterr().err
    summary = json.loads(capsys.readouterr().out)
    pair = ModelPair.open(summary["model"])
    assert tuple(pair.card.labels) == CHEXPERT_LABELS
    rows = list(csv.DictReader((out / "split.csv").open()))
    by_split: dict[str, set[str]] = {}
    for row in rows:
        by_split.setdefault(row["split"], set()).add(row["Image Index"])
    assert len(by_split["test"]) == 8 and len(by_split["val"]) == 8 and len(by_split["train"]) == 32
    # the run's own test predictions, scored again from the outside, give the run's figures
    report = tmp_path / "again.json"
    assert main(["evaluate", "--predictions", str(out / "predictions_test.csv"), "--data", str(data),
                 "--uncertainty", "ignore", "--bootstrap", "20", "--json", str(report)]) == 0
    again = json.loads(report.read_text())
    metrics = json.loads((out / "metrics.json").read_text())["metrics"]
    assert again["dataset"] == "mimic" and again["n_images"] == 8
    for label in CHEXPERT_LABELS:
        theirs, ours = metrics["auroc"][label], again["auroc"][label]
        assert (theirs is None) == (ours is None), label
        if ours is not None:
            assert ours["value"] == pytest.approx(theirs["value"], abs=1e-4)
            assert (ours["n_pos"], ours["n_neg"]) == (theirs["n_pos"], theirs["n_neg"])
