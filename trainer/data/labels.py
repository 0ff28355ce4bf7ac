"""The labelled images a run learns from, and their targets: no torch, no pixels.

A ``Sample`` is one image file with what its label file says about it (findings, patient,
view, age, sex); ``LabelledImages`` is what a dataset reader returns for a data folder. The
split (``split.py``), the report's image selection and the reports' targets are computed from
these alone, so none of them costs a torch import.

Not every dataset settles every label of every image: CheXpert and MIMIC-CXR mark findings
uncertain, and a dataset annotates only its own findings. So beside ``targets`` (1 = positive)
there is ``mask`` (1 = the target is known, 0 = leave it out of the loss): a label outside
``LabelledImages.annotated``, or in a sample's ``masked``, is not known, which is not the same as
negative. NIH annotates all its 14 findings and marks none uncertain, so its mask is all ones.
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
    uncertain: tuple[str, ...] = ()  # findings the label file marks uncertain (whatever the policy made of them)
    masked: tuple[str, ...] = ()  # findings whose target is unknown for this image: left out of the loss
    official_split: str | None = None  # "train", "val" or "test" where the dataset publishes a split


@dataclass
class LabelledImages:
    """The images found under the data folder that the label CSV knows, in file-name order."""

    samples: list[Sample]
    csv_path: Path
    labels: tuple[str, ...] = NIH_LABELS
    unlabelled: list[Path] = field(default_factory=list)  # images the CSV does not list
    rows_without_image: int = 0  # CSV rows whose image is not under the data folder (skipped)
    annotated: tuple[str, ...] | None = None  # the labels the dataset annotates; None: all of ``labels``
    uncertainty: str | None = None  # the policy the reader applied to uncertain findings, if it has any

    def targets(self, indices: Sequence[int] | None = None) -> np.ndarray:
        """The [N, L] float32 0/1 label matrix (all samples, or those at ``indices``)."""
        chosen = self.samples if indices is None else [self.samples[i] for i in indices]
        return label_matrix(chosen, self.labels)

    def mask(self, indices: Sequence[int] | None = None) -> np.ndarray:
        """The [N, L] float32 mask of ``targets``: 1 where the target is known, 0 where the
        dataset does not annotate the label or the image's label is masked (uncertain under
        the ``ignore`` policy)."""
        chosen = self.samples if indices is None else [self.samples[i] for i in indices]
        return mask_matrix(chosen, self.labels, self.annotated)

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


def mask_matrix(samples: Sequence[Sample], labels: Sequence[str],
                annotated: Sequence[str] | None = None) -> np.ndarray:
    """[N, L] float32 with 0 where label l is not annotated (not in ``annotated``, when given)
    or is in sample n's ``masked``, else 1."""
    column = {label: j for j, label in enumerate(labels)}
    matrix = np.ones((len(samples), len(labels)), np.float32)
    if annotated is not None:
        known = set(annotated)
        matrix[:, [j for j, label in enumerate(labels) if label not in known]] = 0.0
    for i, sample in enumerate(samples):
        for label in sample.masked:
            if label in column:
                matrix[i, column[label]] = 0.0
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
