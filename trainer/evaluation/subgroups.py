"""AUROC per label within subgroups (sex, age band, view position), with the counts behind it.

Fairness studies of ChestX-ray14 report performance per patient group: Larrazabal et al. 2020
(PNAS) by sex, Seyyed-Kalantari et al. 2021 (CheXclusion, Nature Medicine) by sex and by age in
the bands 0-20, 20-40, 40-60, 60-80 and 80+, both alongside the view position, which confounds
everything here (AP films are mostly bedside films of sicker patients). Each cell gives the
AUROC, or None where the group has no positives or no negatives for that label, with its
positives and negatives, so that a reader sees how little a small cell can say. ``gap`` is the
largest minus the smallest defined AUROC across an attribute's groups.

AUROC is ``trainer.evaluation.metrics.auroc`` (rank-based, ties counted half), the function the
rest of the trainer reports; the tests check it against scikit-learn cell by cell.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .metrics import auroc

# CheXclusion's bands (lower bound inclusive, upper exclusive): "0-20" holds ages 0..19.
AGE_BANDS: tuple[tuple[int, int | None, str], ...] = (
    (0, 20, "0-20"), (20, 40, "20-40"), (40, 60, "40-60"), (60, 80, "60-80"), (80, None, "80+"),
)
GROUP_ORDER: dict[str, tuple[str, ...]] = {
    "sex": ("F", "M"),
    "age": tuple(name for _, _, name in AGE_BANDS),
    "view": ("PA", "AP"),
}


def age_band(age: int | None) -> str | None:
    """The band name of an age in years (``"40-60"`` for 40..59), None when the age is unknown."""
    if age is None or age < 0:
        return None
    for low, high, name in AGE_BANDS:
        if age >= low and (high is None or age < high):
            return name
    return None  # unreachable: the last band is open-ended


def _ordered(values: Sequence[str | None], order: Sequence[str]) -> list[str]:
    present = {v for v in values if v is not None}
    return [v for v in order if v in present] + sorted(present - set(order))


def subgroup_aurocs(
    targets: np.ndarray,
    scores: np.ndarray,
    labels: Sequence[str],
    attributes: Mapping[str, Sequence[str | None]],
) -> dict[str, Any]:
    """AUROC and counts per label in each group of each attribute.

    ``targets``/``scores`` are [N, L]; ``attributes`` maps an attribute name (``"sex"``) to one
    group per image (None = unknown, left out of that attribute and counted as ``unknown``).
    Returns ``{attribute: {"groups": [...], "images": {group: n}, "unknown": n,
    "cells": {group: {label: {"auroc", "n_pos", "n_neg"}}}, "gap": {label: float | None}}}``.
    """
    targets = np.asarray(targets, np.float64)
    scores = np.asarray(scores, np.float64)
    if targets.shape != scores.shape or targets.ndim != 2 or targets.shape[1] != len(labels):
        raise ValueError(f"targets {targets.shape} and scores {scores.shape} must both be [N, {len(labels)}]")
    out: dict[str, Any] = {}
    for attribute, values in attributes.items():
        if len(values) != len(targets):
            raise ValueError(f"attribute {attribute!r} has {len(values)} values for {len(targets)} images")
        groups = _ordered(values, GROUP_ORDER.get(attribute, ()))
        column = np.array([v if v is not None else "" for v in values], dtype=object)
        cells: dict[str, dict[str, Any]] = {}
        for group in groups:
            rows = column == group
            cells[group] = {}
            for j, label in enumerate(labels):
                y = targets[rows, j]
                n_pos = int((y > 0.5).sum())
                value = auroc(y, scores[rows, j])  # an unknown target (NaN) is neither class
                cells[group][label] = {"auroc": None if value is None else round(value, 4),
                                       "n_pos": n_pos, "n_neg": int((y < 0.5).sum())}
        gap: dict[str, float | None] = {}
        for label in labels:
            defined = [cells[g][label]["auroc"] for g in groups if cells[g][label]["auroc"] is not None]
            gap[label] = round(max(defined) - min(defined), 4) if len(defined) >= 2 else None
        out[attribute] = {
            "groups": groups,
            "images": {g: int((column == g).sum()) for g in groups},
            "unknown": int(sum(v is None for v in values)),
            "cells": cells,
            "gap": gap,
        }
    return out


def markdown(section: Mapping[str, Any], labels: Sequence[str]) -> str:
    """One table per attribute: a row per label, a column per group (AUROC, then pos/neg)."""
    lines: list[str] = []
    for attribute, data in section.items():
        groups = data["groups"]
        images = ", ".join(f"{g}: {data['images'][g]}" for g in groups)
        unknown = f"; unknown: {data['unknown']}" if data["unknown"] else ""
        lines += [f"**By {attribute}** (images {images}{unknown}) — AUROC (positives/negatives); "
                  "– where a group has no positives or no negatives", ""]
        lines.append("| label | " + " | ".join(groups) + " | gap |")
        lines.append("|---|" + "---:|" * (len(groups) + 1))
        for label in labels:
            cells = []
            for g in groups:
                cell = data["cells"][g][label]
                value = "–" if cell["auroc"] is None else f"{cell['auroc']:.3f}"
                cells.append(f"{value} ({cell['n_pos']}/{cell['n_neg']})")
            gap = data["gap"][label]
            lines.append(f"| {label} | " + " | ".join(cells) + f" | {'–' if gap is None else f'{gap:.3f}'} |")
        lines.append("")
    return "\n".join(lines).rstrip()
