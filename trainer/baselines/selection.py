"""Which images the baselines train on and which they are tested on.

The split is, in this order of preference:

1. ``--split-file``: a run's ``split.csv``, as ``cxr-train report`` takes it;
2. ``split.csv`` beside the model (``cxr-train report``'s default: the run's own folder);
3. the project's ``configs/demo-split.csv`` (the bundled demo model's split) when its lists hash
   to the split the model's card records, on this data;
4. otherwise a patient-level split made as ``cxr-train train`` makes it by default (``random``:
   stratified by patient, 70/10/20, seed ``--seed``).

A split file whose lists do not hash to the card's split is refused, as the report refuses it:
its test images might include images the network was trained on, which would flatter the
network's column (and its pooled features). The baselines train on ``train`` + ``val`` (they
have no hyper-parameters to tune on ``val``) and are tested, like the network, on ``test``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import TrainConfig
from ..data.labels import Sample
from ..data.nih import load_labelled_images
from ..data.split import Split, make_split, read_split_csv, split_hash
from ..errors import TrainerError

# the project's copy of the demo model's split (in a source checkout; a wheel has none)
DEMO_SPLIT = Path(__file__).resolve().parents[2] / "configs" / "demo-split.csv"


@dataclass
class Chosen:
    """Training and test images, and how they were chosen (for the report)."""

    train: list[Sample]
    test: list[Sample]
    labels_csv: Path
    description: dict[str, Any]


def _read_checked(split_file: Path, samples: list[Sample], card_split_hash: str | None) -> tuple[Split, str]:
    """The split of ``split_file`` and its hash; refused when it is not the card's split."""
    split = read_split_csv(split_file, samples)
    digest = split_hash(samples, split)
    if card_split_hash is not None and digest != card_split_hash:
        raise TrainerError(
            f"{split_file}: its lists (hash {digest[:12]}) are not the split this model was trained with "
            f"(hash {card_split_hash[:12]} in its card), so its test images may have been trained on "
            "(pass the split.csv of the run that wrote this model, with the same --data)")
    return split, digest


def _split_of(samples: list[Sample], labels: tuple[str, ...], folder: Path, model: Path,
              card_split_hash: str | None, split_file: str | os.PathLike[str] | None,
              seed: int) -> tuple[Split, str, Path | None, str]:
    """(split, its hash, the file it came from or None, why it was chosen) in the module's order."""
    if split_file is not None:
        return *_read_checked(Path(split_file), samples, card_split_hash), Path(split_file), "--split-file"
    beside = model.parent / "split.csv"
    if beside.is_file():
        return (*_read_checked(beside, samples, card_split_hash), beside,
                "the split.csv beside the model (its run's)")
    if card_split_hash is not None and DEMO_SPLIT.is_file():
        try:
            return (*_read_checked(DEMO_SPLIT, samples, card_split_hash), DEMO_SPLIT,
                    "the demo model's split, whose hash matches the card's")
        except TrainerError:
            pass  # other data or another model: not this model's split, so not a candidate
    defaults = TrainConfig()  # the split cxr-train train makes by default
    split = make_split(samples, labels, defaults.split, folder, defaults.val_fraction, defaults.test_fraction, seed)
    return split, split_hash(samples, split), None, f"no split file: a new {defaults.split} patient-level split"


def choose_images(
    data: str | os.PathLike[str], model: Path, card_split_hash: str | None, *,
    split_file: str | os.PathLike[str] | None = None, labels_csv: str | os.PathLike[str] | None = None,
    images: int | None = None, seed: int = 0,
) -> Chosen:
    """Train (train + val) and test images of ``data``; ``images`` keeps N of them, the first by
    name of each side in the split's proportions (the split is checked on all the images first, so
    a capped run keeps the model's split)."""
    table = load_labelled_images(data, labels_csv)
    split, digest, used, how = _split_of(table.samples, table.labels, table.csv_path.parent, model,
                                         card_split_hash, split_file, seed)
    train_indices, test_indices = sorted(split.train + split.val), sorted(split.test)
    if images is not None:
        if images < 2:
            raise TrainerError(f"--images must be at least 2 (one to train on, one to test), not {images}")
        n_test = min(len(test_indices), max(1, round(images * len(test_indices) / len(table.samples))))
        train_indices, test_indices = train_indices[:max(0, images - n_test)], test_indices[:n_test]
    train, test = [table.samples[i] for i in train_indices], [table.samples[i] for i in test_indices]
    if not train or not test:
        raise TrainerError(f"{data}: the split has {len(train)} training and {len(test)} test images; both "
                           "are needed (use more images)")
    description = {
        "split_file": None if used is None else str(used), "chosen_because": how,
        "split_method": split.method, "split_hash": digest,
        "matches_card": None if card_split_hash is None else digest == card_split_hash,
        "images_found": len(table.samples), "images_cap": images,
        "train_images": len(train), "test_images": len(test), "trained_on": "train + val",
    }
    if card_split_hash is not None and digest != card_split_hash:
        description["note"] = ("this split is not the one in the model's card: the network may have been trained on "
                               "some of the test images (pass --split-file with its run's split.csv)")
    return Chosen(train, test, table.csv_path, description)
