"""trainer.data.split: by-patient splits (stratified, official lists, split files)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from trainer.config import TrainConfig
from trainer.data.labels import Sample, label_matrix
from trainer.data.split import (
    Split,
    check_patients_disjoint,
    format_split_summary,
    make_split,
    read_split_csv,
    resolve_split_lists,
    split_hash,
    split_summary,
    stratified_patient_split,
    write_split_csv,
    write_split_lists,
)
from trainer.errors import TrainerError
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
    assert split_hash(samples, a) == split_hash(samples, stratified_patient_split(samples, NIH_LABELS, 0.15,
            0.2, seed=7))


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


def test_the_default_split_is_70_10_20_by_patient() -> None:
    config = TrainConfig()
    assert (config.val_fraction, config.test_fraction) == (0.1, 0.2)
    samples = synthetic_samples(600)
    split = make_split(samples, NIH_LABELS, "auto", Path("/nonexistent"), config.val_fraction,
                       config.test_fraction, seed=0)
    n = len(samples)
    assert abs(len(split.train) / n - 0.7) < 0.03 and abs(len(split.val) / n - 0.1) < 0.03
    assert abs(len(split.test) / n - 0.2) < 0.03
    check_patients_disjoint(samples, split)


def write_lists(folder: Path, samples: list[Sample], test_patients: set[int]) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    train_val = folder / "train_val_list.txt"
    test = folder / "test_list.txt"
    train_val.write_text("".join(f"{s.image_index}\n" for s in samples if s.patient_id not in test_patients))
    test.write_text("".join(f"{s.image_index}\n" for s in samples if s.patient_id in test_patients))
    return train_val, test


def test_split_lists_take_a_folder_or_the_two_files(tmp_path: Path) -> None:
    samples = synthetic_samples(40)
    train_val, test = write_lists(tmp_path / "lists", samples, {p for p in range(1, 41) if p % 5 == 0})
    assert resolve_split_lists([tmp_path / "lists"]) == (train_val, test)
    assert resolve_split_lists([train_val, test]) == (train_val, test)
    assert resolve_split_lists([test, train_val]) == (train_val, test)  # recognised by name
    split = make_split(samples, NIH_LABELS, "random", tmp_path, 0.1, 0.2, seed=0,
                       lists=resolve_split_lists([tmp_path / "lists"]))
    assert {samples[i].patient_id for i in split.test} == {p for p in range(1, 41) if p % 5 == 0}
    assert "official" in split.method
    with pytest.raises(TrainerError, match="has no train_val_list.txt or test_list.txt"):
        resolve_split_lists([tmp_path])
    with pytest.raises(TrainerError, match="split list not found"):
        resolve_split_lists([train_val, tmp_path / "missing.txt"])


def test_a_patient_on_both_official_lists_is_refused(tmp_path: Path) -> None:
    samples = synthetic_samples(40)
    train_val, test = write_lists(tmp_path, samples, {5, 10})
    leaked = next(s for s in samples if s.patient_id == 7)  # one image of patient 7 moves to the test list
    train_val.write_text("".join(line + "\n" for line in train_val.read_text().split() if line != leaked.image_index))
    test.write_text(test.read_text() + leaked.image_index + "\n")
    if sum(s.patient_id == 7 for s in samples) == 1:  # patient 7 needs a second image for the leak
        samples.append(Sample(Path("00000007_099.png"), "00000007_099.png", 7, (), "PA"))
        train_val.write_text(train_val.read_text() + "00000007_099.png\n")
    with pytest.raises(TrainerError, match="patient 7 has images on both train_val_list.txt and test_list.txt"):
        make_split(samples, NIH_LABELS, "official", tmp_path, 0.1, 0.2, seed=0, lists=(train_val, test))


def test_split_summary_counts_each_splits_positives_and_prevalence(tmp_path: Path) -> None:
    samples = synthetic_samples(80)
    split = stratified_patient_split(samples, NIH_LABELS, 0.1, 0.2, seed=2)
    summary = split_summary(samples, NIH_LABELS, split)
    targets = label_matrix(samples, NIH_LABELS)
    for name in ("train", "val", "test"):
        chosen = list(split.indices(name))
        assert summary[name]["images"] == len(chosen)
        assert summary[name]["patients"] == len({samples[i].patient_id for i in chosen})
        for j, label in enumerate(NIH_LABELS):
            assert summary[name]["positives"][label] == int(targets[chosen, j].sum())
            assert summary[name]["prevalence"][label] == pytest.approx(targets[chosen, j].mean(), abs=1e-6)
    text = format_split_summary(summary, NIH_LABELS)
    assert f"train {len(split.train)} images of {summary['train']['patients']} patients" in text
    hernia = next(line for line in text.splitlines() if line.startswith("Hernia"))
    assert f"{summary['test']['positives']['Hernia']} (" in hernia and "%" in hernia

    write_split_lists(tmp_path, samples, split)
    assert (tmp_path / "test_list.txt").read_text().split() == [samples[i].image_index for i in split.test]
    assert len((tmp_path / "train_list.txt").read_text().split()) == len(split.train)
