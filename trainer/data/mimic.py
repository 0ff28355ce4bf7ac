"""The MIMIC-CXR-JPG reader: the JPEGs under ``--data`` with the dataset's three label tables.

MIMIC-CXR-JPG 2.0.0 (Johnson et al. 2019) publishes, beside ``files/p10/p10000032/s50414267/
<dicom_id>.jpg``:

* ``mimic-cxr-2.0.0-chexpert.csv(.gz)``: one row per study (``subject_id``, ``study_id``) with
  CheXpert's 14 label columns and codes, read as ``chexpert.findings_of_row`` reads them (the
  same ``uncertainty`` policy);
* ``mimic-cxr-2.0.0-metadata.csv(.gz)``: one row per image (``dicom_id``, ``subject_id``,
  ``study_id``, ``ViewPosition``), which ties an image to its study and gives its view;
* ``mimic-cxr-2.0.0-split.csv(.gz)``: the official split per image (train / validate / test).

An image is its ``dicom_id`` (the file's stem); the patient is ``subject_id``. The tables name no
person, and no message here quotes a cell.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from ..errors import TrainerError
from .chexpert import CHEXPERT_LABELS, NO_FINDING, Findings, check_policy, findings_of_row
from .images import find_image_files, pair_files, report_pairing
from .label_files import find_label_file, read_label_rows
from .labels import LabelledImages, Sample
from .views import view_filter

CHEXPERT_CSV = "mimic-cxr-2.0.0-chexpert.csv"
METADATA_CSV = "mimic-cxr-2.0.0-metadata.csv"
SPLIT_CSV = "mimic-cxr-2.0.0-split.csv"
_SPLITS = {"train": "train", "validate": "val", "test": "test"}


def _ids(path: Path, number: int, row: dict[str, str], columns: Sequence[str]) -> tuple[int, ...]:
    try:
        return tuple(int(row[c]) for c in columns)
    except ValueError:
        raise TrainerError(f"{path}: row {number}: {' or '.join(columns)} is not a number") from None


def read_study_labels(path: Path, policy: str = "zeros") -> dict[tuple[int, int], Findings]:
    """The findings of each (subject_id, study_id) in MIMIC's ``chexpert.csv``."""
    chosen = check_policy(policy)
    studies = {}
    for number, row in enumerate(read_label_rows(path, ("subject_id", "study_id", NO_FINDING, *CHEXPERT_LABELS)), 2):
        subject, study = _ids(path, number, row, ("subject_id", "study_id"))
        try:
            studies[subject, study] = findings_of_row(row, chosen)
        except ValueError as exc:
            raise TrainerError(f"{path}: row {number}: {exc}") from None
    return studies


def read_image_table(path: Path) -> dict[str, tuple[int, int, str | None]]:
    """(subject_id, study_id, view) of each dicom_id in MIMIC's ``metadata.csv``."""
    images = {}
    for number, row in enumerate(read_label_rows(path, ("dicom_id", "subject_id", "study_id", "ViewPosition")), 2):
        subject, study = _ids(path, number, row, ("subject_id", "study_id"))
        images[row["dicom_id"]] = (subject, study, row["ViewPosition"].upper() or None)
    return images


def read_official_split(path: Path) -> dict[str, str]:
    """The official split ("train", "val", "test") of each dicom_id in MIMIC's ``split.csv``."""
    split = {}
    for number, row in enumerate(read_label_rows(path, ("dicom_id", "split")), 2):
        name = _SPLITS.get(row["split"].lower())
        if name is None:
            raise TrainerError(f"{path}: row {number}: split is not train, validate or test")
        split[row["dicom_id"]] = name
    return split


def load_mimic(
    data: str | os.PathLike[str],
    labels_csv: str | os.PathLike[str] | None = None,
    views: Sequence[str] = (),
    max_images: int | None = None,
    uncertainty: str = "zeros",
) -> LabelledImages:
    """The MIMIC-CXR-JPG images under ``data`` with their labels (a ``DatasetReader``).

    ``labels_csv``: the chexpert table, when it is not in ``data`` or a parent; the metadata and
    split tables are looked for beside it. ``views``: view positions or ``FRONTAL`` / ``LATERAL``.
    ``uncertainty``: ``ignore``, ``zeros`` or ``ones`` (``trainer.data.chexpert``). An image
    whose study the chexpert table lacks (a report without findings or impression) is
    ``unlabelled``; a metadata row without its image is counted in ``rows_without_image``.
    """
    policy = check_policy(uncertainty)
    folder = Path(data)
    if not folder.is_dir():
        raise TrainerError(f"{folder}: data folder not found (pass --data FOLDER with MIMIC-CXR-JPG's files/)")
    labels_path = Path(labels_csv) if labels_csv else find_label_file(folder, (CHEXPERT_CSV,))
    if labels_path is None:
        raise TrainerError(f"{folder}: no {CHEXPERT_CSV}(.gz) in this folder or its parents (put MIMIC-CXR-JPG's "
                           "tables beside files/, or pass --labels-csv FILE)")
    tables = {}
    for name in (METADATA_CSV, SPLIT_CSV):
        found = find_label_file(labels_path.parent, (name,))
        if found is None or found.parent != labels_path.parent:
            raise TrainerError(f"{labels_path.parent}: no {name}(.gz) beside {labels_path.name} "
                               "(MIMIC-CXR-JPG publishes the three tables together)")
        tables[name] = found
    studies = read_study_labels(labels_path, policy)
    images = read_image_table(tables[METADATA_CSV])
    official = read_official_split(tables[SPLIT_CSV])
    files = find_image_files(folder)
    if not files:
        raise TrainerError(f"{folder}: no images in it or its subfolders")
    keep_view = view_filter(views)
    # an image is labelled when the metadata knows it and its study has a label row
    labelled = {dicom_id: (image, studies[image[:2]]) for dicom_id, image in images.items() if image[:2] in studies}
    paired = pair_files(files, labelled)
    samples = [Sample(path, path.name, subject, findings.positives, view, None, None,
                      findings.uncertain, findings.masked, official.get(dicom_id))
               for dicom_id, (path, ((subject, _, view), findings)) in paired.pairs.items() if keep_view(view)]
    if not samples:
        raise TrainerError(f"{folder}: none of its {len(files)} images has labels"
                           f"{' and one of the views asked for' if views else ''} in {labels_path.name} "
                           "(the file names must be the metadata's dicom_id)")
    report_pairing(paired, folder, labels_path.name, len(labelled))
    if max_images is not None:
        samples = samples[:max_images]
    return LabelledImages(samples, labels_path, CHEXPERT_LABELS, paired.unlabelled, paired.rows_without_image,
                          annotated=CHEXPERT_LABELS, uncertainty=policy)
