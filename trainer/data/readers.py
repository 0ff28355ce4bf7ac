"""Which dataset a data folder holds, and its reader: ``--dataset nih|chexpert|mimic|padchest|vindr|rsna|siim|auto``.

``detect_dataset`` names the dataset from the label files in or above ``--data`` (a Data_Entry
CSV: NIH; CheXpert's ``train.csv`` / ``valid.csv``; MIMIC-CXR-JPG's chexpert table; PadChest's
table; VinDr-CXR's tables, also in an ``annotations/`` folder, or a ``train.csv`` with VinDr's
columns, which is then not CheXpert's; RSNA Pneumonia's ``stage_2_train_labels.csv``; SIIM-ACR's
``train-rle.csv``), the nearest folder deciding; two datasets' files at the same distance, or
none, is an error naming the folder and the choices. ``dataset_reader`` is the ``DatasetReader``
of a dataset with its ``--uncertainty`` policy. No torch: the configuration resolves ``auto``
through this module.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path

from viewer.core.nih import DATA_ENTRY_NAMES

from ..errors import TrainerError
from .chexpert import CSV_NAMES, TOP_FOLDERS, UNCERTAINTY_POLICIES, check_policy, load_chexpert
from .labels import DatasetReader, LabelledImages
from .mimic import CHEXPERT_CSV, load_mimic
from .nih import load_labelled_images
from .padchest import PADCHEST_CSV, load_padchest
from .rsna import LABEL_CSV_NAMES as RSNA_CSV_NAMES
from .rsna import load_rsna
from .siim import LABEL_CSV_NAMES as SIIM_CSV_NAMES
from .siim import load_siim
from .vindr import ANNOTATIONS_FOLDER, is_vindr_table, load_vindr
from .vindr import CSV_NAMES as VINDR_CSV_NAMES

DATASETS: tuple[str, ...] = ("nih", "chexpert", "mimic", "padchest", "vindr", "rsna", "siim")
# the label files of the datasets read plain, gzipped or zipped (their downloads come zipped)
_ARCHIVED_CSVS: dict[str, tuple[str, ...]] = {"rsna": RSNA_CSV_NAMES, "siim": SIIM_CSV_NAMES}
# the datasets whose label files mark findings uncertain (``--uncertainty`` applies to them)
WITH_UNCERTAINTY: tuple[str, ...] = ("chexpert", "mimic")
DEFAULT_UNCERTAINTY = "zeros"
_CHOICES = "pass --dataset " + "|".join(DATASETS)


def _label_file_names(dataset: str) -> tuple[str, ...]:
    if dataset == "nih":
        return DATA_ENTRY_NAMES  # the NIH reader reads them plain
    if dataset in _ARCHIVED_CSVS:
        return tuple(n for name in _ARCHIVED_CSVS[dataset] for n in (name, f"{name}.gz", f"{name}.zip"))
    if dataset in ("padchest", "vindr"):
        return tuple(n for name in ((PADCHEST_CSV,) if dataset == "padchest" else VINDR_CSV_NAMES)
                     for n in (name, f"{name}.gz"))
    names = CSV_NAMES if dataset == "chexpert" else (CHEXPERT_CSV,)
    return tuple(n for name in names for n in (name, f"{name}.gz"))


def _fits(dataset: str, path: Path) -> bool:
    """Whether ``path`` is ``dataset``'s: a ``train.csv`` is VinDr-CXR's (Kaggle) when it has
    VinDr's columns, else CheXpert's."""
    if path.name.removesuffix(".gz") != "train.csv" or dataset not in ("chexpert", "vindr"):
        return True
    return is_vindr_table(path) == (dataset == "vindr")


def _nearest(folder: Path, dataset: str) -> tuple[int, Path] | None:
    """(how many folders up, the file) of the nearest label file of ``dataset``; CheXpert's
    archive top folder inside ``folder`` counts as ``folder`` itself."""
    names = _label_file_names(dataset)
    for distance, place in enumerate((folder, *folder.parents)):
        inside = [place / top for top in TOP_FOLDERS] if dataset == "chexpert" and distance == 0 else []
        inside += [place / ANNOTATIONS_FOLDER] if dataset == "vindr" else []
        for where in (place, *inside):
            for name in names:
                try:
                    if (where / name).is_file() and _fits(dataset, where / name):
                        return distance, where / name
                except OSError:  # an unreadable parent: keep looking up
                    continue
    return None


def detect_dataset(data: str | os.PathLike[str], labels_csv: str | os.PathLike[str] | None = None) -> str:
    """The dataset of ``data`` (``DATASETS``); raises ``TrainerError`` when none or several fit.

    With ``labels_csv`` its name decides (any other name is a Data_Entry CSV renamed: NIH, as
    before there were other readers)."""
    if labels_csv:
        name = Path(labels_csv).name.removesuffix(".gz").removesuffix(".zip")
        archived = [dataset for dataset, names in _ARCHIVED_CSVS.items() if name in names]
        if archived:
            return archived[0]
        if name in VINDR_CSV_NAMES and _fits("vindr", Path(labels_csv)):
            return "vindr"
        return ("chexpert" if name in CSV_NAMES else "mimic" if name == CHEXPERT_CSV
                else "padchest" if name == PADCHEST_CSV else "nih")
    folder = Path(data).absolute()
    if not folder.is_dir():
        raise TrainerError(f"{folder}: data folder not found")
    found = {dataset: hit for dataset in DATASETS if (hit := _nearest(folder, dataset)) is not None}
    if not found:
        raise TrainerError(f"{folder}: no {' or '.join(DATA_ENTRY_NAMES)} (nih), {' or '.join(CSV_NAMES)} "
                           f"(chexpert), {CHEXPERT_CSV} (mimic), {PADCHEST_CSV} (padchest), "
                           f"{' or '.join(VINDR_CSV_NAMES)} (vindr), {' or '.join(RSNA_CSV_NAMES)} (rsna) "
                           f"or {' or '.join(SIIM_CSV_NAMES)} (siim) in this folder or its parents; {_CHOICES} "
                           "with --labels-csv FILE")
    nearest = min(distance for distance, _ in found.values())
    closest = {dataset: path for dataset, (distance, path) in found.items() if distance == nearest}
    if len(closest) > 1:
        files = ", ".join(f"{path} ({dataset})" for dataset, path in closest.items())
        raise TrainerError(f"{folder}: label files of several datasets: {files}; {_CHOICES}")
    return next(iter(closest))


def check_dataset_options(dataset: str, uncertainty: str | None) -> None:
    """Refuse a ``--dataset`` or ``--uncertainty`` that cannot work, with the choices."""
    if dataset not in ("auto", *DATASETS):
        raise TrainerError(f"--dataset must be one of auto, {', '.join(DATASETS)}, not {dataset!r}")
    if uncertainty is None:
        return
    if uncertainty not in UNCERTAINTY_POLICIES:
        raise TrainerError(f"--uncertainty must be one of {', '.join(UNCERTAINTY_POLICIES)}, not {uncertainty!r}")
    if dataset not in ("auto", *WITH_UNCERTAINTY):
        raise TrainerError(f"--uncertainty applies to {' and '.join(WITH_UNCERTAINTY)} labels only, "
                           f"not to {dataset}'s (which mark nothing uncertain)")


def settle_dataset(dataset: str, uncertainty: str | None, data: str | os.PathLike[str],
                   labels_csv: str | os.PathLike[str] | None = None) -> tuple[str, str | None]:
    """(dataset, uncertainty) as a run records them: ``auto`` replaced by the detected dataset,
    the uncertainty policy given for CheXpert and MIMIC (``zeros`` unless asked), None for NIH."""
    check_dataset_options(dataset, uncertainty)
    if dataset == "auto":
        dataset = detect_dataset(data, labels_csv)
        check_dataset_options(dataset, uncertainty)
    if dataset in WITH_UNCERTAINTY:
        return dataset, uncertainty or DEFAULT_UNCERTAINTY
    return dataset, None


def dataset_reader(dataset: str, uncertainty: str | None = None) -> DatasetReader:
    """The reader of ``dataset`` (one of ``DATASETS``), with ``uncertainty`` for CheXpert and MIMIC."""
    if dataset == "nih":
        return load_labelled_images
    if dataset in ("rsna", "siim"):
        return load_rsna if dataset == "rsna" else load_siim
    if dataset == "padchest":
        return load_padchest
    if dataset == "vindr":
        return load_vindr
    if dataset not in WITH_UNCERTAINTY:
        raise TrainerError(f"unknown dataset {dataset!r}; {_CHOICES}")
    policy = check_policy(uncertainty or DEFAULT_UNCERTAINTY)
    load = load_chexpert if dataset == "chexpert" else load_mimic

    def read(data: str | os.PathLike[str], labels_csv: str | os.PathLike[str] | None = None,
             views: Sequence[str] = (), max_images: int | None = None) -> LabelledImages:
        return load(data, labels_csv, views, max_images, uncertainty=policy)

    return read


def add_dataset_arguments(parser: argparse.ArgumentParser) -> None:
    """``--dataset`` and ``--uncertainty`` of ``cxr-train evaluate`` and ``report`` (``train`` has
    them from ``TrainConfig``): whose label files to read, and what CheXpert/MIMIC's uncertain
    marks become there."""
    parser.add_argument("--dataset", default="auto", metavar="NAME",
                        help="whose labels --data has: auto (from the label file found) or one of "
                             f"{', '.join(DATASETS)}")
    parser.add_argument("--uncertainty", metavar="POLICY",
                        help=f"{' and '.join(WITH_UNCERTAINTY)} uncertain findings: {', '.join(UNCERTAINTY_POLICIES)} "
                             f"(ignore: left out of every figure; default {DEFAULT_UNCERTAINTY})")
