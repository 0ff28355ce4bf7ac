"""The CheXpert reader: the images under ``--data`` with their rows of ``train.csv`` / ``valid.csv``.

CheXpert (Irvin et al. 2019) labels 14 observations per image with its report labeller: 1
positive, 0 negative, -1 uncertain, blank not mentioned. This reader, like the NIH one, returns
``LabelledImages`` whose labels are the 13 findings (``No Finding`` is no label: it is the empty
set, as in NIH). What becomes of an uncertain finding is the ``uncertainty`` policy of the paper:
``ignore`` masks it out of the loss (``LabelledImages.mask``), ``zeros`` makes it negative,
``ones`` positive. ``zeros`` (the paper's U-Zeros) is the default; ``--uncertainty`` chooses.

A blank cell (the report does not mention the finding) is negative, the CheXpert authors'
reading (a report names what it sees). torchxrayvision's ``CheX_Dataset`` keeps blanks as NaN
instead (unknown); both count a row with ``No Finding`` = 1 as negative for every finding but
Support Devices, which the labeller never marks together with a positive or uncertain one.

MIMIC-CXR-JPG's ``chexpert.csv`` has the same columns and codes: ``mimic.py`` reads it through
``findings_of_row``. The patient id is the number in the ``Path``'s ``patientNNNNN`` folder, the
official split its ``train/`` or ``valid/`` folder (the same as which file the row is in).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from ..errors import TrainerError
from .images import find_image_files, pair_files, report_pairing
from .label_files import read_label_rows
from .labels import LabelledImages, Sample
from .views import view_filter

NO_FINDING = "No Finding"
SUPPORT_DEVICES = "Support Devices"
# the label columns after No Finding, in the files' order
CHEXPERT_LABELS: tuple[str, ...] = (
    "Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Opacity", "Lung Lesion", "Edema", "Consolidation",
    "Pneumonia", "Atelectasis", "Pneumothorax", "Pleural Effusion", "Pleural Other", "Fracture",
    SUPPORT_DEVICES,
)
UncertaintyPolicy = Literal["ignore", "zeros", "ones"]
UNCERTAINTY_POLICIES: tuple[str, ...] = get_args(UncertaintyPolicy)
CSV_NAMES = ("train.csv", "valid.csv")
TOP_FOLDERS = ("CheXpert-v1.0-small", "CheXpert-v1.0")
REQUIRED_COLUMNS = ("Path", "Frontal/Lateral", NO_FINDING, *CHEXPERT_LABELS)
_CODES = {"1": 1, "1.0": 1, "0": 0, "0.0": 0, "-1": -1, "-1.0": -1, "": 0}
_PATIENT = re.compile(r"^patient0*(\d+)$")
_SPLITS = {"train": "train", "valid": "val"}
_SEX = {"male": "M", "female": "F"}


@dataclass(frozen=True)
class Findings:
    """What one row says of the findings, after the uncertainty policy."""

    positives: tuple[str, ...]
    uncertain: tuple[str, ...]  # marked -1 in the file
    masked: tuple[str, ...]  # the uncertain ones under ``ignore``


@dataclass(frozen=True)
class ChexpertRow:
    """One row of a CheXpert label file."""

    key: str  # the image's path from the split folder on: train/patient00001/study1/view1_frontal.jpg
    patient_id: int
    official_split: str  # "train" or "val"
    view: str | None  # PA, AP (or the odd LL of a frontal row), LATERAL
    age: int | None
    sex: str | None
    findings: Findings


def check_policy(policy: str) -> UncertaintyPolicy:
    """``policy`` if it is one of ``UNCERTAINTY_POLICIES``, else a ``TrainerError``."""
    if policy not in UNCERTAINTY_POLICIES:
        raise TrainerError(f"unknown uncertainty policy {policy!r} (choose {', '.join(UNCERTAINTY_POLICIES)})")
    return policy  # type: ignore[return-value]


def findings_of_row(row: Mapping[str, str], policy: UncertaintyPolicy) -> Findings:
    """The findings of a row with CheXpert's label columns; ValueError for a code that is not
    1, 0, -1 or blank (the message names the column, not the value)."""
    healthy = _code(row, NO_FINDING) == 1
    positives, uncertain = [], []
    for label in CHEXPERT_LABELS:
        code = _code(row, label)
        if healthy and label != SUPPORT_DEVICES:
            continue  # No Finding = 1: negative, as torchxrayvision's CheX_Dataset reads it
        if code == 1 or (code == -1 and policy == "ones"):
            positives.append(label)
        if code == -1:
            uncertain.append(label)
    masked = tuple(uncertain) if policy == "ignore" else ()
    return Findings(tuple(positives), tuple(uncertain), masked)


def _code(row: Mapping[str, str], column: str) -> int:
    code = _CODES.get(row.get(column, ""))
    if code is None:
        raise ValueError(f"column {column!r} holds something other than 1, 0, -1 or blank")
    return code


def read_chexpert_csv(path: Path, policy: UncertaintyPolicy = "zeros") -> list[ChexpertRow]:
    """The rows of a CheXpert ``train.csv`` / ``valid.csv``; ``TrainerError`` naming the file and
    row for a row it cannot read."""
    rows = []
    for number, row in enumerate(read_label_rows(path, REQUIRED_COLUMNS), start=2):
        parts = row["Path"].replace("\\", "/").split("/")
        patient = _PATIENT.match(parts[-3]) if len(parts) >= 4 else None
        if patient is None or parts[-4] not in _SPLITS:
            raise TrainerError(f"{path}: row {number}: the Path is not .../train|valid/patientN/studyN/FILE "
                               "(is this CheXpert's own label file?)")
        try:
            findings = findings_of_row(row, policy)
        except ValueError as exc:
            raise TrainerError(f"{path}: row {number}: {exc}") from None
        lateral = row["Frontal/Lateral"].strip().lower() == "lateral"
        view = "LATERAL" if lateral else (row.get("AP/PA", "").upper() or None)
        age = int(row["Age"]) if row.get("Age", "").isdigit() and int(row["Age"]) > 0 else None  # 0: unknown
        rows.append(ChexpertRow("/".join(parts[-4:]), int(patient.group(1)), _SPLITS[parts[-4]], view, age,
                                _SEX.get(row.get("Sex", "").lower()), findings))
    return rows


def find_chexpert_csvs(folder: Path) -> list[Path]:
    """``train.csv`` and ``valid.csv`` in ``folder``, in its ``CheXpert-v1.0-small`` or
    ``CheXpert-v1.0`` subfolder (the archives' top folders), or in the nearest parent holding either."""
    for place in (folder, *(folder / top for top in TOP_FOLDERS), *folder.parents):
        found = [p for name in CSV_NAMES for p in (place / name, place / f"{name}.gz") if p.is_file()]
        if found:
            return found
    return []


def chexpert_key(path: Path) -> str:
    """An image's key in CheXpert's ``Path`` column: its last four path parts
    (``train/patient00001/study1/view1_frontal.jpg``), the archive's top folder left out."""
    return "/".join(path.parts[-4:])


def load_chexpert(
    data: str | os.PathLike[str],
    labels_csv: str | os.PathLike[str] | None = None,
    views: Sequence[str] = (),
    max_images: int | None = None,
    uncertainty: str = "zeros",
) -> LabelledImages:
    """The CheXpert images under ``data`` with their labels (a ``DatasetReader``).

    ``labels_csv``: one label file instead of ``train.csv`` + ``valid.csv`` found in ``data`` or
    a parent. ``views``: view positions or ``FRONTAL`` / ``LATERAL`` (``trainer.data.views``).
    ``uncertainty``: ``ignore``, ``zeros`` or ``ones`` (module docstring). Images are matched by
    their last four path parts, so ``data`` may be ``CheXpert-v1.0-small`` or a folder above it.
    """
    policy = check_policy(uncertainty)
    folder = Path(data)
    if not folder.is_dir():
        raise TrainerError(f"{folder}: data folder not found (pass --data FOLDER with the CheXpert images)")
    csvs = [Path(labels_csv)] if labels_csv else find_chexpert_csvs(folder)
    if not csvs:
        raise TrainerError(f"{folder}: no train.csv or valid.csv in this folder or its parents (put CheXpert's "
                           "label files beside train/ and valid/, or pass --labels-csv FILE)")
    rows = {row.key: row for path in csvs for row in read_chexpert_csv(path, policy)}
    files = find_image_files(folder)
    if not files:
        raise TrainerError(f"{folder}: no images in it or its subfolders")
    keep_view = view_filter(views)
    paired = pair_files(files, rows, chexpert_key)
    samples = [Sample(path, key, row.patient_id, row.findings.positives, row.view, row.age, row.sex,
                      row.findings.uncertain, row.findings.masked, row.official_split)
               for key, (path, row) in paired.pairs.items() if keep_view(row.view)]
    if not samples:
        raise TrainerError(f"{folder}: none of its {len(files)} images is listed"
                           f"{' with the views asked for' if views else ''} in {', '.join(p.name for p in csvs)} "
                           "(images must keep CheXpert's train|valid/patientN/studyN/FILE layout)")
    report_pairing(paired, folder, " + ".join(p.name for p in csvs), len(rows))
    if max_images is not None:
        samples = samples[:max_images]
    return LabelledImages(samples, csvs[0], CHEXPERT_LABELS, paired.unlabelled, paired.rows_without_image,
                          annotated=CHEXPERT_LABELS, uncertainty=policy)
