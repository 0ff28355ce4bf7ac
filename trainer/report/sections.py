"""The report's sections: the chosen images, what the exported pair says about them, the measures.

The model is the exported ONNX pair, run through ``viewer.core.inference.Predictor``: each
image is read and prepared by THE preprocessing (``Predictor.prepare``), probabilities come from
the classifier (calibration inside) and maps from the Grad-CAM sidecar, exactly as the viewer
computes them. So the report measures what a user sees, not a PyTorch model that may differ
from it by export, calibration or preprocessing. On the chosen images it measures (for
``report.json`` and ``report.md``), with the modules of ``trainer.evaluation``:

1. AUROC per label (patient bootstrap 95% interval) beside the card's test AUROC and, with
   ``--tta``, beside the AUROC of the test-time-augmented probabilities (``tta.py``);
2. localisation on NIH's ``BBox_List_2017.csv`` beside Wang et al. 2017's table, or on VinDr-CXR's
   or RSNA's boxes (``localize.py``);
3. AUROC by sex, age band and view position with counts (``subgroups.py``);
4. AUROC against Google's adjudicated labels where present (``expert_labels.py``);
5. heatmap faithfulness, a deletion test of the maps on a fixed subset (``faithfulness.py``).

The images are those of ``--subset`` in ``--split-file`` (a run's ``split.csv``; by default the
one beside the model, if any). A split file whose lists do not hash to the card's recorded split
is refused: the "test" images might then include images the model was trained on.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from viewer.core.boxes import BoxTable, find_bbox_csv
from viewer.core.inference import Predictor
from viewer.core.loader import load_radiograph
from viewer.core.preprocess import preprocess
from viewer.core.radiograph import Radiograph

from ..data.images import none_readable, prepared_in_chunks
from ..data.labels import DatasetReader, LabelledImages, Sample
from ..data.nih import load_labelled_images
from ..data.readers import dataset_reader, settle_dataset
from ..data.split import SUBSETS, read_split_csv, split_hash
from ..errors import TrainerError
from ..evaluation import expert_labels, faithfulness, localize, subgroups
from ..evaluation.external import ModelTargets, model_targets
from ..evaluation.metrics import evaluate_scores
from ..evaluation.tta import TTA_MODES, paired_auroc_change, prepare_size, tta_probabilities

CHUNK = 16  # images prepared at a time: bounds memory on a 25,000-image test split

Progress = Callable[[int, int], None]


@dataclass
class Selection:
    """The images to evaluate and how they were chosen."""

    samples: list[Sample]
    description: dict[str, Any]


@dataclass
class Predictions:
    """What the model pair said about the readable images (row i = ``samples[i]``)."""

    samples: list[Sample]
    probabilities: np.ndarray  # [N, L]
    heatmaps: np.ndarray  # [N, L, h, w] raw Grad-CAM
    tta: np.ndarray | None  # [N, L] mean over the TTA views, or None
    unreadable: dict[str, str] = field(default_factory=dict)
    sizes: list[tuple[int, int]] = field(default_factory=list)  # (width, height) as read: VinDr's boxes need it


# -- choosing and predicting ---------------------------------------------------------------------------
def select_images(
    data: str | os.PathLike[str], card_split_hash: str | None, split_file: str | os.PathLike[str] | None,
    subset: str | None, labels_csv: str | os.PathLike[str] | None = None,
    reader: DatasetReader = load_labelled_images,
) -> tuple[Selection, LabelledImages]:
    """The labelled images of ``subset`` (and all that ``reader`` found, with its label file)."""
    table = reader(data, labels_csv)
    if split_file is None:
        if subset not in (None, "all"):
            raise TrainerError(f"--subset {subset} needs --split-file "
                               "(the split.csv of the run that trained the model)")
        return Selection(table.samples, {"subset": "all", "split_file": None, "images": len(table.samples),
                                         "note": "no split file: every labelled image, which may include "
                                                 "images the model was trained on"}), table
    subset = subset or "test"
    if subset not in SUBSETS:
        raise TrainerError(f"--subset must be one of {', '.join(SUBSETS)}, not {subset!r}")
    split = read_split_csv(Path(split_file), table.samples)
    digest = split_hash(table.samples, split)
    if card_split_hash is not None and digest != card_split_hash:
        raise TrainerError(
            f"{split_file}: its lists (hash {digest[:12]}) are not the split this model was trained with "
            f"(hash {card_split_hash[:12]} in its card), so its '{subset}' images may have been trained on "
            "(pass the split.csv of the run that wrote this model, with the same --data)"
        )
    indices = range(len(table.samples)) if subset == "all" else split.indices(subset)
    samples = [table.samples[i] for i in indices]
    if not samples:
        raise TrainerError(f"{split_file}: the '{subset}' split has no images under {data}")
    return Selection(samples, {"subset": subset, "split_file": str(split_file), "images": len(samples),
                               "split_hash": digest, "matches_card": True if card_split_hash else None,
                               "sizes": split.sizes()}), table


def predict(predictor: Predictor, samples: list[Sample], tta: str = "none",
            on_progress: Progress | None = None) -> Predictions:
    """Probabilities and maps of every readable image; with ``tta``, the augmented probabilities.

    Unreadable images are left out and named in ``unreadable`` (never silently).
    """
    size = predictor.input_size
    big = prepare_size(tta, size)
    kept: list[Sample] = []
    probabilities, heatmaps, augmented = [], [], []
    sizes: list[tuple[int, int]] = []
    unreadable: dict[str, str] = {}

    def prepare(radiograph: Radiograph) -> tuple[np.ndarray, np.ndarray | None, tuple[int, int]]:
        # decoded once, prepared at one or two sizes; the size as read (VinDr's boxes need it)
        bigger = preprocess(radiograph, *big) if tta == "tencrop" else None
        return predictor.prepare(radiograph), bigger, (radiograph.width, radiograph.height)

    for chunk, made in prepared_in_chunks(samples, prepare, CHUNK, unreadable, on_progress):
        prepared = [m[0] for m in made]
        sizes += [m[2] for m in made]
        findings = predictor.predict_batch(prepared)
        probabilities += [f.probabilities for f in findings]
        heatmaps += [f.heatmaps for f in findings]
        if tta != "none":
            views_of = [m[1] for m in made if m[1] is not None] if tta == "tencrop" else prepared
            augmented.append(tta_probabilities(lambda x: predictor.model.classify(x)[0], views_of, tta, size))
        kept += chunk
    if not kept:
        raise none_readable(samples, unreadable)
    return Predictions(
        samples=kept,
        probabilities=np.stack(probabilities).astype(np.float64),
        heatmaps=np.stack(heatmaps),
        tta=np.concatenate(augmented) if augmented else None,
        unreadable=unreadable,
        sizes=sizes,
    )


# -- the sections ---------------------------------------------------------------------------------------
def classification_section(predictions: Predictions, targets: ModelTargets, card_metrics: dict[str, Any],
                           tta: str, resamples: int, seed: int) -> dict[str, Any]:
    """AUROC per label (with interval) on this data beside the card's test AUROC (the internal
    test split), and with TTA when asked. ``targets``: the model's labels as this dataset gives
    them (NaN where unknown: left out)."""
    labels = targets.label_map.target_labels
    groups = [s.patient_id for s in predictions.samples]
    plain = evaluate_scores(targets.targets, predictions.probabilities, labels, resamples, seed, groups=groups)
    section: dict[str, Any] = {"dataset": targets.dataset, "not_annotated": list(targets.not_annotated),
                               "plain": plain.to_dict(), "card_test_auroc": {
        label: (entry["value"] if isinstance(entry, dict) else entry)
        for label, entry in (card_metrics.get("auroc") or {}).items()},
        "card_mean_auroc": card_metrics.get("mean_auroc")}
    if predictions.tta is not None:
        augmented = evaluate_scores(targets.targets, predictions.tta, labels, resamples, seed, groups=groups)
        change = paired_auroc_change(targets.targets, predictions.probabilities, predictions.tta, labels, resamples,
                                     seed, groups)
        max_change = float(np.abs(predictions.tta - predictions.probabilities).max())
        section["tta"] = {"mode": tta, "report": augmented.to_dict(), "change": change,
                          "max_abs_probability_change": round(max_change, 6)}
    return section


def subgroup_section(predictions: Predictions, targets: ModelTargets) -> dict[str, Any]:
    """Subgroup AUROCs by the label file's sex, age and view of each image (unknown where the
    dataset's file does not give one)."""
    rows = predictions.samples
    attributes = {
        "sex": [s.sex if s.sex in ("F", "M") else None for s in rows],
        "age": [subgroups.age_band(s.age) for s in rows],
        "view": [s.view if s.view in ("PA", "AP") else None for s in rows],
    }
    labels = targets.label_map.target_labels
    return subgroups.subgroup_aurocs(targets.targets, predictions.probabilities, labels, attributes)


def build_report(
    model: str | os.PathLike[str],
    data: str | os.PathLike[str],
    *,
    labels_csv: str | os.PathLike[str] | None = None,
    split_file: str | os.PathLike[str] | None = None,
    subset: str | None = None,
    tta: str = "none",
    bbox_csv: str | os.PathLike[str] | None = None,
    expert_csv: str | os.PathLike[str] | None = None,
    threads: int | None = None,
    resamples: int = 1000,
    seed: int = 0,
    on_progress: Progress | None = None,
    dataset: str = "auto",
    uncertainty: str | None = None,
    faithfulness_images: int = faithfulness.DEFAULT_IMAGES,
) -> dict[str, Any]:
    """Every section of the report as one JSON-ready dict; ``dataset`` says whose labels ``data``
    has (``auto``: from the label file found), the model's labels paired with them by the taxonomy
    (``faithfulness_images`` 0: no faithfulness section)."""
    if tta not in TTA_MODES:
        raise TrainerError(f"--tta must be one of {', '.join(TTA_MODES)}, not {tta!r}")
    dataset, uncertainty = settle_dataset(dataset, uncertainty, data, labels_csv)
    predictor = Predictor.open(model, threads=threads, cache_size=0)
    card = predictor.card
    selection, table = select_images(data, (card.metrics.get("split") or {}).get("hash"), split_file, subset,
                                     labels_csv, dataset_reader(dataset, uncertainty))
    csv_path = table.csv_path
    started = time.perf_counter()
    predictions = predict(predictor, selection.samples, tta, on_progress)
    names = [s.image_index for s in predictions.samples]
    labels = card.labels
    targets = model_targets(predictions.samples, table, dataset, labels)

    bbox_path = Path(bbox_csv) if bbox_csv else find_bbox_csv(Path(data))
    # Google's expert labels are of NIH images, by NIH file name
    expert_path = (Path(expert_csv) if expert_csv else expert_labels.find_expert_labels(Path(data))
                   if dataset == "nih" else None)
    report: dict[str, Any] = {
        "model": {"path": str(model), "name": card.name, "model_id": card.model_id, "arch": card.arch,
                  "input_size": list(predictor.input_size), "labels": list(labels)},
        "data": {"folder": str(data), "dataset": dataset, "uncertainty": uncertainty,
                 "labels_csv": str(csv_path), **selection.description,
                 "evaluated": len(names), "unreadable": predictions.unreadable},
        "run": {"tta": tta, "bootstrap": resamples, "seed": seed,
                "seconds_predicting": round(time.perf_counter() - started, 1),
                "how": "exported ONNX pair via viewer.core.inference.Predictor (Predictor.prepare = THE "
                       "preprocessing); TTA probabilities from ModelPair.classify on views of those pixels"},
        "classification": classification_section(predictions, targets, card.metrics, tta, resamples, seed),
        "subgroups": subgroup_section(predictions, targets),
    }
    if bbox_path is not None:
        report["localization"] = localize.evaluate_localization(names, predictions.heatmaps, labels,
                                                                BoxTable.load(bbox_path), predictions.sizes)
    else:
        report["localization"] = None
        report["data"]["note_localization"] = ("no box list (BBox_List_2017.csv, VinDr-CXR's or RSNA's) found "
                                               "beside the data (pass --bbox-csv)")
    if expert_path is not None:
        section = expert_labels.evaluate_expert_labels(
            names, predictions.probabilities, labels, expert_labels.read_expert_labels(expert_path),
            nih_labels=[s.labels for s in predictions.samples])
        report["expert_labels"] = {"source": str(expert_path), **section}
    else:
        report["expert_labels"] = None
        report["data"]["note_expert_labels"] = ("no google2019_nih-chest-xray-labels.csv found beside the data "
                                                "(pass --expert-labels)")
    report["faithfulness"] = faithfulness_section(predictor, predictions, targets, faithfulness_images, resamples,
                                                  seed) if faithfulness_images > 0 else None
    return report


def faithfulness_section(predictor: Predictor, predictions: Predictions, targets: ModelTargets, count: int,
                         resamples: int, seed: int) -> dict[str, Any]:
    """The deletion test of the maps on up to ``count`` images per label (the images read again;
    a label's positives first, by this dataset's targets in the model's labels)."""
    model = predictor.model
    return faithfulness.evaluate_faithfulness(
        lambda row: predictor.prepare(load_radiograph(predictions.samples[row].path)), predictions.heatmaps,
        predictions.probabilities, targets.targets, targets.label_map.target_labels,
        lambda batch: model.classify(batch)[0], batch=model.batch_limit, count=count, resamples=resamples, seed=seed)
