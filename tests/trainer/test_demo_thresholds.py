"""The demo model's flags mean something (issue 23): on its test split, at the card's thresholds
(fitted on validation only), it flags between 0.5x and 2x as many findings per image as the
images carry; the card says how each threshold was found. Needs the NIH sample in
../shared/data (skipped without it)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from viewer.core.findings import flags_at
from viewer.core.model import ModelPair
from viewer.core.nih import read_data_entry
from viewer.core.onnx_card import read_card
from viewer.core.preprocess import preprocess

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "data" / "nih-sample"
MODEL = REPO / "resources" / "models" / "demo.onnx"


def split(name: str) -> list[str]:
    with open(REPO / "configs" / "demo-split.csv", newline="", encoding="utf-8") as handle:
        return [row["Image Index"] for row in csv.DictReader(handle) if row["split"].strip() == name]


def test_the_demo_card_records_how_each_threshold_was_found() -> None:
    card = read_card(MODEL)
    assert card.thresholds["rule"].startswith("prevalence:")
    for label in card.labels:
        entry = card.thresholds["per_label"][label]
        assert entry["rule"] == "prevalence" and entry["prevalence_source"] == "training split"
        assert entry["val_positives"] + entry["val_negatives"] == len(split("val")) == 50
        assert 0 <= entry["val_sensitivity"] <= 1 and 0 <= entry["val_specificity"] <= 1
        assert entry["val_positives"] >= 10 or "fewer than 10" in entry["guard"]  # 50 images: all guarded
    points = card.metrics["operating_points"]
    assert {x: points["per_label"][x]["threshold"] for x in card.labels} == card.thresholds["values"]
    assert points["rule"] == card.thresholds["rule"]
    assert points["per_image"]["images"] == 100 and 0.5 <= points["per_image"]["ratio"] <= 2.0


@pytest.mark.skipif(not (DATA / "Data_Entry_2017_v2020.csv").is_file(),
                    reason="needs the NIH sample in ../shared/data/nih-sample (see its README)")
def test_the_demo_flags_between_half_and_twice_the_true_labels_on_its_test_split() -> None:
    pair = ModelPair.open(MODEL, threads=2)
    names = split("test")
    entries = read_data_entry(DATA / "Data_Entry_2017_v2020.csv")
    truth = np.array([[label in entries[n].labels for label in pair.labels] for n in names])
    probabilities = np.concatenate([
        pair.classify(np.stack([preprocess(DATA / "images" / n, 224, 224) for n in names[i:i + 20]])[:, None])[0]
        for i in range(0, len(names), 20)])
    flags = flags_at(probabilities, pair.card.threshold_values(), pair.labels)
    flags_per_image, labels_per_image = flags.sum(axis=1).mean(), truth.sum(axis=1).mean()
    assert 0.5 * labels_per_image <= flags_per_image <= 2.0 * labels_per_image
    # the card's test figures are these images' at these thresholds
    recorded = pair.card.metrics["operating_points"]
    assert recorded["per_image"]["flags"] == pytest.approx(flags_per_image, abs=1e-6)
    assert recorded["per_image"]["true_labels"] == pytest.approx(labels_per_image, abs=1e-6)
    for j, label in enumerate(pair.labels):
        assert recorded["per_label"][label]["tp"] == int((flags[:, j] & truth[:, j]).sum()), label
        assert recorded["per_label"][label]["fp"] == int((flags[:, j] & ~truth[:, j]).sum()), label
