"""``--split official`` for datasets whose label files publish each image's split (issue 21)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.trainer.test_dataset_option import make_chexpert_for_training
from trainer.data.chexpert import load_chexpert
from trainer.data.labels import Sample
from trainer.data.split import make_split
from trainer.errors import TrainerError


def _samples(splits: list[str | None]) -> list[Sample]:
    # two images per patient, each patient's images in one published split
    return [Sample(Path(f"{i}.png"), f"{i}.png", i // 2, ("A",) if i % 3 == 0 else (), "PA", official_split=s)
            for i, s in enumerate(splits)]


def test_a_published_train_validate_test_split_is_used_as_it_is() -> None:
    splits = ["train"] * 40 + ["val"] * 10 + ["test"] * 10 + [None] * 2
    samples = _samples(splits)
    split = make_split(samples, ("A",), "official", Path("."), 0.1, 0.2, seed=0)
    assert split.train == tuple(range(40)) and split.val == tuple(range(40, 50))
    assert split.test == tuple(range(50, 60))
    assert "published split" in split.method and "2 images in no published split" in split.method
    assert make_split(samples, ("A",), "auto", Path("."), 0.1, 0.2, seed=0) == split
    assert make_split(samples, ("A",), "random", Path("."), 0.1, 0.2, seed=0) != split


def test_chexpert_valid_is_the_test_split_and_validation_comes_from_train(tmp_path: Path) -> None:
    top = make_chexpert_for_training(tmp_path, patients=20)
    table = load_chexpert(top)
    split = make_split(table.samples, table.labels, "official", top, 0.2, 0.2, seed=3)
    published_valid = {i for i, s in enumerate(table.samples) if s.official_split == "val"}
    assert set(split.test) == published_valid and published_valid
    train_patients = {table.samples[i].patient_id for i in split.train}
    val_patients = {table.samples[i].patient_id for i in split.val}
    assert val_patients and not (train_patients & val_patients)
    assert all(table.samples[i].official_split == "train" for i in (*split.train, *split.val))
    assert "validation images as test" in split.method


def test_official_without_a_published_split_or_nih_lists_is_refused(tmp_path: Path) -> None:
    samples = _samples([None] * 10)
    with pytest.raises(TrainerError, match="--split official needs"):
        make_split(samples, ("A",), "official", tmp_path, 0.1, 0.2, seed=0)
    with pytest.raises(TrainerError, match="publish no test or validation split"):
        make_split(_samples(["train"] * 10), ("A",), "official", tmp_path, 0.1, 0.2, seed=0)
