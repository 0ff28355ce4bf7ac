"""What the UI reads from a model card beyond its typed fields: the AUROC intervals.

A card's ``metrics`` is free-form JSON (``viewer.core.model_card`` checks only what the viewer
needs to run), so an interval is read defensively: a pair of finite numbers, else nothing.
"""

from __future__ import annotations

import math
from typing import Any

from viewer.core.model_card import ModelCard


def card_interval(value: Any) -> tuple[float, float] | None:
    """A card's ``[low, high]`` as two floats, or None for anything else (bools and NaN included)."""
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        return None
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        return None
    low, high = float(value[0]), float(value[1])
    return (low, high) if math.isfinite(low) and math.isfinite(high) else None


def auroc_interval(card: ModelCard, label: str) -> tuple[float, float] | None:
    """The 95% interval of ``label``'s test AUROC from the card (``ci95``, or ``ci``), if any."""
    table = (card.metrics or {}).get("auroc")
    entry = table.get(label) if isinstance(table, dict) else None
    if not isinstance(entry, dict):
        return None
    return card_interval(entry.get("ci95", entry.get("ci")))


def auroc_with_interval(card: ModelCard | None, label: str) -> tuple[float | None, tuple[float, float] | None]:
    """``label``'s test AUROC and its interval (None, None without a card or a measurement)."""
    if card is None:
        return None, None
    return card.auroc(label), auroc_interval(card, label)
