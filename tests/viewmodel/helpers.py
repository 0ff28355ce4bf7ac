"""Findings and cards for the view-model tests, built directly (no model, no Qt)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tests.factories import card_dict
from viewer.core.findings import Findings, flags_at, read_only
from viewer.core.model_card import ModelCard

LABELS = ("Atelectasis", "Effusion", "Pleural_Thickening")


def card(thresholds: Sequence[float] = (0.5, 0.3, 0.2), labels: Sequence[str] = LABELS,
         **overrides: Any) -> ModelCard:
    """A valid card with these per-label thresholds."""
    values = dict(zip(labels, (float(t) for t in thresholds)))
    overrides.setdefault("thresholds", {"rule": "test", "values": values})
    return ModelCard.from_dict(card_dict("a" * 64, labels, **overrides))


def findings(probabilities: Sequence[float], thresholds: Sequence[float] = (0.5, 0.3, 0.2),
             labels: Sequence[str] = LABELS, *, ood: bool = False, notes: tuple[str, ...] = ()) -> Findings:
    """Findings as ``Predictor`` makes them: float32, flagged at ``thresholds`` by the core's rule."""
    p = read_only(np.asarray(probabilities, np.float32))
    t = read_only(np.asarray(thresholds, np.float32))
    maps = read_only(np.zeros((len(labels), 2, 2), np.float32))
    return Findings(tuple(labels), p, t, read_only(flags_at(p, t)), maps,
                    ood_score=3.5 if ood else float("nan"), ood_flag=ood, notes=notes)
