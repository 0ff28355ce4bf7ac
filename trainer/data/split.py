"""Train/validation/test splits by patient: no patient ever has images in two splits.

Three ways, chosen by ``--split``:

* ``official``: NIH's ``test_list.txt`` is the test split; validation patients are drawn from
  ``train_val_list.txt`` (the official lists are themselves split by patient). The lists are
  found beside the data, or given with ``--split-lists`` (a folder or the two files);
* ``random``: patients are assigned by iterative stratification (Sechidis et al. 2011) applied
  to patients, so every finding, rare ones included, has about its share of positives in
  each split, which a small sample needs for its validation and test AUROCs to mean anything;
* ``auto``: official when both list files are found beside the data, else random.

Whatever the way, a patient with images in two splits stops the run (``check_patients_disjoint``).
A split is written as ``split.csv`` and as one list per split (``train_list.txt``, ...), and
identified by a hash of its lists (in the model card); ``split_summary`` gives each split's
size and per-label prevalence, which the run prints.
"""

from __future__ import annotations

import csv
import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import TrainerError
from .labels import Sample, label_matrix

SPLITS = ("train", "val", "test")
SUBSETS = (*SPLITS, "all")  # what cxr-train report evaluates: one split, or every labelled image
OFFICIAL_LISTS = ("train_val_list.txt", "test_list.txt")


@dataclass(frozen=True)
class Split:
    """Indices into the sample list for each split, and how the split was made."""

    train: tuple[int, ...]
    val: tuple[int, ...]
    test: tuple[int, ...]
    method: str

    def indices(self, name: str) -> tuple[int, ...]:
        return {"train": self.train, "val": self.val, "test": self.test}[name]

    def sizes(self) -> dict[str, int]:
        return {name: len(self.indices(name)) for name in SPLITS}


def split_hash(samples: Sequence[Sample], split: Split) -> str:
    """sha256 of the sorted ``split<TAB>image`` lines: the same lists give the same hash."""
    lines = sorted(f"{name}\t{samples[i].image_index}\n" for name in SPLITS for i in split.indices(name))
    return hashlib.sha256("".join(lines).encode("utf-8")).hexdigest()


def check_patients_disjoint(samples: Sequence[Sample], split: Split) -> None:
    """Raise ``TrainerError`` if any patient has images in two splits."""
    owner: dict[int, str] = {}
    for name in SPLITS:
        for i in split.indices(name):
            patient = samples[i].patient_id
            if owner.setdefault(patient, name) != name:
                raise TrainerError(
                    f"patient {patient} has images in both the {owner[patient]} and {name} splits, "
                    f"e.g. {samples[i].image_index} (a split must keep each patient's images together: "
                    "fix the split lists or file, or let cxr-train split by patient with --split random)"
                )


# -- random, stratified by patient ------------------------------------------------------------------
def stratified_patient_split(
    samples: Sequence[Sample],
    labels: Sequence[str],
    val_fraction: float,
    test_fraction: float,
    seed: int,
) -> Split:
    """Iterative stratification over patients (each patient's images stay together).

    Rarest label first, each patient with that label goes to the split that still wants the
    most positives of it (ties: the split that wants the most images, then chance), among the
    splits that still want images; patients without findings fill the splits up to their image
    counts. Deterministic for a seed.
    """
    fractions = np.array([1.0 - val_fraction - test_fraction, val_fraction, test_fraction])
    by_patient: dict[int, list[int]] = defaultdict(list)
    for i, sample in enumerate(samples):
        by_patient[sample.patient_id].append(i)
    patients = sorted(by_patient)  # independent of the order files were found in
    rng = np.random.default_rng(seed)
    rng.shuffle(patients)

    targets = label_matrix(samples, labels)
    if patients:
        counts = np.stack([targets[by_patient[p]].sum(axis=0) for p in patients])
    else:
        counts = np.zeros((0, len(labels)))
    n_images = np.array([len(by_patient[p]) for p in patients], np.float64)
    want_labels = fractions[:, None] * counts.sum(axis=0)[None, :]
    want_images = fractions * n_images.sum()
    assigned = np.full(len(patients), -1)
    open_splits = fractions > 0

    def place(j: int, scores: np.ndarray) -> None:
        # a split already holding its share of images takes no more while another still wants
        # some: on small data the label desires alone would starve the small splits
        candidates = open_splits & (want_images > 0)
        if not candidates.any():
            candidates = open_splits
        best = np.flatnonzero(candidates & (scores == scores[candidates].max()))
        if len(best) > 1:
            wanted = want_images[best]
            best = best[wanted == wanted.max()]
        choice = int(best[0] if len(best) == 1 else rng.choice(best))
        assigned[j] = choice
        want_labels[choice] -= counts[j]
        want_images[choice] -= n_images[j]

    while True:
        remaining = counts[assigned < 0].sum(axis=0)
        if not (remaining > 0).any():
            break
        label = int(np.argmin(np.where(remaining > 0, remaining, np.inf)))
        for j in np.flatnonzero((assigned < 0) & (counts[:, label] > 0)):
            place(int(j), want_labels[:, label].copy())
    for j in np.flatnonzero(assigned < 0):
        place(int(j), want_images.copy())

    parts: list[list[int]] = [[], [], []]
    for patient, part in zip(patients, assigned):
        parts[part].extend(by_patient[patient])
    method = (
        f"random by patient, iterative stratification over the findings (seed {seed}; "
        f"fractions train/val/test {fractions[0]:.2f}/{val_fraction:.2f}/{test_fraction:.2f})"
    )
    train, val, test = (tuple(sorted(p)) for p in parts)
    return Split(train, val, test, method=method)


# -- the official NIH lists -------------------------------------------------------------------------
def resolve_split_lists(given: Sequence[str | Path]) -> tuple[Path, Path]:
    """``--split-lists``: a folder holding both official lists, or the two files.

    Two files are (train_val, test) in that order, unless their names say otherwise
    (``test_list.txt`` first is recognised by its name).
    """
    paths = [Path(p) for p in given]
    if len(paths) == 1 and paths[0].is_dir():
        lists = tuple(paths[0] / name for name in OFFICIAL_LISTS)
        missing = [p.name for p in lists if not p.is_file()]
        if missing:
            raise TrainerError(f"{paths[0]}: --split-lists folder has no {' or '.join(missing)} "
                               "(give the folder holding both NIH lists, or the two files)")
        return lists  # type: ignore[return-value]
    if len(paths) != 2:
        raise TrainerError(f"--split-lists {' '.join(map(str, paths))}: give a folder holding "
                           f"{' and '.join(OFFICIAL_LISTS)}, or those two files (train_val first)")
    for path in paths:
        if not path.is_file():
            raise TrainerError(f"{path}: split list not found (--split-lists takes the NIH train_val_list.txt "
                               "and test_list.txt, or the folder holding them)")
    train_val, test = paths
    if train_val.name == OFFICIAL_LISTS[1] and test.name != OFFICIAL_LISTS[1]:
        train_val, test = test, train_val
    return train_val, test


def find_official_lists(folder: Path) -> tuple[Path, Path] | None:
    """``train_val_list.txt`` and ``test_list.txt`` in ``folder`` or the nearest parent with both."""
    start = Path(folder).absolute()
    for directory in (start, *start.parents):
        paths = tuple(directory / name for name in OFFICIAL_LISTS)
        if all(p.is_file() for p in paths):
            return paths  # type: ignore[return-value]
    return None


def _read_list(path: Path) -> set[str]:
    try:
        return {line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()}
    except (OSError, UnicodeDecodeError) as exc:
        raise TrainerError(f"{path}: cannot be read ({exc})") from None


def official_split(
    samples: Sequence[Sample],
    labels: Sequence[str],
    train_val_list: Path,
    test_list: Path,
    val_fraction: float,
    seed: int,
) -> Split:
    """Test = the official test list; validation = ``val_fraction`` of the train_val patients.

    Images on neither list are left out (a warning says how many, in ``method``).
    """
    train_val_names, test_names = _read_list(train_val_list), _read_list(test_list)
    overlap = train_val_names & test_names
    if overlap:
        raise TrainerError(f"{test_list}: {len(overlap)} images are also in {train_val_list.name}, "
                           f"e.g. {min(overlap)} (each image belongs in one list only)")
    if not test_names and not train_val_names:
        raise TrainerError(f"{train_val_list} and {test_list}: both lists are empty")
    # a patient on both lists would leak into test; refuse it before drawing validation
    patients = {"train_val": {s.patient_id for s in samples if s.image_index in train_val_names},
                "test": {s.patient_id for s in samples if s.image_index in test_names}}
    shared = patients["train_val"] & patients["test"]
    if shared:
        patient = min(shared)
        example = next(s.image_index for s in samples if s.patient_id == patient and s.image_index in test_names)
        raise TrainerError(
            f"patient {patient} has images on both {train_val_list.name} and {test_list.name} "
            f"(e.g. {example}; {len(shared)} patients in all): a split must keep each patient's images "
            "together, so fix the lists or let cxr-train split by patient with --split random"
        )
    test = [i for i, s in enumerate(samples) if s.image_index in test_names]
    train_val = [i for i, s in enumerate(samples) if s.image_index in train_val_names]
    left_out = len(samples) - len(test) - len(train_val)
    inner = stratified_patient_split([samples[i] for i in train_val], labels, val_fraction, 0.0, seed)
    method = f"official NIH test list; validation {val_fraction:.2f} of the train_val patients (seed {seed})"
    if left_out:
        method += f"; {left_out} images on neither list left out"
    return Split(
        train=tuple(sorted(train_val[i] for i in inner.train)),
        val=tuple(sorted(train_val[i] for i in inner.val)),
        test=tuple(test),
        method=method,
    )


def published_split(samples: Sequence[Sample], labels: Sequence[str], val_fraction: float, seed: int) -> Split:
    """The split the dataset's own files publish (``Sample.official_split``: MIMIC-CXR's
    split.csv; CheXpert's train/valid folders).

    Where the set publishes a test split (MIMIC) the three are used as they are. Where it
    publishes only train and validation (CheXpert, whose test images its authors keep), its
    validation images are the test split, as papers report CheXpert, and validation is drawn
    from the training patients (``val_fraction``, stratified). Images the files put in no split
    are left out, and ``method`` says how many."""
    given = {name: [i for i, s in enumerate(samples) if s.official_split == name] for name in SPLITS}
    if not given["test"] and not given["val"]:
        raise TrainerError("the label files publish no test or validation split for these images: "
                           "use --split random")
    left_out = len(samples) - sum(len(v) for v in given.values())
    if given["test"]:
        train, val, test = given["train"], given["val"], given["test"]
        method = "the dataset's published split (train, validate, test)"
    else:
        inner = stratified_patient_split([samples[i] for i in given["train"]], labels, val_fraction, 0.0, seed)
        train = [given["train"][i] for i in inner.train]
        val = [given["train"][i] for i in inner.val]
        test = given["val"]
        method = (f"the dataset's published validation images as test; validation {val_fraction:.2f} of the "
                  f"published training patients (seed {seed})")
    if left_out:
        method += f"; {left_out} images in no published split left out"
    return Split(train=tuple(sorted(train)), val=tuple(sorted(val)), test=tuple(sorted(test)), method=method)


def make_split(
    samples: Sequence[Sample],
    labels: Sequence[str],
    how: str,
    data_folder: Path,
    val_fraction: float,
    test_fraction: float,
    seed: int,
    lists: tuple[Path, Path] | None = None,
) -> Split:
    """The split ``--split`` asks for (``auto``, ``official`` or ``random``), checked disjoint.

    ``official`` is NIH's lists (``lists``, from ``--split-lists``, or found in or above the
    data folder) or, for a dataset whose label files say each image's split, that split
    (``published_split``); ``auto`` is official when either is there, else random.
    """
    if lists is None and how in ("auto", "official"):
        lists = find_official_lists(data_folder)
    published = any(s.official_split for s in samples)
    if lists is None and published and how in ("auto", "official"):
        split = published_split(samples, labels, val_fraction, seed)
        check_patients_disjoint(samples, split)
        return split
    if how == "official" and lists is None:
        raise TrainerError(
            f"{data_folder}: --split official needs {' and '.join(OFFICIAL_LISTS)} in the data folder "
            "or a parent (they come with the NIH download); or use --split random"
        )
    if lists is not None:
        split = official_split(samples, labels, lists[0], lists[1], val_fraction, seed)
    else:
        split = stratified_patient_split(samples, labels, val_fraction, test_fraction, seed)
    check_patients_disjoint(samples, split)
    return split


# -- what a split holds -------------------------------------------------------------------------------
def split_summary(samples: Sequence[Sample], labels: Sequence[str], split: Split) -> dict[str, Any]:
    """Each split's images and patients, and per label its positives and prevalence (share of
    the split's images with that finding)."""
    summary: dict[str, Any] = {}
    for name in SPLITS:
        chosen = [samples[i] for i in split.indices(name)]
        positives = label_matrix(chosen, labels).sum(axis=0).astype(int) if chosen else np.zeros(len(labels), int)
        summary[name] = {
            "images": len(chosen),
            "patients": len({s.patient_id for s in chosen}),
            "positives": {x: int(n) for x, n in zip(labels, positives)},
            "prevalence": {x: (round(int(n) / len(chosen), 6) if chosen else None) for x, n in zip(labels, positives)},
        }
    return summary


@dataclass(frozen=True)
class SplitRecord:
    """How a run's split was made and what it holds, as the card's ``metrics.split`` records it."""

    method: str
    hash: str  # ``split_hash``: another split.csv with the same lists has the same hash
    sizes: dict[str, int]  # images per split
    patients: dict[str, int]
    positives: dict[str, dict[str, int]]  # split -> label -> positive images
    unit: str = "patient"  # what the split divides (never images)

    @classmethod
    def of(cls, samples: Sequence[Sample], labels: Sequence[str], split: Split, digest: str) -> SplitRecord:
        summary = split_summary(samples, labels, split)
        return cls(split.method, digest, split.sizes(), {name: summary[name]["patients"] for name in SPLITS},
                   {name: summary[name]["positives"] for name in SPLITS})

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "unit": self.unit, "hash": self.hash, "sizes": self.sizes,
                "patients": self.patients, "positives": self.positives}


def format_split_summary(summary: dict[str, Any], labels: Sequence[str]) -> str:
    """The summary as a small table: one row per label, positives and prevalence per split."""
    names = [n for n in SPLITS if n in summary]
    lines = ["split sizes: " + "; ".join(f"{n} {summary[n]['images']} images of {summary[n]['patients']} patients"
                                          for n in names),
             f"{'label':<20}" + "".join(f"{n + ' pos (prev.)':>22}" for n in names)]
    for label in labels:
        cells = []
        for n in names:
            prevalence = summary[n]["prevalence"][label]
            share = "n/a" if prevalence is None else f"{100 * prevalence:.1f}%"
            cells.append(f"{summary[n]['positives'][label]:>14} ({share:>5})")
        lines.append(f"{label:<20}" + "".join(f"{c:>22}" for c in cells))
    return "\n".join(lines)


def write_split_lists(folder: Path, samples: Sequence[Sample], split: Split) -> list[Path]:
    """``train_list.txt``, ``val_list.txt``, ``test_list.txt``: one image name a line, as NIH's lists."""
    written = []
    for name in SPLITS:
        path = folder / f"{name}_list.txt"
        path.write_text("".join(f"{samples[i].image_index}\n" for i in split.indices(name)), encoding="utf-8")
        written.append(path)
    return written


# -- split.csv ----------------------------------------------------------------------------------------
def write_split_csv(path: Path, samples: Sequence[Sample], split: Split) -> None:
    """One row per image: ``Image Index, Patient ID, split``."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Image Index", "Patient ID", "split"])
        for name in SPLITS:
            for i in split.indices(name):
                writer.writerow([samples[i].image_index, samples[i].patient_id, name])


def read_split_csv(path: Path, samples: Sequence[Sample]) -> Split:
    """The split of an earlier run's ``split.csv``, over the samples found now.

    Images of the file that are not found now are left out; found images the file does not
    list are refused, because silently training on them could leak test patients.
    """
    position = {s.image_index: i for i, s in enumerate(samples)}
    parts: dict[str, list[int]] = {name: [] for name in SPLITS}
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                name, which = row.get("Image Index"), row.get("split")
                if name is None or which not in parts:
                    raise TrainerError(f"{path}: not a split file "
                                       "(needs columns 'Image Index' and 'split' = train/val/test)")
                if name in position:
                    parts[which].append(position[name])
    except FileNotFoundError:
        raise TrainerError(f"{path}: split file not found") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise TrainerError(f"{path}: cannot be read ({exc})") from None
    listed = {i for p in parts.values() for i in p}
    if len(listed) != len(samples):
        raise TrainerError(
            f"{path}: {len(samples) - len(listed)} of the images found are not in this split file; "
            "use the same data as the run that wrote it, or make a new split"
        )
    train, val, test = (tuple(sorted(parts[n])) for n in SPLITS)
    return Split(train, val, test, method=f"from {path.name}")
