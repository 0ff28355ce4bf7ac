"""The report's heatmap faithfulness section: which images it tests, and that its numbers are
``viewer.core.map_faithfulness`` run on those images (the oracle: the core function called here
on each image, with the viewer's own Predictor)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.factories import NIH_LABELS, make_model_pair
from tests.trainer.synthetic import make_dataset
from trainer.cli import main
from trainer.evaluation.faithfulness import choose_images, evaluate_faithfulness
from viewer.core.inference import Predictor
from viewer.core.map_faithfulness import map_faithfulness


def test_positives_come_first_by_probability_then_the_most_probable_others():
    targets = np.array([[0], [1], [0], [1], [0]])
    probabilities = np.array([[0.9], [0.2], [0.5], [0.4], [0.1]])
    assert choose_images(targets, probabilities, 0, 3) == [3, 1, 0]
    assert choose_images(targets, probabilities, 0, 10) == [3, 1, 0, 2, 4]
    assert choose_images(targets, probabilities, 0, 0) == []


def _region_model(batch: np.ndarray) -> np.ndarray:
    """Label 0 reads the top-left quarter, label 1 the bottom-right one."""
    x = batch[:, 0]
    return np.stack([x[:, :16, :16].mean(axis=(1, 2)), x[:, 16:, 16:].mean(axis=(1, 2))], axis=1)


def test_each_labels_mean_score_is_the_core_functions_on_its_images_with_an_interval():
    rng = np.random.default_rng(0)
    images = []
    for _ in range(4):
        image = rng.normal(0.1, 0.02, (32, 32))
        image[:16, :16] += 0.8  # bright where label 0 reads: the imputation fills it from the dark rest
        image[16:, 16:] += rng.uniform(0.2, 0.6)
        images.append(np.clip(image, 0, 1).astype(np.float32))
    heatmaps = rng.random((4, 2, 4, 4)).astype(np.float32)
    heatmaps[:, 0, :2, :2] += 2.0  # label 0's maps point at what it reads
    probabilities = _region_model(np.stack(images)[:, None])
    targets = np.array([[1, 0], [0, 0], [1, 1], [0, 0]])
    prepared: list[int] = []

    def prepare(row: int) -> np.ndarray:
        prepared.append(row)
        return images[row]

    section = evaluate_faithfulness(prepare, heatmaps, probabilities, targets, ("A", "B"), _region_model,
                                    count=3, resamples=200, seed=5)
    assert sorted(prepared) == sorted(set(prepared)), "an image was tested twice"
    for k, label in enumerate(("A", "B")):
        rows = choose_images(targets, probabilities, k, 3)
        oracle = [map_faithfulness(images[r], heatmaps[r, k], k, ("A", "B"), _region_model, seed=5) for r in rows]
        entry = section["per_label"][label]
        assert entry["n"] == 3 and entry["positives"] == int(targets[rows, k].sum())
        assert entry["mean"] == pytest.approx(np.mean([o.score for o in oracle]), abs=1e-4)
        assert entry["original"] == pytest.approx(np.mean([o.original for o in oracle]), abs=1e-4)
        low, high = entry["ci95"]
        assert low <= entry["mean"] <= high
    assert section["per_label"]["A"]["mean"] > 0.3  # its maps point at its quarter


def test_cxr_train_report_writes_the_faithfulness_section_and_skips_it_at_zero(tmp_path: Path) -> None:
    data = make_dataset(tmp_path / "nih", patients=4, per_patient=1)
    model = make_model_pair(tmp_path / "models")
    out = tmp_path / "report"
    assert main(["report", "--model", str(model), "--data", str(data), "--out", str(out), "--bootstrap", "20",
                 "--threads", "1", "--faithfulness-images", "2"]) == 0
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    section = report["faithfulness"]
    assert section["images_per_label"] == 2 and set(section["per_label"]) == set(NIH_LABELS)
    assert all(entry["n"] == 2 and -1 <= entry["mean"] <= 1 for entry in section["per_label"].values())
    # Atelectasis's first image: recomputed here with the viewer's Predictor and the core function
    predictor = Predictor.open(model, threads=1)
    paths = sorted((data / "images").glob("*.png"))
    findings = [predictor.predict(p) for p in paths]
    entries = dict(line.split(",")[:2] for line in (data / "Data_Entry_2017_v2020.csv").read_text().splitlines()[1:])
    targets = np.array([[label in entries[p.name].split("|") for label in NIH_LABELS] for p in paths], int)
    rows = choose_images(targets, np.stack([f.probabilities for f in findings]).astype(np.float64), 0, 2)
    oracle = [map_faithfulness(predictor.prepare(paths[r]), findings[r].heatmaps[0], 0, NIH_LABELS,
                               lambda x: predictor.model.classify(x)[0]).score for r in rows]
    assert section["per_label"]["Atelectasis"]["mean"] == pytest.approx(np.mean(oracle), abs=1e-3)
    assert "## Heatmap faithfulness" in (out / "report.md").read_text(encoding="utf-8")

    assert main(["report", "--model", str(model), "--data", str(data), "--out", str(tmp_path / "none"),
                 "--bootstrap", "0", "--threads", "1", "--faithfulness-images", "0"]) == 0
    assert json.loads((tmp_path / "none" / "report.json").read_text(encoding="utf-8"))["faithfulness"] is None
    assert "Heatmap faithfulness" not in (tmp_path / "none" / "report.md").read_text(encoding="utf-8")
