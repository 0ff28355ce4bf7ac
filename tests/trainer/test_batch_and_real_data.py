"""The trainer against its neighbours: the viewer's batch CSV, and the real NIH sample."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from tests.conftest import shared_path
from tests.factories import make_model_pair
from trainer.data.cache import PixelCache
from trainer.data.labels import label_matrix
from trainer.data.nih import load_labelled_images
from trainer.data.split import check_patients_disjoint, make_split
from trainer.evaluation.predictions import evaluate_predictions
from viewer.core.batch import run_batch
from viewer.core.nih import NIH_LABELS
from viewer.core.preprocess import preprocess


def test_the_viewer_batch_csv_is_read_unchanged(tiny_data: Path, tmp_path: Path) -> None:
    model = make_model_pair(tmp_path / "model")
    out = tmp_path / "batch.csv"
    run_batch(tiny_data / "images", out, model, threads=1)
    report = evaluate_predictions(out, data=tiny_data, resamples=50).to_dict()
    assert report["n_images"] == 48 and report["rows_not_ok"] == 0

    rows = list(csv.DictReader(open(out, newline="")))
    table = {s.image_index: s for s in load_labelled_images(tiny_data).samples}
    truth = label_matrix([table[r["Image Index"]] for r in rows], NIH_LABELS)
    for j, label in enumerate(NIH_LABELS):
        scores = [float(r[f"prob_{label}"]) for r in rows]
        assert report["auroc"][label]["value"] == pytest.approx(roc_auc_score(truth[:, j], scores), abs=1e-6)


@pytest.mark.shared_data
def test_the_nih_sample_splits_by_patient_with_every_finding_in_val_and_test() -> None:
    data = shared_path("nih-sample")
    table = load_labelled_images(data / "images")
    assert len(table.samples) == 501 and table.csv_path.name == "Data_Entry_2017_v2020.csv"
    split = make_split(table.samples, table.labels, "auto", data, 0.15, 0.2, seed=0)
    check_patients_disjoint(table.samples, split)
    assert "random" in split.method  # the sample has no official list files
    targets = table.targets()
    for name in ("val", "test"):
        positives = targets[list(split.indices(name))].sum(axis=0)
        assert (positives >= 2).all(), (name, dict(zip(NIH_LABELS, positives)))


@pytest.mark.shared_data
def test_real_pngs_are_cached_exactly_as_preprocess_prepares_them(tmp_path: Path) -> None:
    images = sorted(shared_path("nih-sample", "images").glob("*.png"))[:4]
    cache = PixelCache(tmp_path, 224, "float32")
    rows, report = cache.ensure(images)
    assert not report.errors
    for path, row in zip(images, rows):
        np.testing.assert_array_equal(cache.open()[row], preprocess(path, 224, 224))
