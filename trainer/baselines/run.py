"""One comparison from start to end: choose the images, read their features (one pass of the
network), train each baseline on each feature set, measure every column on the test images."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..data.labels import label_matrix
from ..errors import TrainerError
from .compare import Column, json_scores, measure_columns
from .features import FEATURE_SETS, PIXEL_SIZE, FeatureModel, Progress, extract_features
from .models import BASELINES, fit_and_score
from .selection import choose_images

Say = Callable[[str], None]


def _feature_title(features: str, arch: str, pixel_size: int) -> str:
    return f"{arch} features" if features == "pooled" else f"{pixel_size} px pixels"


def run_baselines(
    model: str | os.PathLike[str],
    data: str | os.PathLike[str],
    *,
    labels_csv: str | os.PathLike[str] | None = None,
    split_file: str | os.PathLike[str] | None = None,
    images: int | None = None,
    feature_sets: Sequence[str] = FEATURE_SETS,
    baselines: Sequence[str] = tuple(BASELINES),
    pixel_size: int = PIXEL_SIZE,
    threads: int | None = None,
    resamples: int = 1000,
    seed: int = 0,
    on_progress: Progress | None = None,
    say: Say | None = None,
) -> dict[str, Any]:
    """The comparison as one JSON-ready dict (``table.baselines_markdown`` writes it as Markdown).

    ``model`` is an exported pair's ``NAME.onnx``; the baselines train on the train + val images of
    the split (``selection``) and every column is measured on its test images.
    """
    unknown = [b for b in baselines if b not in BASELINES]
    if unknown or not baselines:
        raise TrainerError(f"unknown baseline(s) {', '.join(unknown) or '(none)'}; choose from {', '.join(BASELINES)}")
    if pixel_size < 1:
        raise TrainerError(f"--pixel-size must be at least 1, not {pixel_size}")
    path = Path(model)
    network = FeatureModel(path, threads)
    card = network.card
    labels = card.labels
    chosen = choose_images(data, path, (card.metrics.get("split") or {}).get("hash"), split_file=split_file,
                           labels_csv=labels_csv, images=images, seed=seed)
    started = time.perf_counter()
    everything = extract_features(network, chosen.train + chosen.test, feature_sets, pixel_size, on_progress)
    seconds_features = time.perf_counter() - started
    test_names = {s.image_index for s in chosen.test}
    is_test = np.array([s.image_index in test_names for s in everything.samples])
    train_samples = [s for s, t in zip(everything.samples, is_test) if not t]
    test_samples = [s for s, t in zip(everything.samples, is_test) if t]
    if not train_samples or not test_samples:
        raise TrainerError(f"{data}: after leaving out unreadable images, {len(train_samples)} training and "
                           f"{len(test_samples)} test images remain; both are needed")
    y_train, y_test = label_matrix(train_samples, labels), label_matrix(test_samples, labels)

    columns = [Column("network", f"Network ({card.name})", "network", "image", everything.probabilities[is_test])]
    started = time.perf_counter()
    for features in feature_sets:
        x = everything.sets[features]
        for name in baselines:
            title = f"{name} on {_feature_title(features, card.arch, pixel_size)}"
            if say:
                say(f"training {title} ({x.shape[1]} values per image, {len(train_samples)} images)")
            fitted = fit_and_score(name, x[~is_test], y_train, x[is_test], labels, seed, threads)
            columns.append(Column(f"{name}:{features}", title, name, features, fitted.scores, fitted.not_evaluable))
    seconds_training = time.perf_counter() - started
    groups = [s.patient_id for s in test_samples]
    described = "; ".join(
        f"{card.arch} features = the {everything.sets['pooled'].shape[1]} globally pooled activations the network's "
        "last linear layer reads" if f == "pooled" else
        f"{pixel_size} px pixels = the model's prepared input area-resized to {pixel_size}x{pixel_size}"
        for f in feature_sets)
    return {
        "model": {"path": str(path), "file": path.name, "name": card.name, "model_id": card.model_id,
                  "arch": card.arch, "input_size": list(network.input_size), "labels": list(labels),
                  "pooled_tensor": network.pooled_name},
        "data": {"folder": str(data), "labels_csv": str(chosen.labels_csv), **chosen.description,
                 "unreadable": everything.unreadable},
        "run": {"bootstrap": resamples, "seed": seed, "feature_sets": list(feature_sets),
                "baselines": list(baselines), "pixel_size": pixel_size, "features_described": described,
                "seconds_features": round(seconds_features, 1), "seconds_training": round(seconds_training, 1)},
        "positives": {label: {"train": int(y_train[:, j].sum()), "test": int(y_test[:, j].sum())}
                      for j, label in enumerate(labels)},
        "columns": measure_columns(columns, y_test, labels, groups, resamples, seed),
        "test_images": [s.image_index for s in test_samples],
        "scores": {c.key: json_scores(c.scores) for c in columns},
    }
