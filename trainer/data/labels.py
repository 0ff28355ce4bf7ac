"""The labelled images a run learns from, and their targets: no torch, no pixels.

A ``Sample`` is one image file with what its label file says about it (findings, patient,
view, age, sex); ``LabelledImages`` is what a dataset reader returns for a data folder. The
split (``split.py``), the report's image selection and the reports' targets are computed from
these alone, so none of them costs a torch import.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from viewer.core.nih import NIH_LABELS


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


class DatasetReader(Protocol):
    """A dataset reader: the labelled images under a data folder (``trainer.data.nih`` is one).

    ``labels_csv`` is the label file when it is not found from ``data``; ``views`` keeps only
    those view positions; ``max_images`` the first images by name. Problems the user can fix
    raise ``TrainerError`` naming the folder or file.
    """

    def __call__(
        self,
        data: str | os.PathLike[str],
        labels_csv: str | os.PathLike[str] | None = None,
        views: Sequence[str] = (),
        max_images: int | None = None,
    ) -> LabelledImages: ...


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
