"""A model's targets on a labelled dataset that may not be the one it was trained on.

External validation scores a model on images labelled by another dataset: its labels pair with
the dataset's through the taxonomy (``trainer.data.taxonomy.model_label_map``: CheXpert's
"Pleural Effusion" is NIH's "Effusion"), and a model label the dataset does not annotate, or a
finding the dataset marks unknown for an image (uncertain under ``--uncertainty ignore``), is NaN:
the metrics leave it out (``metrics.known_rows``), it is never counted as a negative.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..data.labels import LabelledImages, Sample, label_matrix, mask_matrix
from ..data.taxonomy import LabelMap, model_label_map
from .metrics import with_unknown


@dataclass(frozen=True)
class ModelTargets:
    """The dataset's targets as the model's labels: [N, L] with NaN where unknown."""

    targets: np.ndarray
    label_map: LabelMap
    dataset: str

    @property
    def not_annotated(self) -> tuple[str, ...]:
        """The model's labels this dataset does not annotate at all."""
        return self.label_map.unmatched_targets


def model_targets(samples: Sequence[Sample], table: LabelledImages, dataset: str,
                  model_labels: Sequence[str]) -> ModelTargets:
    """The targets of ``samples`` (read from ``table``, a ``dataset`` reader's result) in the
    order of ``model_labels``; NaN where the dataset leaves the target unknown."""
    targets = label_matrix(samples, table.labels)
    mask = mask_matrix(samples, table.labels, table.annotated)
    mapping = model_label_map(table.labels, dataset, model_labels)
    mapped, mapped_mask = mapping.apply(targets, mask)
    return ModelTargets(with_unknown(mapped, mapped_mask), mapping, dataset)
