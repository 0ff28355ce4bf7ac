"""AUROC against Google's 2019 radiologist-adjudicated labels of NIH images.

Majkowska et al. (Radiology 2020) had 4,376 ChestX-ray14 images read by three radiologists
each, with adjudication, for four findings: ``Fracture``, ``Pneumothorax``, ``Airspace
opacity`` and ``Nodule or mass`` (``YES``/``NO``). The file's header is the Data_Entry header
(with ``OriginalImage[Width,Height]`` and ``OriginalImagePixelSpacing[x,y]`` split by their own
commas, as in the NIH files) followed by the four findings and ``Set Id`` (their ``val``/``test``).

The model has the 14 NIH outputs, not these four, so each finding is scored by the largest
probability among the NIH labels that describe it (``EXPERT_MAPPING``). The maximum is monotone
in each component and assumes nothing about how they co-occur (a noisy-OR would assume
independence, which co-labelled findings such as Consolidation and Pneumonia are not):

* ``Pneumothorax`` <- Pneumothorax: the same finding.
* ``Nodule or mass`` <- max(Nodule, Mass): one finding of theirs, split by size in NIH's labels
  (a nodule is under 3 cm, a mass over).
* ``Airspace opacity`` <- max(Consolidation, Pneumonia, Infiltration, Edema): the NIH terms for
  air spaces filled with fluid, pus or cells. Infiltration is NIH's name for ill-defined lung
  opacity; pulmonary edema is airspace filling when alveolar (the NIH label cannot tell alveolar
  from interstitial). Atelectasis also makes lungs opaque, but by collapse rather than filling,
  and is left out; its own AUROC against the expert label is reported beside (``ALSO_SHOWN``) so
  the choice can be judged on data, as is each component's.
* ``Fracture``: no NIH label describes it; reported with its counts and no AUROC.

Also reported: how the images' own NIH labels (mapped the same way, 0/1) agree with the experts,
which says how noisy the labels the model learned from are on these images.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import TrainerError
from .metrics import auroc

EXPERT_FILE_NAMES: tuple[str, ...] = ("google2019_nih-chest-xray-labels.csv",)
EXPERT_FINDINGS: tuple[str, ...] = ("Pneumothorax", "Nodule or mass", "Airspace opacity", "Fracture")
EXPERT_MAPPING: dict[str, tuple[str, ...]] = {
    "Pneumothorax": ("Pneumothorax",),
    "Nodule or mass": ("Nodule", "Mass"),
    "Airspace opacity": ("Consolidation", "Pneumonia", "Infiltration", "Edema"),
    "Fracture": (),
}
ALSO_SHOWN: dict[str, tuple[str, ...]] = {"Airspace opacity": ("Atelectasis",)}
_VALUES = {"YES": True, "NO": False}


def read_expert_labels(path: str | os.PathLike[str]) -> dict[str, dict[str, bool | None]]:
    """``{image file name: {finding: True/False, or None where the cell is not YES/NO}}``.

    Raises ``TrainerError`` naming the file when it cannot be read or lacks its columns.
    """
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = csv.reader(handle)
            header = [cell.strip() for cell in next(rows, [])]
            if "Image Index" not in header or not any(f in header for f in EXPERT_FINDINGS):
                raise TrainerError(
                    f"{path}: not Google's expert label file (needs 'Image Index' and at least one of "
                    f"{', '.join(EXPERT_FINDINGS)}; found {', '.join(h for h in header[:6] if h) or 'nothing'})"
                )
            name_col = header.index("Image Index")
            columns = {f: header.index(f) for f in EXPERT_FINDINGS if f in header}
            labels: dict[str, dict[str, bool | None]] = {}
            for row in rows:
                if not row or not row[name_col].strip():
                    continue
                values = {f: (_VALUES.get(row[i].strip().upper()) if i < len(row) else None)
                          for f, i in columns.items()}
                labels[row[name_col].strip()] = values
    except TrainerError:
        raise
    except FileNotFoundError:
        raise TrainerError(f"{path}: expert label file not found") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise TrainerError(f"{path}: cannot be read as a CSV file ({exc})") from None
    return labels


def find_expert_labels(folder: str | os.PathLike[str]) -> Path | None:
    """Google's label file in ``folder`` or its nearest parent (beside the Data_Entry CSV), or None."""
    start = Path(folder).absolute()
    if not start.is_dir():
        start = start.parent
    for directory in (start, *start.parents):
        for name in EXPERT_FILE_NAMES:
            candidate = directory / name
            if candidate.is_file():
                return candidate
    return None


def mapped_scores(probabilities: np.ndarray, labels: Sequence[str], components: Sequence[str]) -> np.ndarray | None:
    """The largest probability among ``components`` per image [N], None when the model has none."""
    columns = [labels.index(c) for c in components if c in labels]
    if not columns:
        return None
    return np.asarray(probabilities, np.float64)[:, columns].max(axis=1)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def evaluate_expert_labels(
    image_names: Sequence[str],
    probabilities: np.ndarray,
    labels: Sequence[str],
    expert: Mapping[str, Mapping[str, bool | None]],
    nih_labels: Sequence[Sequence[str]] | None = None,
    mapping: Mapping[str, Sequence[str]] = EXPERT_MAPPING,
) -> dict[str, Any]:
    """AUROC of the mapped scores against the expert labels, per finding, on the images of
    ``image_names`` that the expert file covers. ``nih_labels``: each image's NIH findings, for
    the label-agreement counts."""
    labels = list(labels)
    probabilities = np.asarray(probabilities, np.float64)
    covered = [i for i, name in enumerate(image_names) if name in expert]
    findings: dict[str, Any] = {}
    for finding, components in mapping.items():
        rows = [i for i in covered if expert[image_names[i]].get(finding) is not None]
        y = np.array([1.0 if expert[image_names[i]][finding] else 0.0 for i in rows])
        n_pos = int(y.sum())
        entry: dict[str, Any] = {
            "components": list(components),
            "components_missing_from_model": [c for c in components if c not in labels],
            "images": len(rows), "n_pos": n_pos, "n_neg": len(rows) - n_pos,
        }
        score = mapped_scores(probabilities[rows], labels, components) if rows else None
        if not components:
            entry["auroc"] = None
            entry["why_no_auroc"] = "no NIH label describes this finding, so the model has no output for it"
        elif score is None:
            entry["auroc"] = None
            entry["why_no_auroc"] = "the model has none of the mapped labels" if rows else "no image has this label"
        else:
            entry["auroc"] = _rounded(auroc(y, score))
            if entry["auroc"] is None:
                entry["why_no_auroc"] = "the images have only positives or only negatives"
        shown = list(components) + list(ALSO_SHOWN.get(finding, ()))
        entry["component_auroc"] = {
            c: (_rounded(auroc(y, probabilities[rows, labels.index(c)])) if rows and c in labels else None)
            for c in shown
        }
        if nih_labels is not None and components:
            said = np.array([any(c in nih_labels[i] for c in components) for i in rows], bool)
            truth = y > 0.5
            tp, fp = int((said & truth).sum()), int((said & ~truth).sum())
            fn, tn = int((~said & truth).sum()), int((~said & ~truth).sum())
            entry["nih_labels_vs_expert"] = {
                "tp": tp, "fp": fp, "fn": fn, "tn": tn,
                "sensitivity": _rounded(tp / (tp + fn)) if tp + fn else None,
                "specificity": _rounded(tn / (tn + fp)) if tn + fp else None,
            }
        findings[finding] = entry
    return {
        "images_evaluated": len(image_names),
        "images_with_expert_labels": len(covered),
        "mapping": {f: {"components": list(c), "combine": "max of probabilities"} for f, c in mapping.items()},
        "findings": findings,
    }


def markdown(section: Mapping[str, Any]) -> str:
    """The expert-label table: AUROC, counts, mapping, and the NIH labels' agreement."""
    lines = [f"{section['images_with_expert_labels']} of the {section['images_evaluated']} images evaluated have "
             "Google's adjudicated labels.", "",
             "| expert finding | model score | images | pos/neg | AUROC | each component alone "
             "| NIH labels vs expert (sens/spec) |",
             "|---|---|---:|---:|---:|---|---|"]
    for finding, entry in section["findings"].items():
        score = f"max({', '.join(entry['components'])})" if len(entry["components"]) > 1 else (
            entry["components"][0] if entry["components"] else "none")
        value = "–" if entry["auroc"] is None else f"{entry['auroc']:.3f}"
        alone = ", ".join(f"{c} {'–' if v is None else f'{v:.3f}'}" for c, v in entry["component_auroc"].items()) or "–"
        agree = entry.get("nih_labels_vs_expert")
        if agree:
            sens = "–" if agree["sensitivity"] is None else f"{agree['sensitivity']:.2f}"
            spec = "–" if agree["specificity"] is None else f"{agree['specificity']:.2f}"
            agreement = f"{sens}/{spec} (tp {agree['tp']}, fp {agree['fp']}, fn {agree['fn']}, tn {agree['tn']})"
        else:
            agreement = "–"
        lines.append(f"| {finding} | {score} | {entry['images']} | {entry['n_pos']}/{entry['n_neg']} | {value} | "
                     f"{alone} | {agreement} |")
    return "\n".join(lines)
