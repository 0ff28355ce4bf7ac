"""The PadChest reader: the PNGs under ``--data`` with their rows of PadChest's label CSV.

PadChest (Bustos et al. 2020) publishes one table, ``PADCHEST_chest_x_ray_images_labels_160K_
01.02.19.csv(.gz)``, a row per image: ``ImageID`` (the PNG's file name; the download spreads the
PNGs over numbered folders 0/ ... 54/, which is why images are matched by name alone),
``PatientID`` (a text code), ``Projection`` (PA, AP, AP_horizontal, L, COSTAL, EXCLUDE, UNK) and
``Labels``, the list of terms of PadChest's vocabulary (174 findings, 19 diagnoses...) its report
labeller or a physician found, e.g. ``['pleural effusion', 'NSG tube']``.

The label set and what makes an image positive are torchxrayvision's ``PC_Dataset``'s: a label is
positive when one of the image's terms contains one of its patterns (``PADCHEST_LABELS``), so
``pleural effusion`` is also positive for "loculated pleural effusion" and "pericardial effusion",
``nodule`` for "pseudonodule", ``infiltrates`` for the interstitial and alveolar patterns; a
pattern ending in ``'`` must end the term (``tube'``: "NSG tube", "endotracheal tube"). Labels are
named by PadChest's own term, as ``trainer.data.taxonomy`` names PadChest's findings, so a model
trained here pairs with NIH's or CheXpert's labels through the taxonomy. A row whose ``Labels`` is
blank or ``nan`` is not labelled (left out, as torchxrayvision drops it); ``['normal']`` is labelled and has
no findings.

Where this reader differs from ``PC_Dataset`` (``views=["*"], unique_patients=False``): it keeps
children (``PC_Dataset`` drops rows born in 2009 or later, or without a birth year) and does not
drop the 21 files ``PC_Dataset`` lists as missing or broken (an image that cannot be read is the
trainer's ``--bad-images`` business); AP_horizontal (AP supine) is view ``AP``, as a DICOM
ViewPosition would name it, where ``PC_Dataset`` calls it ``AP Supine``; L is ``LATERAL``.

PadChest publishes no split (``official_split`` is None). The patient is ``ids.stable_id`` of
``PatientID``; the age is the study year less ``PatientBirth`` (a year). No message quotes a cell.
"""

from __future__ import annotations

import ast
import functools
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import TrainerError
from .ids import stable_id
from .images import by_name, find_image_files, pair_files, report_pairing
from .label_files import find_label_file, read_label_rows
from .labels import LabelledImages, Sample
from .views import view_filter

log = logging.getLogger(__name__)

PADCHEST_CSV = "PADCHEST_chest_x_ray_images_labels_160K_01.02.19.csv"
# label: the patterns of PC_Dataset (its pathology's name and its mapping's synonyms, lower case);
# the labels are PC_Dataset's 28 pathologies, named by PadChest's term where taxonomy.py has one
PADCHEST_PATTERNS: dict[str, tuple[str, ...]] = {
    "air trapping": ("air trapping",),
    "aortic atheromatosis": ("aortic atheromatosis",),
    "aortic elongation": ("aortic elongation",),
    "atelectasis": ("atelectasis",),
    "bronchiectasis": ("bronchiectasis",),
    "cardiomegaly": ("cardiomegaly",),
    "consolidation": ("consolidation", "air bronchogram"),
    "costophrenic angle blunting": ("costophrenic angle blunting",),
    "emphysema": ("emphysema",),
    "flattened diaphragm": ("flattened diaphragm",),
    "fracture": ("fracture",),
    "granuloma": ("granuloma",),
    "hemidiaphragm elevation": ("hemidiaphragm elevation",),
    "hiatal hernia": ("hernia",),
    "hilar enlargement": ("hilar enlargement", "adenopathy", "pulmonary artery enlargement"),
    "infiltrates": ("infiltration", "infiltrates", "interstitial pattern", "ground glass pattern",
                    "reticular interstitial pattern", "reticulonodular interstitial pattern", "alveolar pattern",
                    "consolidation", "air bronchogram"),
    "mass": ("mass",),
    "nodule": ("nodule",),
    "pleural effusion": ("effusion",),
    "pleural thickening": ("pleural thickening",),
    "pneumonia": ("pneumonia",),
    "pneumothorax": ("pneumothorax",),
    "pulmonary edema": ("edema",),
    "pulmonary fibrosis": ("fibrosis",),
    "scoliosis": ("scoliosis",),
    "support devices": ("support devices", "device", "pacemaker"),
    "tube": ("tube'", "stent'"),  # PC_Dataset's "Tube'": terms that end in tube or stent
    "tuberculosis": ("tuberculosis",),
}
PADCHEST_LABELS: tuple[str, ...] = tuple(PADCHEST_PATTERNS)
REQUIRED_COLUMNS = ("ImageID", "PatientID", "Projection", "Labels")
_OPTIONAL_COLUMNS = ("StudyDate_DICOM", "PatientBirth", "PatientSex_DICOM")
# what the published file writes in a row without labels (103 rows say "nan"), as pandas reads it
_NO_LABELS = frozenset({"", "nan", "none", "null", "n/a", "na"})
_VIEWS = {"PA": "PA", "AP": "AP", "AP_HORIZONTAL": "AP", "L": "LATERAL", "UNK": None, "": None}


@dataclass(frozen=True)
class PadchestRow:
    """One labelled row of PadChest's table."""

    image_id: str  # the PNG's file name
    patient_id: int  # stable_id of PatientID
    view: str | None  # PA, AP, LATERAL, or the Projection upper-cased (COSTAL, EXCLUDE)
    age: int | None
    sex: str | None
    findings: tuple[str, ...]  # PADCHEST_LABELS that are positive
    terms: tuple[str, ...]  # the row's Labels as written


def labels_of_terms(terms: Sequence[str]) -> tuple[str, ...]:
    """The ``PADCHEST_LABELS`` positive for PadChest ``terms`` (``PADCHEST_PATTERNS``' rule)."""
    positive = set().union(*(_labels_of_term(term.strip().lower()) for term in terms))
    return tuple(label for label in PADCHEST_LABELS if label in positive)


@functools.lru_cache(maxsize=4096)  # the vocabulary has under 200 terms: each is matched once
def _labels_of_term(term: str) -> frozenset[str]:
    return frozenset(label for label, patterns in PADCHEST_PATTERNS.items()
                     if any(_matches(term, pattern) for pattern in patterns))


def _matches(term: str, pattern: str) -> bool:
    # PC_Dataset searches the list's text, where "'" closes a term: "x'" means the term ends in x
    return term.endswith(pattern[:-1]) if pattern.endswith("'") else pattern in term


def _terms(text: str) -> tuple[str, ...]:
    """The terms of a ``Labels`` cell, a Python list of strings; ValueError otherwise."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise ValueError("Labels is not a list of terms such as ['normal']") from None
    if not isinstance(value, list) or not all(isinstance(term, str) for term in value):
        raise ValueError("Labels is not a list of terms such as ['normal']")
    return tuple(term.strip() for term in value)


def _age(row: Mapping[str, str]) -> int | None:
    date, birth = row.get("StudyDate_DICOM", ""), row.get("PatientBirth", "")
    try:
        age = int(date[:4]) - int(float(birth))
    except ValueError:  # blank or not a number: unknown
        return None
    return age if 0 <= age <= 120 else None


def read_padchest_csv(path: Path) -> tuple[list[PadchestRow], int]:
    """(the labelled rows, how many rows have a blank ``Labels``) of PadChest's table;
    ``TrainerError`` naming the file and row for a row it cannot read."""
    rows, blank = [], 0
    table = read_label_rows(path, REQUIRED_COLUMNS, keep=(*REQUIRED_COLUMNS, *_OPTIONAL_COLUMNS))
    parsed: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}  # Labels text: (terms, findings)
    for number, row in enumerate(table, start=2):
        if not row.get("ImageID") or not row.get("PatientID"):
            raise TrainerError(f"{path}: row {number}: ImageID or PatientID is blank")
        if row.get("Labels", "").lower() in _NO_LABELS:
            blank += 1
            continue
        if (known := parsed.get(row["Labels"])) is None:  # a third of the rows repeat another's list
            try:
                terms = _terms(row["Labels"])
            except ValueError as exc:
                raise TrainerError(f"{path}: row {number}: {exc}") from None
            known = parsed[row["Labels"]] = (terms, labels_of_terms(terms))
        terms, findings = known
        projection = row["Projection"].upper()
        sex = row.get("PatientSex_DICOM", "").upper()
        rows.append(PadchestRow(row["ImageID"], stable_id(row["PatientID"]), _VIEWS.get(projection, projection),
                                _age(row), sex if sex in ("M", "F") else None, findings, terms))
    return rows, blank


def load_padchest(
    data: str | os.PathLike[str],
    labels_csv: str | os.PathLike[str] | None = None,
    views: Sequence[str] = (),
    max_images: int | None = None,
) -> LabelledImages:
    """The PadChest images under ``data`` with their labels (a ``DatasetReader``).

    ``labels_csv``: PadChest's table when it is not in ``data`` or a parent. ``views``: view
    positions or ``FRONTAL`` / ``LATERAL`` (``trainer.data.views``). Images are matched by file
    name, in whatever subfolder; an image whose row has blank ``Labels`` is ``unlabelled``.
    """
    folder = Path(data)
    if not folder.is_dir():
        raise TrainerError(f"{folder}: data folder not found (pass --data FOLDER with the PadChest PNGs)")
    csv_path = Path(labels_csv) if labels_csv else find_label_file(folder, (PADCHEST_CSV,))
    if csv_path is None:
        raise TrainerError(f"{folder}: no {PADCHEST_CSV}(.gz) in this folder or its parents (put PadChest's "
                           "table beside the image folders, or pass --labels-csv FILE)")
    rows, blank = read_padchest_csv(csv_path)
    labelled = {row.image_id: row for row in rows}
    files = find_image_files(folder)
    if not files:
        raise TrainerError(f"{folder}: no images in it or its subfolders")
    keep_view = view_filter(views)
    paired = pair_files(files, labelled, by_name)
    samples = [Sample(path, path.name, row.patient_id, row.findings, row.view, row.age, row.sex)
               for path, row in paired.pairs.values() if keep_view(row.view)]
    if not samples:
        raise TrainerError(f"{folder}: none of its {len(files)} images is listed with labels"
                           f"{' and one of the views asked for' if views else ''} in {csv_path.name} "
                           "(the file names must be the table's ImageID)")
    report_pairing(paired, folder, csv_path.name, len(labelled))
    if blank:
        log.info("%d rows of %s have no Labels and are not used", blank, csv_path.name)
    if max_images is not None:
        samples = samples[:max_images]
    return LabelledImages(samples, csv_path, PADCHEST_LABELS, paired.unlabelled, paired.rows_without_image)
