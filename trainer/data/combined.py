"""Training on several datasets at once: ``cxr-train train --data DIR --also-data NAME=DIR ...``.

Each folder is read by its own dataset's reader; ``combine`` makes one ``LabelledImages`` of
them. The labels are the union of the datasets' findings through the taxonomy
(``taxonomy.finding_named``): the first dataset's names, then each later dataset's findings the
earlier ones lack, under that dataset's name (NIH's Effusion and CheXpert's Pleural Effusion are
one label, named Effusion when NIH comes first). A label a dataset does not annotate is masked
for its images: unknown, left out of the loss, never a negative (``labels.mask_matrix``).

Image names and patient ids are made unique across the datasets: an image is named
``DATASET/its own name`` and a patient id is offset by the dataset's position, so a patient-level
split can never join two datasets' patients, nor a split file confuse two ``view1_frontal.jpg``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path

from viewer.core.labels import label_key

from ..errors import TrainerError
from .labels import DatasetReader, LabelledImages, Sample
from .readers import DATASETS, WITH_UNCERTAINTY, dataset_reader, settle_dataset
from .taxonomy import LabelMap, finding_named, model_label_map

PATIENT_OFFSET = 10**12  # above any dataset's own patient numbers (MIMIC's subject ids are 8 digits)


def _finding(name: str, dataset: str) -> str:
    return finding_named(name, dataset) or f"?{label_key(name)}"


def combined_labels(parts: Sequence[tuple[str, LabelledImages]]) -> tuple[str, ...]:
    """The union of the parts' labels, one per finding, in the order first met."""
    labels: list[str] = []
    seen: set[str] = set()
    for dataset, table in parts:
        for name in table.labels:
            finding = _finding(name, dataset)
            if finding not in seen:
                seen.add(finding)
                labels.append(name)
    return tuple(labels)


def _relabel(sample: Sample, mapping: LabelMap, annotated: set[str], dataset: str, position: int) -> Sample:
    """``sample`` in the combined labels: positives and masks renamed, unannotated labels masked."""
    rename = {mapping.source_labels[i]: target
              for target, i in zip(mapping.target_labels, mapping.source_of) if i is not None}
    unknown = {target for target, i in zip(mapping.target_labels, mapping.source_of)
               if i is None or mapping.source_labels[i] not in annotated}
    masked = {rename[x] for x in sample.masked if x in rename} | unknown
    return dataclasses.replace(
        sample,
        image_index=f"{dataset}/{sample.image_index}",
        patient_id=position * PATIENT_OFFSET + sample.patient_id,
        labels=tuple(rename[x] for x in sample.labels if x in rename),
        uncertain=tuple(rename[x] for x in sample.uncertain if x in rename),
        masked=tuple(x for x in mapping.target_labels if x in masked),
    )


def combine(parts: Sequence[tuple[str, LabelledImages]]) -> LabelledImages:
    """One labelled set of several datasets' (``(dataset name, what its reader found)``)."""
    if len(parts) == 1:
        return parts[0][1]
    labels = combined_labels(parts)
    samples: list[Sample] = []
    for position, (dataset, table) in enumerate(parts):
        mapping = model_label_map(table.labels, dataset, labels)
        annotated = set(table.annotated if table.annotated is not None else table.labels)
        samples += [_relabel(s, mapping, annotated, dataset, position) for s in table.samples]
    policies = {table.uncertainty for _, table in parts if table.uncertainty is not None}
    return LabelledImages(
        samples=samples,
        csv_path=parts[0][1].csv_path,
        labels=labels,
        unlabelled=[path for _, table in parts for path in table.unlabelled],
        rows_without_image=sum(table.rows_without_image for _, table in parts),
        annotated=None,  # each image's own mask says what its dataset left unknown
        uncertainty=policies.pop() if len(policies) == 1 else None,
    )


def parse_also(entry: str) -> tuple[str, str]:
    """(dataset or "auto", folder) of an ``--also-data`` entry: ``NAME=DIR`` or ``DIR``."""
    name, sep, folder = entry.partition("=")
    if sep and name.strip().lower() in ("auto", *DATASETS):
        return name.strip().lower(), folder
    return "auto", entry


def settle_also(entries: Sequence[str], uncertainty: str | None) -> list[str]:
    """``--also-data`` as a run records it: each ``NAME=ABSOLUTE DIR``, ``auto`` resolved from the
    folder's label files (``TrainerError`` naming the folder when they say nothing)."""
    settled = []
    for entry in entries:
        dataset, folder = parse_also(entry)
        if not Path(folder).is_dir():
            raise TrainerError(f"--also-data {entry}: {folder} is not a folder")
        policy = uncertainty if dataset in ("auto", *WITH_UNCERTAINTY) else None
        if dataset == "auto":
            dataset, _ = settle_dataset("auto", None, folder)
            policy = uncertainty if dataset in WITH_UNCERTAINTY else None
        settle_dataset(dataset, policy, folder)  # refuses what cannot work, with the choices
        settled.append(f"{dataset}={Path(folder).absolute()}")
    return settled


def combined_reader(dataset: str, uncertainty: str | None, also: Sequence[str]) -> DatasetReader:
    """The reader of ``--data`` (``dataset``) and each settled ``--also-data`` entry, combined."""
    def policy(name: str) -> str | None:
        return uncertainty if name in WITH_UNCERTAINTY else None

    primary = dataset_reader(dataset, policy(dataset))

    def read(data: str | os.PathLike[str], labels_csv: str | os.PathLike[str] | None = None,
             views: Sequence[str] = (), max_images: int | None = None) -> LabelledImages:
        parts = [(dataset, primary(data, labels_csv, views, max_images))]
        for entry in also:
            name, folder = parse_also(entry)
            parts.append((name, dataset_reader(name, policy(name))(folder, None, views, max_images)))
        return combine(parts)

    return read
