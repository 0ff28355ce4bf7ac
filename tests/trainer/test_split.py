"""trainer.split: by-patient splits (stratified, official lists, split files)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from trainer.data import Sample, label_matrix
from trainer.errors import TrainerError
from trainer.split import (
    Split,
    check_patients_disjoint,
    make_split,
    read_split_csv,
    split_hash,
    stratified_patient_split,
    write_split_csv,
)
from viewer.core.nih import NIH_LABELS


def synthetic_samples(patients: int = 400, seed: int = 0) -> list[Sample]:
    """Patients with 1-4 images; findings with prevalences from 2% to 30%."""
    rng = np.random.default_rng(seed)
    prevalence = np.linspace(0.02, 0.3, len(NIH_LABELS))
    samples = []
    for patient in range(1, patients + 1):
        for follow_up in range(int(rng.integers(1, 5))):
            labels = tuple(x for x, p in zip(NIH_LABELS, prevalence) if rng.random() < p)
            name = f"{patient:08d}_{follow_up:03d}.png"
            samples.append(Sample(Path(name), name, patient, labels, "PA"))
    return samples


def patients_of(samples: list[Sample], indices: tuple[int, ...]) -> set[int]:
    return {samples[i].patient_id for i in indices}


def test_stratified_split_keeps_patients_together_and_shares_each_finding() -> None:
    samples = synthetic_samples()
    split = stratified_patient_split(samples, NIH_LABELS, 0.15, 0.2, seed=0)
    check_patients_disjoint(samples, split)
    assert sorted(split.train + split.val + split.test) == list(range(len(samples)))
    assert not patients_of(samples, split.train) & patients_of(samples, split.test)
    assert not patients_of(samples, split.val) & (patients_of(samples, split.train) | patients_of(samples, split.test))
    n = len(samples)
    assert abs(len(split.val) / n - 0.15) < 0.03 and abs(len(split.test) / n - 0.2) < 0.03
    targets = label_matrix(samples, NIH_LABELS)
    totals = targets.sum(axis=0)
    for name, share in (("val", 0.15), ("test", 0.2)):
        positives = targets[list(split.indices(name))].sum(axis=0)
        # every finding, the rarest included, has about its share of positives
        assert np.all(np.abs(positives - share * totals) <= np.maximum(3, 0.25 * share * totals))


def test_split_is_reproducible_and_depends_on_the_seed() -> None:
    samples = synthetic_samples()
    a = stratified_patient_split(samples, NIH_LABELS, 0.15, 0.2, seed=7)
    b = stratified_patient_split(list(reversed(samples)), NIH_LABELS, 0.15, 0.2, seed=7)
    names = lambda s, ss, idx: sorted(ss[i].image_index for i in idx)  # noqa: E731
    assert names(a, samples, a.test) == names(b, list(reversed(samples)), b.test)  # file order is irrelevant
    assert a == stratified_patient_split(samples, NIH_LABELS, 0.15, 0.2, seed=7)
    assert a.test != stratified_patient_split(samples, NIH_LABELS, 0.15, 0.2, seed=8).test
    assert split_hash(samples, a) == split_hash(samples, stratified_patient_split(samples, NIH_LABELS, 0.15, 0.2, seed=7))


def test_official_lists_make_the_test_split(tmp_path: Path) -> None:
    samples = synthetic_samples(60)
    test_names = [s.image_index for s in samples if s.patient_id % 4 == 0]
    train_val_names = [s.image_index for s in samples if s.patient_id % 4 and s.patient_id != 3]
    (tmp_path / "test_list.txt").write_text("\n".join(test_names) + "\n")
    (tmp_path / "train_val_list.txt").write_text("\n".join(train_val_names) + "\n")
    images = tmp_path / "images"
    images.mkdir()
    split = make_split(samples, NIH_LABELS, "auto", images, 0.2, 0.5, seed=0)  # lists found in the parent
    assert sorted(samples[i].image_index for i in split.test) == sorted(test_names)
    assert sorted(samples[i].image_index for i in split.train + split.val) == sorted(train_val_names)
    assert split.val and split.train
    assert "official" in split.method and "left out" in split.method  # patient 3 is on neither list
    random = make_split(samples, NIH_LABELS, "random", images, 0.2, 0.5, seed=0)
    assert "random" in random.method


def test_official_split_without_lists_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TrainerError, match="train_val_list.txt and test_list.txt"):
        make_split(synthetic_samples(10), NIH_LABELS, "official", tmp_path, 0.2, 0.2, seed=0)


def test_overlapping_patients_are_refused() -> None:
    samples = synthetic_samples(5)
    first_patient = [i for i, s in enumerate(samples) if s.patient_id == 1]
    if len(first_patient) < 2:
        samples.insert(1, Sample(Path("00000001_009.png"), "00000001_009.png", 1, (), "PA"))
        first_patient = [0, 1]
    rest = tuple(i for i in range(len(samples)) if i not in first_patient[1:])
    bad = Split(rest, (), tuple(first_patient[1:]), "hand-made")
    with pytest.raises(TrainerError, match="patient 1 has images in both the train and test splits"):
        check_patients_disjoint(samples, bad)


def test_split_file_round_trip(tmp_path: Path) -> None:
    samples = synthetic_samples(50)
    split = stratified_patient_split(samples, NIH_LABELS, 0.2, 0.2, seed=1)
    path = tmp_path / "split.csv"
    write_split_csv(path, samples, split)
    again = read_split_csv(path, samples)
    assert (again.train, again.val, again.test) == (split.train, split.val, split.test)
    assert split_hash(samples, again) == split_hash(samples, split)
    with pytest.raises(TrainerError, match="1 of the images found are not in this split file"):
        read_split_csv(path, samples + [Sample(Path("new.png"), "new.png", 999, (), "PA")])
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(TrainerError, match="not a split file"):
        read_split_csv(tmp_path / "other.csv", samples)
