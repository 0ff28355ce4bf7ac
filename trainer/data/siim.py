"""The SIIM-ACR Pneumothorax reader: the DICOMs under ``--data`` with the challenge's ``train-rle.csv``.

The SIIM-ACR Pneumothorax Segmentation challenge (2019) published 12,047 training DICOMs, named
``<ImageId>.dcm`` (the SOP Instance UID) and nested in study / series folders, and one label file
of ``ImageId, EncodedPixels`` rows: ``-1`` for an image without pneumothorax, else one row per
outlined region, its mask run-length encoded (``decode_rle``). The file is read plain, gzipped
or zipped (torchxrayvision ships it as ``siim-pneumothorax-train-rle.csv.gz``).

Label: ``Pneumothorax``, positive when any row of the image has a mask. torchxrayvision's
``SIIM_Pneumothorax_Dataset`` makes one sample per row, so an image outlined in three regions is
three samples there (12,954); here it is one image (12,047), as the split needs.

Patients: the label file names none. The DICOMs carry a PatientID, read from each file's header
(with its view, age and sex) and used to keep a patient's images in one split; an image whose
header gives none is a patient of its own. A sample's ``patient_id`` is a number (the label
file's position of the patient's first image), never the PatientID. ``read_siim_boxes`` gives the
bounding box of each outlined region, in the 1024 px pixels of the images.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from viewer.core.heatmap import Box

from ..errors import TrainerError
from .dicom_tags import read_tags
from .images import find_image_files, pair_files, report_pairing
from .label_files import find_label_file, read_label_rows
from .labels import LabelledImages, Sample
from .views import view_filter

SIIM_LABELS: tuple[str, ...] = ("Pneumothorax",)
# the challenge's name, and torchxrayvision's for the same file
LABEL_CSV_NAMES: tuple[str, ...] = ("train-rle.csv", "siim-pneumothorax-train-rle.csv")
REQUIRED_COLUMNS = ("ImageId", "EncodedPixels")  # the file's header is "ImageId, EncodedPixels"
IMAGE_SIZE = 1024  # every image of the set is 1024 x 1024; the masks are encoded at that size
NO_MASK = "-1"


def read_siim_labels(path: Path) -> dict[str, tuple[str, ...]]:
    """The masks (run-length codes, checked to fit the 1024 px image) of each image of a
    ``train-rle.csv``, by ``ImageId`` in file order; an empty tuple for an image without
    pneumothorax. ``TrainerError`` naming the file and row for a row it cannot read."""
    images: dict[str, list[str]] = {}
    without: set[str] = set()  # images with a -1 row
    for number, row in enumerate(read_label_rows(path, REQUIRED_COLUMNS), start=2):
        image, code = row["ImageId"], row["EncodedPixels"]
        if not image:
            raise TrainerError(f"{path}: row {number}: no ImageId (is this the challenge's own label file?)")
        masks = images.setdefault(image, [])
        if (code == NO_MASK and masks) or (code != NO_MASK and image in without):
            raise TrainerError(f"{path}: row {number}: a mask and -1 (no pneumothorax) for the same image")
        if code == NO_MASK:
            without.add(image)
            continue
        try:
            starts, lengths = _runs(code)
        except ValueError as exc:
            raise TrainerError(f"{path}: row {number}: EncodedPixels is not -1 or a run-length code ({exc})") from None
        if starts[-1] + lengths[-1] > IMAGE_SIZE * IMAGE_SIZE:
            raise TrainerError(f"{path}: row {number}: EncodedPixels runs past the {IMAGE_SIZE} x {IMAGE_SIZE} image")
        masks.append(code)
    return {image: tuple(masks) for image, masks in images.items()}


def _runs(code: str) -> tuple[np.ndarray, np.ndarray]:
    """(starts, lengths) of a code: pairs of (gap since the end of the previous run, length)."""
    try:
        numbers = np.array(code.split(), np.int64)
    except ValueError:
        raise ValueError("not whole numbers") from None
    if len(numbers) == 0 or len(numbers) % 2 or (numbers < 0).any() or (numbers[1::2] == 0).any():
        raise ValueError("not pairs of a gap and a positive length")
    gaps, lengths = numbers[0::2], numbers[1::2]
    # SIIM's codes are relative: each start counts from the end of the previous run
    ends = np.cumsum(gaps + lengths)
    return ends - lengths, lengths


def decode_rle(code: str, width: int = IMAGE_SIZE, height: int = IMAGE_SIZE) -> np.ndarray:
    """The [height, width] bool mask of a SIIM run-length code.

    Pixels are numbered down the columns (column-major: pixel ``n`` is row ``n % height`` of
    column ``n // height``), and each run's start is given relative to the end of the one before
    (the challenge's ``mask2rle``; torchxrayvision's ``rle2mask`` followed by a transpose).
    ValueError for a code that is not one or runs past the image."""
    starts, lengths = _runs(code)
    flat = np.zeros(width * height, bool)
    if starts[-1] + lengths[-1] > flat.size:
        raise ValueError(f"runs past the {width} x {height} image")
    for start, length in zip(starts.tolist(), lengths.tolist()):
        flat[start:start + length] = True
    return flat.reshape(width, height).T


def rle_box(code: str, width: int = IMAGE_SIZE, height: int = IMAGE_SIZE) -> Box:
    """The bounding box (left, top, width, height, in pixels) of a code's mask, from its runs
    alone: a run within one column spans its rows there; a run that wraps into the next column
    covers the column's bottom row and the next one's top row, so the box spans every row.
    Equal to ``mask_box(decode_rle(code))``, without the mask. ValueError as ``decode_rle``."""
    starts, lengths = _runs(code)
    last = starts + lengths - 1
    if last[-1] >= width * height:
        raise ValueError(f"runs past the {width} x {height} image")
    first_column, last_column = starts // height, last // height
    wraps = first_column != last_column
    top = int(np.where(wraps, 0, starts % height).min())
    bottom = int(np.where(wraps, height - 1, last % height).max())
    left, right = int(first_column.min()), int(last_column.max())
    return Box(float(left), float(top), float(right - left + 1), float(bottom - top + 1))


def mask_box(mask: np.ndarray) -> Box | None:
    """The bounding box (left, top, width, height, in pixels) of a bool mask; None when empty."""
    rows, columns = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if not len(rows):
        return None
    return Box(float(columns[0]), float(rows[0]), float(columns[-1] - columns[0] + 1), float(rows[-1] - rows[0] + 1))


def read_siim_boxes(path: str | os.PathLike[str]) -> dict[str, tuple[Box, ...]]:
    """The boxes of each positive image of a ``train-rle.csv``, by ImageId (the file name's stem):
    one per outlined region (row), the bounding box of its mask in the 1024 px image."""
    boxes = {}
    for image, codes in read_siim_labels(Path(path)).items():
        if codes:
            boxes[image] = tuple(rle_box(code) for code in codes)
    return boxes


def load_siim(
    data: str | os.PathLike[str],
    labels_csv: str | os.PathLike[str] | None = None,
    views: Sequence[str] = (),
    max_images: int | None = None,
) -> LabelledImages:
    """The SIIM-ACR images under ``data`` with their labels (a ``DatasetReader``).

    ``labels_csv``: the label file, when it is not in ``data`` or a parent. Images are matched by
    file stem (``<ImageId>.dcm``, or the same name as PNG / JPEG) at any depth. Each DICOM's
    header gives its patient, view (``views``: PA, AP, ``FRONTAL``...), age and sex.
    """
    folder = Path(data)
    if not folder.is_dir():
        raise TrainerError(f"{folder}: data folder not found (pass --data FOLDER with the SIIM-ACR DICOMs)")
    labels_path = Path(labels_csv) if labels_csv else find_label_file(folder, LABEL_CSV_NAMES)
    if labels_path is None:
        raise TrainerError(f"{folder}: no {' or '.join(LABEL_CSV_NAMES)} (.gz, .zip) in this folder or its "
                           "parents (put the challenge's label file above the images, or pass --labels-csv FILE)")
    images = read_siim_labels(labels_path)
    order = {image: i for i, image in enumerate(images, start=1)}
    files = find_image_files(folder)
    if not files:
        raise TrainerError(f"{folder}: no images in it or its subfolders")
    paired = pair_files(files, images)
    keep_view = view_filter(views)
    patients: dict[tuple[str, str], int] = {}
    chosen = []
    for image, (path, codes) in sorted(paired.pairs.items(), key=lambda item: order[item[0]]):
        tags = read_tags(path)  # patients numbered in file order
        key = ("patient", tags.patient_id) if tags.patient_id else ("image", image)
        patient = patients.setdefault(key, order[image])
        if keep_view(tags.view):
            labels = SIIM_LABELS if codes else ()
            chosen.append(Sample(path, path.name, patient, labels, tags.view, tags.age, tags.sex))
    samples = sorted(chosen, key=lambda s: s.path)
    if not samples:
        raise TrainerError(f"{folder}: none of its {len(files)} images is listed"
                           f"{' with the views asked for' if views else ''} in {labels_path.name} "
                           "(the file names must be the label file's ImageId)")
    report_pairing(paired, folder, labels_path.name, len(images))
    if max_images is not None:
        samples = samples[:max_images]
    return LabelledImages(samples, labels_path, SIIM_LABELS, paired.unlabelled, paired.rows_without_image)
