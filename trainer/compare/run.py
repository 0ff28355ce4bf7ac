"""One comparison from start to end: open both pairs, pair their labels, choose the images, run
both models on each image, measure; the result is one JSON-ready dict (``markdown`` writes it)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from viewer.core.inference import Predictor

from ..data.readers import dataset_reader, settle_dataset
from ..errors import TrainerError
from ..evaluation.external import model_targets
from .figures import SPECIFICITY, label_figures, pair_targets, top_changes
from .images import Progress, card_split_hash, choose_images, predict_both
from .pairing import pair_labels

DEFAULT_TOP = 10


def _model_entry(path: Path, predictor: Predictor, split_hash: str | None) -> dict[str, Any]:
    card = predictor.card
    return {"path": str(path), "name": card.name, "model_id": card.model_id, "arch": card.arch,
            "input_size": list(predictor.input_size), "labels": list(card.labels),
            "thresholds_rule": card.thresholds.get("rule"), "split_hash": split_hash}


def build_comparison(
    model_a: str | os.PathLike[str],
    model_b: str | os.PathLike[str],
    data: str | os.PathLike[str],
    *,
    labels_csv: str | os.PathLike[str] | None = None,
    split_file: str | os.PathLike[str] | None = None,
    subset: str | None = None,
    dataset: str = "auto",
    uncertainty: str | None = None,
    threads: int | None = None,
    resamples: int = 1000,
    seed: int = 0,
    top: int = DEFAULT_TOP,
    on_progress: Progress | None = None,
) -> dict[str, Any]:
    """Model A against model B on the labelled images of ``data`` (module doc); problems the user
    can fix raise ``CxrError`` (a missing model, labels that do not pair, a split of neither)."""
    if top < 0:
        raise TrainerError(f"--top must be 0 or more, not {top}")
    paths = {"a": Path(model_a), "b": Path(model_b)}
    predictors = {key: Predictor.open(path, threads=threads, cache_size=0) for key, path in paths.items()}
    pairing = pair_labels(predictors["a"].labels, predictors["b"].labels)
    if not pairing.pairs:
        raise TrainerError(f"{paths['b'].name}: none of its labels is one of {paths['a'].name}'s, by name or by "
                           "the taxonomy's findings: nothing to compare")
    dataset, uncertainty = settle_dataset(dataset, uncertainty, data, labels_csv)
    names = {key: f"{key.upper()} ({path.name})" for key, path in paths.items()}
    hashes = {key: card_split_hash(p) for key, p in predictors.items()}
    samples, table, description = choose_images(data, split_file, subset, labels_csv,
                                                dataset_reader(dataset, uncertainty), hashes, names)
    started = time.perf_counter()
    predictions = predict_both(predictors["a"], predictors["b"], samples, on_progress)
    seconds = time.perf_counter() - started
    targets_a = model_targets(predictions.samples, table, dataset, predictors["a"].labels)
    targets_b = model_targets(predictions.samples, table, dataset, predictors["b"].labels)
    targets, conflicts = pair_targets(targets_a.targets, targets_b.targets, pairing.pairs)
    figures = label_figures(predictions, targets, pairing.pairs, resamples, seed)
    limits = {key: p.card.threshold_values() for key, p in predictors.items()}
    for pair in pairing.pairs:  # the thresholds the flips are counted at
        figures["per_label"][pair.name].update(threshold_a=round(float(limits["a"][pair.a]), 6),
                                               threshold_b=round(float(limits["b"][pair.b]), 6))
    not_annotated = [p.name for k, p in enumerate(pairing.pairs) if np.isnan(targets[:, k]).all()]
    if conflicts:
        description["notes"].append(f"{conflicts} targets left out: the two models' labels map to different "
                                    "findings of the dataset there")
    return {
        "models": {key: _model_entry(paths[key], predictors[key], hashes[key]) for key in paths},
        "data": {"folder": str(data), "dataset": dataset, "uncertainty": uncertainty,
                 "labels_csv": str(table.csv_path), **description, "evaluated": len(predictions.samples),
                 "unreadable": predictions.unreadable, "not_annotated": not_annotated},
        "pairing": pairing.to_dict(),
        **figures,
        "top_changes": top_changes(predictions, targets, pairing.pairs, top),
        "run": {"bootstrap": resamples, "seed": seed, "top": top, "specificity": SPECIFICITY,
                "seconds_predicting": round(seconds, 1),
                "how": "both exported ONNX pairs via viewer.core.inference.Predictor, each image read once and "
                       "prepared by each model's Predictor.prepare; flags at each card's thresholds"},
    }
