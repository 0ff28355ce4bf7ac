"""The label taxonomy: which finding of one dataset is which finding of another.

Training on several datasets, or scoring a model on a dataset whose labels differ, needs to know
that NIH's Effusion is CheXpert's Pleural Effusion and that CheXpert has no Infiltration. The
table below gives, for each finding, its exact name in each dataset, or None where the dataset
does not annotate it; ``label_map`` pairs a dataset's labels with a model's, and ``LabelMap.apply``
turns the dataset's targets and mask into the model's, masking the labels it lacks (unknown,
not negative). Only equal findings are paired: a broader label (VinDr's Nodule/Mass, CheXpert's
Lung Lesion over nodules and masses) is no counterpart of a narrower one.

Names are compared as ``viewer.core.labels.label_key`` compares them (case, spaces, underscores).
MIMIC-CXR is labelled by the CheXpert labeller: its names are CheXpert's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from viewer.core.labels import label_key

DATASETS: tuple[str, ...] = ("nih", "chexpert", "padchest", "vindr")
# MIMIC-CXR is labelled by the CheXpert labeller; RSNA Pneumonia's labels (Lung Opacity, Pneumonia,
# torchxrayvision's) and SIIM-ACR's (Pneumothorax) are CheXpert's names for the same findings
_SAME_NAMES = {"mimic": "chexpert", "rsna": "chexpert", "siim": "chexpert"}

# finding: (NIH, CheXpert, PadChest, VinDr-CXR). NIH's and CheXpert's names are their CSV columns;
# PadChest's are its label strings (Bustos et al. 2020, the vocabulary of the CSV's "Labels");
# VinDr-CXR's its class_name values (Nguyen et al. 2022; vinbigdata-train.csv).
FINDINGS: dict[str, tuple[str | None, str | None, str | None, str | None]] = {
    "Atelectasis": ("Atelectasis", "Atelectasis", "atelectasis", "Atelectasis"),
    "Cardiomegaly": ("Cardiomegaly", "Cardiomegaly", "cardiomegaly", "Cardiomegaly"),
    "Consolidation": ("Consolidation", "Consolidation", "consolidation", "Consolidation"),
    # PadChest's edema term is "pulmonary edema"; torchxrayvision's PC_Dataset finds "edema" in it
    "Edema": ("Edema", "Edema", "pulmonary edema", None),
    # torchxrayvision renames CheXpert's and MIMIC's "Pleural Effusion" to "Effusion" (CheX_Dataset,
    # MIMIC_Dataset) and maps VinDr's "Pleural effusion" onto it (VinDr_Dataset.mapping)
    "Effusion": ("Effusion", "Pleural Effusion", "pleural effusion", "Pleural effusion"),
    "Emphysema": ("Emphysema", None, "emphysema", None),
    # NIH's Fibrosis is pulmonary fibrosis (Wang et al. 2017); torchxrayvision keeps VinDr's
    # "Pulmonary Fibrosis" as a label of its own, which only names it differently
    "Fibrosis": ("Fibrosis", None, "pulmonary fibrosis", "Pulmonary fibrosis"),
    # NIH's hernias are hiatal hernias; torchxrayvision's PC_Dataset finds "hernia" in "hiatal hernia"
    "Hernia": ("Hernia", None, "hiatal hernia", None),
    # torchxrayvision's PC_Dataset maps "infiltrates" (among other patterns) to Infiltration
    "Infiltration": ("Infiltration", None, "infiltrates", "Infiltration"),
    "Mass": ("Mass", None, "mass", None),
    "Nodule": ("Nodule", None, "nodule", None),
    # torchxrayvision maps PadChest's "pleural thickening" and VinDr's "Pleural thickening" here
    "Pleural_Thickening": ("Pleural_Thickening", None, "pleural thickening", "Pleural thickening"),
    "Pneumonia": ("Pneumonia", "Pneumonia", "pneumonia", None),
    "Pneumothorax": ("Pneumothorax", "Pneumothorax", "pneumothorax", "Pneumothorax"),
    "Enlarged Cardiomediastinum": (None, "Enlarged Cardiomediastinum", None, None),
    # CheXpert's and VinDr's Lung Opacity are the same name; torchxrayvision pairs them
    "Lung Opacity": (None, "Lung Opacity", None, "Lung Opacity"),
    "Lung Lesion": (None, "Lung Lesion", None, None),
    # PadChest names fractures by bone (rib, clavicle, vertebral...): no one counterpart
    "Fracture": (None, "Fracture", None, None),
    "Pleural Other": (None, "Pleural Other", None, None),
    "Support Devices": (None, "Support Devices", None, None),
    "Aortic enlargement": (None, None, None, "Aortic enlargement"),
    "Calcification": (None, None, None, "Calcification"),
    "ILD": (None, None, None, "ILD"),
    "Nodule/Mass": (None, None, None, "Nodule/Mass"),
    "Other lesion": (None, None, None, "Other lesion"),
}


def _column(dataset: str) -> int:
    name = _SAME_NAMES.get(dataset.lower(), dataset.lower())
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r} (one of {', '.join(DATASETS + tuple(_SAME_NAMES))})")
    return DATASETS.index(name)


def name_in(dataset: str, finding: str) -> str | None:
    """The name of ``finding`` (a key of ``FINDINGS``) in ``dataset``, or None if it lacks it."""
    return FINDINGS[finding][_column(dataset)]


def finding_of(dataset: str, name: str) -> str | None:
    """The finding ``dataset`` calls ``name``, or None when the table does not know the name."""
    column, key = _column(dataset), label_key(name)
    for finding, names in FINDINGS.items():
        if names[column] is not None and label_key(names[column] or "") == key:
            return finding
    return None


@dataclass(frozen=True)
class LabelMap:
    """How a dataset's labels stand to a model's: ``source_of[j]`` is the index of the dataset's
    label that is model label j, or None where the dataset does not annotate it."""

    source_labels: tuple[str, ...]
    target_labels: tuple[str, ...]
    source_of: tuple[int | None, ...]

    @property
    def unmatched_targets(self) -> tuple[str, ...]:
        """The model's labels the dataset does not annotate (masked)."""
        return tuple(t for t, s in zip(self.target_labels, self.source_of) if s is None)

    @property
    def unmatched_sources(self) -> tuple[str, ...]:
        """The dataset's labels the model does not have (unused)."""
        used = set(self.source_of)
        return tuple(label for i, label in enumerate(self.source_labels) if i not in used)

    def apply(self, targets: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A dataset's [N, S] targets and mask as the model's [N, T]: mask 0 where unmatched."""
        out_targets = np.zeros((targets.shape[0], len(self.target_labels)), np.float32)
        out_mask = np.zeros_like(out_targets)
        for j, i in enumerate(self.source_of):
            if i is not None:
                out_targets[:, j] = targets[:, i]
                out_mask[:, j] = mask[:, i]
        return out_targets, out_mask


def finding_named(name: str, dataset: str | None = None) -> str | None:
    """The finding ``name`` is: in ``dataset``'s column when the table has that dataset, else in
    the first dataset (NIH, CheXpert, PadChest, VinDr) that uses the name; None when none does.

    A model's labels carry no dataset: a CheXpert-trained model says "Pleural Effusion", an NIH
    one "Effusion", and both are the finding Effusion."""
    if dataset is not None and _SAME_NAMES.get(dataset.lower(), dataset.lower()) in DATASETS:
        return finding_of(dataset, name)
    for known in DATASETS:
        if (found := finding_of(known, name)) is not None:
            return found
    return None


def model_label_map(source_labels: Sequence[str], source_dataset: str, model_labels: Sequence[str]) -> LabelMap:
    """Pair ``source_dataset``'s labels with a model's labels, whatever dataset named those
    (``finding_named``); a label the table does not know pairs only with the same name. The
    datasets outside the table (RSNA, SIIM) name their findings as one of the table's do."""
    def finding(name: str, dataset: str | None) -> str:
        return finding_named(name, dataset) or f"?{label_key(name)}"

    index = {finding(name, source_dataset): i for i, name in enumerate(source_labels)}
    source_of = tuple(index.get(finding(name, None)) for name in model_labels)
    return LabelMap(tuple(source_labels), tuple(model_labels), source_of)


def label_map(source_labels: Sequence[str], source_dataset: str,
              target_labels: Sequence[str], target_dataset: str) -> LabelMap:
    """Pair ``source_dataset``'s labels with a model's ``target_labels`` (named as in
    ``target_dataset``) through ``FINDINGS``; a label the table does not know pairs only with the
    same name."""
    def finding(dataset: str, name: str) -> str:
        return finding_of(dataset, name) or f"?{label_key(name)}"

    index = {finding(source_dataset, name): i for i, name in enumerate(source_labels)}
    source_of = tuple(index.get(finding(target_dataset, name)) for name in target_labels)
    return LabelMap(tuple(source_labels), tuple(target_labels), source_of)
