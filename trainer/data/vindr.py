"""The VinDr-CXR reader: the images under ``--data`` with their radiologists' annotations.

VinDr-CXR (Nguyen et al. 2022) publishes one row per box a radiologist drew: ``image_id``,
``rad_id`` (R1 ... R17), ``class_name`` and ``x_min, y_min, x_max, y_max`` in the image's own
pixels, or one ``No finding`` row without a box when the radiologist found none of the findings.
Each training image was read by three radiologists independently, each test image by a consensus
of five. The tables come as PhysioNet's ``annotations/annotations_train.csv`` and
``annotations_test.csv`` (22 local labels) or as the Kaggle challenge's ``train.csv`` (the 14
findings of ``VINDR_LABELS``, the training images only; torchxrayvision ships it as
``vinbigdata-train.csv.gz``). Images are ``<image_id>.dicom`` or a PNG/JPEG of the same stem.

An image is positive for a finding when any of its radiologists marked it, as torchxrayvision's
``VinDr_Dataset`` decides (it joins the class names of all the image's rows); ``radiologist_labels``
keeps what each radiologist said, for agreement, and ``read_boxes`` the boxes. The labels are the
14 findings of ``VINDR_LABELS``, named as the file names them (``trainer.data.taxonomy`` pairs them
with other datasets'); PhysioNet's other local labels (Rib fracture, Emphysema, ...) are no label
here, as in ``VinDr_Dataset``, but their boxes are read. ``VinDr_Dataset`` renames four labels
(Effusion, Pleural_Thickening, Other Lesion, Pulmonary Fibrosis); its positives are these.

VinDr-CXR names no patient, only images: each image is its own patient (``ids.stable_id`` of its
id), so a split by patient is a split by image, and two images of one person may land in two
splits. Every image is a postero-anterior view (the dataset keeps PA views only): the view is
``PA``. The official split is the table's: ``annotations_test.csv`` is ``test``, every other table
``train``.
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import TrainerError
from .ids import stable_id
from .images import find_image_files, pair_files, report_pairing
from .label_files import read_header, read_label_rows
from .labels import LabelledImages, Sample
from .views import view_filter

# the Kaggle table's 14 findings, its class_name values (class_id 0-13), in their order
VINDR_LABELS: tuple[str, ...] = (
    "Aortic enlargement", "Atelectasis", "Calcification", "Cardiomegaly", "Consolidation", "ILD",
    "Infiltration", "Lung Opacity", "Nodule/Mass", "Other lesion", "Pleural effusion", "Pleural thickening",
    "Pneumothorax", "Pulmonary fibrosis",
)
NO_FINDING = "No finding"
TEST_CSV = "annotations_test.csv"
# the tables, by preference: PhysioNet's pair, torchxrayvision's copy of Kaggle's, Kaggle's own
CSV_GROUPS: tuple[tuple[str, ...], ...] = (("annotations_train.csv", TEST_CSV), ("vinbigdata-train.csv",),
                                           ("train.csv",))
CSV_NAMES: tuple[str, ...] = tuple(name for group in CSV_GROUPS for name in group)
ANNOTATIONS_FOLDER = "annotations"  # where PhysioNet keeps the tables, beside train/ and test/
REQUIRED_COLUMNS = ("image_id", "class_name", "x_min", "y_min", "x_max", "y_max")
VIEW = "PA"
_CANONICAL = {label.lower(): label for label in VINDR_LABELS}


@dataclass(frozen=True)
class Box:
    """A finding a radiologist boxed, in the original image's pixels."""

    label: str  # class_name as the file writes it (may be outside VINDR_LABELS)
    rad_id: str | None  # None where the table has no rad_id (a consensus)
    x_min: float
    y_min: float
    x_max: float
    y_max: float


@dataclass(frozen=True)
class Annotation:
    """One row of a VinDr-CXR table."""

    image_id: str
    rad_id: str | None
    class_name: str
    box: Box | None  # None for No finding (or a row without coordinates)

    @property
    def finding(self) -> str | None:
        """The ``VINDR_LABELS`` finding of the row, None for No finding or another label."""
        return _CANONICAL.get(self.class_name.lower())


def is_vindr_table(path: Path) -> bool:
    """Whether ``path`` has VinDr-CXR's columns (Kaggle's ``train.csv`` shares CheXpert's name)."""
    return {"image_id", "class_name"} <= set(read_header(path))


def read_vindr_csv(path: Path) -> list[Annotation]:
    """The rows of a VinDr-CXR table; ``TrainerError`` naming the file and row for a row it
    cannot read (a blank image_id or class_name, a coordinate that is not a number)."""
    annotations = []
    for number, row in enumerate(read_label_rows(path, REQUIRED_COLUMNS, keep=(*REQUIRED_COLUMNS, "rad_id")), 2):
        image_id, class_name, rad_id = row.get("image_id", ""), row.get("class_name", ""), row.get("rad_id") or None
        if not image_id or not class_name:
            raise TrainerError(f"{path}: row {number}: image_id or class_name is blank")
        try:
            box = _box(row, class_name, rad_id)
        except ValueError as exc:
            raise TrainerError(f"{path}: row {number}: {exc}") from None
        annotations.append(Annotation(image_id, rad_id, class_name, box))
    return annotations


def _box(row: Mapping[str, str], label: str, rad_id: str | None) -> Box | None:
    cells = [row.get(name, "") for name in REQUIRED_COLUMNS[2:]]
    if not any(cells):
        return None
    try:
        x_min, y_min, x_max, y_max = (float(cell) for cell in cells)
    except ValueError:
        raise ValueError("x_min, y_min, x_max or y_max is not a number") from None
    if not all(map(math.isfinite, (x_min, y_min, x_max, y_max))) or x_max < x_min or y_max < y_min:
        raise ValueError("the box is not x_min <= x_max, y_min <= y_max")
    return Box(label, rad_id, x_min, y_min, x_max, y_max)


def image_labels(annotations: Sequence[Annotation]) -> dict[str, tuple[str, ...]]:
    """The positive ``VINDR_LABELS`` of each image id: those any of its radiologists marked
    (empty for an image that all called No finding)."""
    found: dict[str, set[str]] = defaultdict(set)
    for annotation in annotations:
        bucket = found[annotation.image_id]
        if annotation.finding is not None:
            bucket.add(annotation.finding)
    return {image: tuple(label for label in VINDR_LABELS if label in labels) for image, labels in found.items()}


def radiologist_labels(annotations: Sequence[Annotation]) -> dict[str, dict[str | None, tuple[str, ...]]]:
    """What each radiologist said of each image: image id -> rad_id -> positive
    ``VINDR_LABELS`` (empty: No finding). The agreement on a finding is how many of an image's
    radiologists list it."""
    found: dict[str, dict[str | None, set[str]]] = defaultdict(lambda: defaultdict(set))
    for annotation in annotations:
        bucket = found[annotation.image_id][annotation.rad_id]
        if annotation.finding is not None:
            bucket.add(annotation.finding)
    return {image: {rad: tuple(label for label in VINDR_LABELS if label in labels) for rad, labels in rads.items()}
            for image, rads in found.items()}


def boxes_by_image(annotations: Sequence[Annotation]) -> dict[str, list[Box]]:
    """The boxes of each image id, in file order, every local label's (``Box.label`` as the file
    writes it); images with No finding only are absent."""
    boxes: dict[str, list[Box]] = defaultdict(list)
    for annotation in annotations:
        if annotation.box is not None:
            boxes[annotation.image_id].append(annotation.box)
    return dict(boxes)


def read_boxes(path: str | os.PathLike[str]) -> dict[str, list[Box]]:
    """``boxes_by_image`` of a VinDr-CXR table (``TrainerError`` as ``read_vindr_csv``)."""
    return boxes_by_image(read_vindr_csv(Path(path)))


def find_vindr_csvs(folder: Path) -> list[Path]:
    """VinDr-CXR's tables in ``folder``, its ``annotations/`` subfolder, or the nearest parent
    (or parent's ``annotations/``) holding one: PhysioNet's pair if there, else torchxrayvision's
    ``vinbigdata-train.csv``, else a ``train.csv`` with VinDr's columns."""
    for place in (folder, *folder.parents):
        for where in (place, place / ANNOTATIONS_FOLDER):
            for group in CSV_GROUPS:
                found = [p for name in group for p in (where / name, where / f"{name}.gz") if p.is_file()]
                found = [p for p in found if not p.name.startswith("train.csv") or is_vindr_table(p)]
                if found:
                    return found
    return []


def official_split_of(path: Path) -> str:
    """The official split of a table's images: ``test`` for ``annotations_test.csv``, else ``train``."""
    return "test" if path.name.removesuffix(".gz") == TEST_CSV else "train"


def load_vindr(
    data: str | os.PathLike[str],
    labels_csv: str | os.PathLike[str] | None = None,
    views: Sequence[str] = (),
    max_images: int | None = None,
) -> LabelledImages:
    """The VinDr-CXR images under ``data`` with their labels (a ``DatasetReader``).

    ``labels_csv``: one table instead of those found from ``data`` (``find_vindr_csvs``).
    ``views``: every image is ``PA``, so ``FRONTAL`` or ``PA`` keeps all and ``LATERAL`` none.
    Images are matched by stem with the table's ``image_id`` (``.dicom``, ``.png``, ``.jpg``).
    """
    folder = Path(data)
    if not folder.is_dir():
        raise TrainerError(f"{folder}: data folder not found (pass --data FOLDER with the VinDr-CXR images)")
    csvs = [Path(labels_csv)] if labels_csv else find_vindr_csvs(folder)
    if not csvs:
        raise TrainerError(f"{folder}: no {', '.join(CSV_NAMES[:-1])} or VinDr-CXR train.csv in this folder, "
                           f"its {ANNOTATIONS_FOLDER}/ or its parents (pass --labels-csv FILE)")
    labels: dict[str, tuple[str, ...]] = {}
    official: dict[str, str] = {}
    for path in csvs:
        for image, marked in image_labels(read_vindr_csv(path)).items():
            labels[image] = marked
            official[image] = official_split_of(path)
    files = find_image_files(folder)
    if not files:
        raise TrainerError(f"{folder}: no images in it or its subfolders")
    paired = pair_files(files, labels)
    samples = [Sample(path, path.name, stable_id(image), positives, VIEW, official_split=official[image])
               for image, (path, positives) in paired.pairs.items()] if view_filter(views)(VIEW) else []
    if not samples:
        raise TrainerError(f"{folder}: none of its {len(files)} images is in {', '.join(p.name for p in csvs)}"
                           + (" (every VinDr-CXR image is a PA view)" if views and paired.pairs else
                              " (the file names must be the table's image_id)"))
    report_pairing(paired, folder, " + ".join(p.name for p in csvs), len(labels))
    if max_images is not None:
        samples = samples[:max_images]
    return LabelledImages(samples, csvs[0], VINDR_LABELS, paired.unlabelled, paired.rows_without_image)
