"""Which images the trainer learns from, and the torch datasets that feed them to the model.

``load_labelled_images`` pairs the image files under ``--data`` with their rows of the NIH
Data_Entry CSV (``viewer.core.nih``). The datasets read pixels from a *source*: the
preprocessed cache (``CachedSource``, the default) or ``preprocess`` on every access
(``DecodeSource``); pixels always come from THE preprocessing function of ``viewer.core``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch.utils.data import Dataset

from viewer.core.loader import DICOM_SUFFIXES, RASTER_SUFFIXES
from viewer.core.walk import walk_files
from viewer.core.nih import NIH_LABELS, find_data_entry, read_data_entry
from viewer.core.preprocess import preprocess

from .augment import AugmentConfig, augment, resize_square
from .errors import TrainerError

log = logging.getLogger(__name__)
IMAGE_SUFFIXES = frozenset(RASTER_SUFFIXES | DICOM_SUFFIXES)


@dataclass(frozen=True)
class Sample:
    """One labelled image."""

    path: Path
    image_index: str  # the file name, as in the CSV
    patient_id: int
    labels: tuple[str, ...]  # positive findings; empty = No Finding
    view: str | None
    age: int | None = None
    sex: str | None = None


@dataclass
class LabelledImages:
    """The images found under the data folder that the label CSV knows, in file-name order."""

    samples: list[Sample]
    csv_path: Path
    labels: tuple[str, ...] = NIH_LABELS
    unlabelled: list[Path] = field(default_factory=list)  # images the CSV does not list
    rows_without_image: int = 0  # CSV rows whose image is not under the data folder (skipped)

    def targets(self, indices: Sequence[int] | None = None) -> np.ndarray:
        """The [N, L] float32 0/1 label matrix (all samples, or those at ``indices``)."""
        chosen = self.samples if indices is None else [self.samples[i] for i in indices]
        return label_matrix(chosen, self.labels)

    def aux_targets(self, indices: Sequence[int] | None = None) -> np.ndarray:
        """The [N, A] auxiliary targets of ``aux_matrix`` (all samples, or those at ``indices``)."""
        chosen = self.samples if indices is None else [self.samples[i] for i in indices]
        return aux_matrix(chosen)


def label_matrix(samples: Sequence[Sample], labels: Sequence[str]) -> np.ndarray:
    """[N, L] float32 with 1 where sample n has label l."""
    column = {label: j for j, label in enumerate(labels)}
    matrix = np.zeros((len(samples), len(labels)), np.float32)
    for i, sample in enumerate(samples):
        for label in sample.labels:
            if label in column:
                matrix[i, column[label]] = 1.0
    return matrix


# What the label file says about every image besides its findings, learnt by a training-only head
# (``--aux-weight``): extra supervision for a network that starts from scratch on few images.
AUX_TARGETS = ("any finding", "male", "AP view", "age / 100")


def aux_matrix(samples: Sequence[Sample]) -> np.ndarray:
    """[N, A] float32 targets in [0, 1] in ``AUX_TARGETS`` order; NaN where the file has no value
    (the loss leaves those out)."""
    matrix = np.full((len(samples), len(AUX_TARGETS)), np.nan, np.float32)
    for i, sample in enumerate(samples):
        matrix[i, 0] = 1.0 if sample.labels else 0.0
        if sample.sex in ("M", "F"):
            matrix[i, 1] = 1.0 if sample.sex == "M" else 0.0
        if sample.view in ("AP", "PA"):
            matrix[i, 2] = 1.0 if sample.view == "AP" else 0.0
        if sample.age is not None:
            matrix[i, 3] = min(sample.age, 100) / 100.0
    return matrix


def find_image_files(folder: Path) -> list[Path]:
    """Every file with an image suffix under ``folder`` (recursively), sorted by path.

    The official download spreads its images over ``images_001/images/`` ... folders. Links are
    followed, each real folder once (a symlink loop ends); hidden files (``._AppleDouble``
    twins) are left out, as the viewer's folder scan leaves them out. Image-named entries that
    are not regular files are listed, so that they are reported as unreadable, not lost.
    """
    found = []
    for entry in walk_files(folder):
        # an image-named pipe, device or broken link is kept: the loader says what is wrong
        path = entry if isinstance(entry, Path) else entry.path if entry.kind == "file" else None
        if path is not None and path.suffix.lower() in IMAGE_SUFFIXES:
            found.append(path)
    return sorted(found)


def load_labelled_images(
    data: str | os.PathLike[str],
    labels_csv: str | os.PathLike[str] | None = None,
    views: Sequence[str] = (),
    max_images: int | None = None,
) -> LabelledImages:
    """The labelled images under ``data``; raises ``TrainerError`` saying what is missing.

    ``labels_csv`` defaults to the Data_Entry CSV in ``data`` or a parent folder. ``views``
    keeps only those view positions (PA, AP). ``max_images`` keeps the first images by name.
    """
    folder = Path(data)
    if not folder.is_dir():
        raise TrainerError(f"{folder}: data folder not found (pass --data FOLDER with the NIH images)")
    csv_path = Path(labels_csv) if labels_csv else find_data_entry(folder)
    if csv_path is None:
        raise TrainerError(
            f"{folder}: no Data_Entry_2017_v2020.csv or Data_Entry_2017.csv in this folder or its "
            "parents (put the NIH label file beside the images, or pass --labels-csv FILE)"
        )
    entries = read_data_entry(csv_path)  # DataEntryError (a CxrError) names the file's problem
    files = find_image_files(folder)
    if not files:
        raise TrainerError(
            f"{folder}: no images (looked for {', '.join(sorted(IMAGE_SUFFIXES))} in it and its subfolders)"
        )
    wanted_views = {v.strip().upper() for v in views if v.strip()}
    samples: list[Sample] = []
    unlabelled: list[Path] = []
    seen: set[str] = set()
    for path in files:
        entry = entries.get(path.name)
        if entry is None:
            unlabelled.append(path)
            continue
        if path.name in seen:  # the same image in two subfolders: learn from it once
            log.warning("%s: a second copy of %s, left out", path, path.name)
            continue
        if wanted_views and (entry.view or "") not in wanted_views:
            continue
        seen.add(path.name)
        samples.append(Sample(path, path.name, entry.patient_id, entry.labels, entry.view, entry.age, entry.sex))
    if not samples:
        what = f" with view {'/'.join(sorted(wanted_views))}" if wanted_views else ""
        raise TrainerError(
            f"{folder}: none of its {len(files)} images is listed{what} in {csv_path.name} "
            "(the file names must match the CSV's 'Image Index' column)"
        )
    if unlabelled:
        log.warning("%d images under %s are not in %s and are left out (e.g. %s)",
                    len(unlabelled), folder, csv_path.name, unlabelled[0].name)
    found = {path.name for path in files}
    rows_without_image = sum(1 for name in entries if name not in found)
    if rows_without_image:
        # normal for a partial download or a sample; counted so a missing images_0NN folder shows
        log.info("%d of the %d rows of %s have no image under %s and are skipped", rows_without_image,
                 len(entries), csv_path.name, folder)
    if max_images is not None:
        samples = samples[:max_images]
    return LabelledImages(samples, csv_path, NIH_LABELS, unlabelled, rows_without_image)


# -- pixel sources ------------------------------------------------------------------------------
class PixelSource(Protocol):
    """Prepared pixels of image ``i`` (uint8 0..255 or float32 0..1, square)."""

    def __len__(self) -> int: ...

    def __getitem__(self, i: int) -> np.ndarray: ...


class CachedSource:
    """Rows of a ``PixelCache``; the memory map is opened lazily in each worker process,
    because pickling a ``numpy.memmap`` would copy the whole cache into every worker."""

    def __init__(self, pixels_path: Path, dtype: str, size: int, rows: Sequence[int]) -> None:
        self.pixels_path = Path(pixels_path)
        self.dtype = dtype
        self.size = size
        self.rows = np.asarray(rows, np.int64)
        self._array: np.ndarray | None = None

    def __getstate__(self) -> dict[str, object]:
        state = self.__dict__.copy()
        state["_array"] = None
        return state

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> np.ndarray:
        if self._array is None:
            itemsize = np.dtype(self.dtype).itemsize
            n_rows = self.pixels_path.stat().st_size // (self.size * self.size * itemsize)
            self._array = np.memmap(self.pixels_path, dtype=self.dtype, mode="r",
                                    shape=(n_rows, self.size, self.size))
        return np.array(self._array[self.rows[i]])  # a writable copy: torch refuses read-only arrays


class DecodeSource:
    """``preprocess`` on every access: no cache (slow; the baseline the cache is measured against)."""

    def __init__(self, paths: Sequence[Path], size: int) -> None:
        self.paths = list(paths)
        self.size = size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> np.ndarray:
        return preprocess(self.paths[i], self.size, self.size)


# -- torch datasets -------------------------------------------------------------------------------
class TrainImages(Dataset):
    """Augmented training images, [1, size, size] float32 in [0, 1], with their [L] targets.

    The randomness of image ``i`` in epoch ``e`` is seeded by (seed, e, i): the same run gives
    the same batches with any number of workers, and a resumed run continues exactly.
    """

    def __init__(self, source: PixelSource, targets: np.ndarray, size: int,
                 config: AugmentConfig, seed: int = 0, aux: np.ndarray | None = None) -> None:
        if len(source) != len(targets) or (aux is not None and len(aux) != len(targets)):
            raise ValueError("source, targets and auxiliary targets differ in length")
        self.source, self.targets, self.size, self.config, self.seed = source, targets, size, config, seed
        self.aux = aux  # [N, A] auxiliary targets (``aux_matrix``), or None
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose augmentation the next pass draws."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, ...]:
        """(image, targets), and the auxiliary targets third when the set has them."""
        rng = np.random.default_rng([self.seed, self.epoch, i])
        image = augment(self.source[i], self.size, rng, self.config)
        item = (torch.from_numpy(image)[None], torch.from_numpy(self.targets[i]))
        return item if self.aux is None else (*item, torch.from_numpy(self.aux[i]))


class EvalImages(Dataset):
    """Validation/test images exactly as the viewer prepares them, with their targets."""

    def __init__(self, source: PixelSource, targets: np.ndarray, size: int) -> None:
        if len(source) != len(targets):
            raise ValueError("source and targets differ in length")
        self.source, self.targets, self.size = source, targets, size

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        pixels = self.source[i]
        if pixels.dtype != np.float32 or pixels.shape != (self.size, self.size):
            pixels = resize_square(pixels, self.size)  # only for a source at another size
        return torch.from_numpy(np.ascontiguousarray(pixels))[None], torch.from_numpy(self.targets[i])
