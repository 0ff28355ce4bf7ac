"""The images both models are compared on, and what each model says about them.

The images are the labelled images of ``--data`` (``trainer.report.sections.select_images``: any
dataset's reader), all of them, or one subset of ``--split-file``. Each model's card may record
the hash of the split it was trained with, and the two need not agree: comparing a model with
one trained elsewhere (another split, another dataset, an imported model) is what the command
is for. So the split file is checked against both cards, and:

* it matches both, or one card and the other records none: its test images are unseen by both
  as far as the cards say;
* it matches one card only: the images may include some the other model was trained on, and
  the comparison says so (``notes``) rather than refusing;
* it matches neither card while at least one records a split, and ``--subset`` is ``test`` or
  ``val``: refused, since the "held-out" images may have been trained on by either model
  (``--subset all``, or no split file, compares on every image and says that instead).

Each image is read once (``load_radiograph``) and prepared for each model by its own
``Predictor.prepare`` (the two may take different input sizes), so both see exactly what the
viewer would show them. Unreadable images are named and left out.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from viewer.core.inference import Predictor

from ..data.images import none_readable, prepared_in_chunks
from ..data.labels import DatasetReader, LabelledImages, Sample
from ..errors import TrainerError
from ..report.sections import select_images

CHUNK = 16  # images prepared at a time: bounds memory on a large test split
HELD_OUT = ("test", "val")

Progress = Callable[[int, int], None]


def card_split_hash(predictor: Predictor) -> str | None:
    """The hash of the split the model's card records (None: the card records none)."""
    split = predictor.card.metrics.get("split")
    value = split.get("hash") if isinstance(split, dict) else None
    return value if isinstance(value, str) else None


def split_notes(digest: str | None, subset: str, split_file: str | None, hashes: dict[str, str | None],
                names: dict[str, str]) -> tuple[dict[str, bool | None], list[str]]:
    """(per model: does the split file match its card (None: no file, or the card records no
    split), notes for the reader); refuses a held-out subset of a split that is neither model's."""
    notes: list[str] = []
    recorded = {key: h for key, h in hashes.items() if h is not None}
    if len(set(recorded.values())) > 1:
        notes.append(f"the models were trained on different splits (card hashes "
                     f"{', '.join(f'{names[k]} {h[:12]}' for k, h in recorded.items())}): images one model was "
                     "tested on may be images the other was trained on")
    if digest is None:
        notes.append("no split file: every labelled image, which may include images either model was trained on")
        return {key: None for key in hashes}, notes
    matches = {key: None if h is None else h == digest for key, h in hashes.items()}
    if recorded and not any(matches.values()) and subset in HELD_OUT:
        raise TrainerError(
            f"{split_file}: its lists (hash {digest[:12]}) are the split of neither model "
            f"({', '.join(f'{names[k]}: {h[:12]}' for k, h in recorded.items())}), so its '{subset}' images may have "
            "been trained on (pass a split.csv of a run that wrote one of the models, with the same --data, or "
            "--subset all to compare on every image)")
    for key, match in matches.items():
        if match is False:
            notes.append(f"{split_file} is not the split {names[key]} was trained with: {names[key]} may have "
                         f"been trained on some of these '{subset}' images")
        elif match is None:
            notes.append(f"{names[key]}'s card records no split: it may have been trained on some of these images")
    return matches, notes


@dataclass
class PairedPredictions:
    """What both models said about the readable images (row i = ``samples[i]``)."""

    samples: list[Sample]
    probabilities_a: np.ndarray  # [N, La] float64
    probabilities_b: np.ndarray  # [N, Lb]
    flags_a: np.ndarray  # [N, La] bool, at A's card thresholds (as the viewer flags)
    flags_b: np.ndarray  # [N, Lb]
    unreadable: dict[str, str] = field(default_factory=dict)  # image -> why


def predict_both(a: Predictor, b: Predictor, samples: Sequence[Sample],
                 on_progress: Progress | None = None) -> PairedPredictions:
    """Both models' probabilities and flags for every readable image, each image read once."""
    kept: list[Sample] = []
    outputs: dict[str, list[np.ndarray]] = {"pa": [], "pb": [], "fa": [], "fb": []}
    unreadable: dict[str, str] = {}
    for chunk, pairs in prepared_in_chunks(samples, lambda rg: (a.prepare(rg), b.prepare(rg)), CHUNK, unreadable,
                                           on_progress):
        for model, prepared, key in ((a, [p[0] for p in pairs], "a"), (b, [p[1] for p in pairs], "b")):
            findings = model.predict_batch(prepared)
            outputs["p" + key] += [x.probabilities for x in findings]
            outputs["f" + key] += [x.flags for x in findings]
        kept += chunk
    if not kept:
        raise none_readable(samples, unreadable)
    return PairedPredictions(
        samples=kept,
        probabilities_a=np.stack(outputs["pa"]).astype(np.float64),
        probabilities_b=np.stack(outputs["pb"]).astype(np.float64),
        flags_a=np.stack(outputs["fa"]).astype(bool),
        flags_b=np.stack(outputs["fb"]).astype(bool),
        unreadable=unreadable,
    )


def choose_images(
    data: str | os.PathLike[str], split_file: str | os.PathLike[str] | None, subset: str | None,
    labels_csv: str | os.PathLike[str] | None, reader: DatasetReader, hashes: dict[str, str | None],
    names: dict[str, str],
) -> tuple[list[Sample], LabelledImages, dict[str, Any]]:
    """(the images to compare on, the dataset's table, how they were chosen) as the module says."""
    selection, table = select_images(data, None, split_file, subset, labels_csv, reader)  # checked here, per card
    description = {k: v for k, v in selection.description.items() if k not in ("matches_card", "note")}
    matches, notes = split_notes(description.get("split_hash"), description["subset"],
                                 None if split_file is None else str(split_file), hashes, names)
    description["split_matches_card"] = matches
    description["notes"] = notes
    return selection.samples, table, description
