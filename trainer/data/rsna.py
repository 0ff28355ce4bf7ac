"""The RSNA Pneumonia reader: the images under ``--data`` with Kaggle's ``stage_2_train_labels.csv``.

The RSNA Pneumonia Detection Challenge (Shih et al. 2019) re-read 26,684 NIH ChestX-ray14 images:
one row per box of lung opacity suggestive of pneumonia (``patientId, x, y, width, height,
Target``), or one row with blank coordinates and ``Target`` 0 for an image without one. The
label file is read plain, gzipped or zipped (Kaggle's download, and torchxrayvision's
``kaggle_stage_2_train_labels.csv.zip``).

Labels: ``Lung Opacity`` and ``Pneumonia``, both the image's ``Target``, as torchxrayvision's
``RSNA_Pneumonia_Dataset`` names them (the challenge's boxes are opacities its readers took for
pneumonia: one finding under CheXpert's name for what is seen and NIH's for what it means, so a
model of either set's labels can be scored here). Boxes, in the 1024 px pixels of the released
images, are read by ``read_rsna_boxes``.

Patients: Kaggle's ``patientId`` names an image, and the release gave every image its own DICOM
PatientID equal to it (all 26,684 in torchxrayvision's header table), so the split is in effect
by image: the NIH patients behind the images are not in the release, and one of them may have
images in two splits. Images are still grouped by PatientID, read from the header table
``kaggle_stage_2_train_images_dicom_headers.csv(.gz)`` beside the label file (torchxrayvision's)
or else from each DICOM's header, so a set with real PatientIDs splits by patient. A sample's
``patient_id`` is a number (the label file's position of the patient's first image), never the
PatientID. The view (PA / AP), age and sex come from the same header. No message names an image
of this set by its file name: that name is its PatientID.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from viewer.core.heatmap import Box

from ..errors import TrainerError
from .dicom_tags import DicomTags, age_in_years, read_tags, sex_code
from .images import find_image_files, pair_files, report_pairing
from .label_files import find_label_file, read_label_rows
from .labels import LabelledImages, Sample
from .views import view_filter

RSNA_LABELS: tuple[str, ...] = ("Lung Opacity", "Pneumonia")  # torchxrayvision's names, sorted as it sorts them
# Kaggle's name, and torchxrayvision's for the same file
LABEL_CSV_NAMES: tuple[str, ...] = ("stage_2_train_labels.csv", "kaggle_stage_2_train_labels.csv")
HEADERS_CSV_NAMES: tuple[str, ...] = ("kaggle_stage_2_train_images_dicom_headers.csv",)
REQUIRED_COLUMNS = ("patientId", "x", "y", "width", "height", "Target")
_BOX_COLUMNS = ("x", "y", "width", "height")


@dataclass(frozen=True)
class RsnaImage:
    """What the label file says of one image."""

    number: int  # 1 = the first image the file lists
    positive: bool  # Target 1
    boxes: tuple[Box, ...]  # in the 1024 px pixels of the released image; empty when negative


def read_rsna_labels(path: Path) -> dict[str, RsnaImage]:
    """The images of a ``stage_2_train_labels.csv`` by ``patientId`` (the image id), in file
    order; ``TrainerError`` naming the file and row for a row it cannot read."""
    targets: dict[str, bool] = {}
    boxes: dict[str, list[Box]] = {}
    for number, row in enumerate(read_label_rows(path, REQUIRED_COLUMNS), start=2):
        image, target = row["patientId"], row["Target"]
        if not image or target not in ("0", "1"):
            raise TrainerError(f"{path}: row {number}: {'Target is not 0 or 1' if image else 'no patientId'} "
                               "(is this the challenge's own label file?)")
        if targets.setdefault(image, target == "1") != (target == "1"):
            raise TrainerError(f"{path}: row {number}: its Target differs from an earlier row of the same image")
        box = _box(path, number, row, target == "1")
        boxes.setdefault(image, [])
        if box is not None:
            boxes[image].append(box)
    return {image: RsnaImage(i, targets[image], tuple(found))
            for i, (image, found) in enumerate(boxes.items(), start=1)}


def _box(path: Path, number: int, row: dict[str, str], positive: bool) -> Box | None:
    cells = [row[c] for c in _BOX_COLUMNS]
    if not positive:
        if any(cells):
            raise TrainerError(f"{path}: row {number}: a box on a row whose Target is 0")
        return None
    try:
        x, y, w, h = (float(c) for c in cells)
    except ValueError:
        raise TrainerError(f"{path}: row {number}: Target 1 needs x, y, width and height as numbers") from None
    if not all(math.isfinite(v) for v in (x, y, w, h)) or w <= 0 or h <= 0:
        raise TrainerError(f"{path}: row {number}: the box is not finite with a positive width and height")
    return Box(x, y, w, h)


def read_rsna_boxes(path: str | os.PathLike[str]) -> dict[str, tuple[Box, ...]]:
    """The boxes of each positive image of a ``stage_2_train_labels.csv``, by image id (the file
    name's stem), as (left, top, width, height) in the 1024 px pixels of the released images."""
    return {image: entry.boxes for image, entry in read_rsna_labels(Path(path)).items() if entry.positive}


def read_rsna_headers(path: Path) -> dict[str, DicomTags]:
    """The DICOM values of each image (by ``PatientID``, which is the image id) in
    torchxrayvision's ``kaggle_stage_2_train_images_dicom_headers.csv``."""
    tags = {}
    for row in read_label_rows(path, ("PatientID", "ViewPosition")):
        image = row["PatientID"]
        tags[image] = DicomTags(image, row["ViewPosition"].upper() or None,
                                age_in_years(row.get("PatientAge", "")), sex_code(row.get("PatientSex", "")))
    return tags


def find_rsna_headers(labels_path: Path, folder: Path) -> Path | None:
    """The header table beside (or above) the label file, else in ``folder`` or a parent."""
    return find_label_file(labels_path.parent, HEADERS_CSV_NAMES) or find_label_file(folder, HEADERS_CSV_NAMES)


def load_rsna(
    data: str | os.PathLike[str],
    labels_csv: str | os.PathLike[str] | None = None,
    views: Sequence[str] = (),
    max_images: int | None = None,
) -> LabelledImages:
    """The RSNA Pneumonia images under ``data`` with their labels (a ``DatasetReader``).

    ``labels_csv``: the label file, when it is not in ``data`` or a parent. Images are matched by
    file stem (``<patientId>.dcm``, or the same name as PNG / JPEG), in any subfolder. ``views``:
    PA, AP or ``FRONTAL`` (every image of the set is frontal), from the header table or DICOM.
    """
    folder = Path(data)
    if not folder.is_dir():
        raise TrainerError(f"{folder}: data folder not found (pass --data FOLDER with the RSNA images)")
    labels_path = Path(labels_csv) if labels_csv else find_label_file(folder, LABEL_CSV_NAMES)
    if labels_path is None:
        raise TrainerError(f"{folder}: no {' or '.join(LABEL_CSV_NAMES)} (.gz, .zip) in this folder or its "
                           "parents (put the challenge's label file beside the images, or pass --labels-csv FILE)")
    images = read_rsna_labels(labels_path)
    headers_path = find_rsna_headers(labels_path, folder)
    headers = read_rsna_headers(headers_path) if headers_path else {}
    files = find_image_files(folder)
    if not files:
        raise TrainerError(f"{folder}: no images in it or its subfolders")
    paired = pair_files(files, images)
    keep_view = view_filter(views)
    patients: dict[str, int] = {}
    chosen = []
    for image, (path, row) in sorted(paired.pairs.items(), key=lambda item: item[1][1].number):
        tags = headers.get(image) or read_tags(path)  # patients numbered in file order
        patient = patients.setdefault(tags.patient_id or image, row.number)
        if keep_view(tags.view):
            labels = RSNA_LABELS if row.positive else ()
            chosen.append(Sample(path, path.name, patient, labels, tags.view, tags.age, tags.sex))
    samples = sorted(chosen, key=lambda s: s.path)
    if not samples:
        raise TrainerError(f"{folder}: none of its {len(files)} images is listed"
                           f"{' with the views asked for' if views else ''} in {labels_path.name} "
                           "(the file names must be the label file's patientId)")
    report_pairing(paired, folder, labels_path.name, len(images), name_files=False)  # an RSNA file name is a PatientID
    if max_images is not None:
        samples = samples[:max_images]
    return LabelledImages(samples, labels_path, RSNA_LABELS, paired.unlabelled, paired.rows_without_image)
