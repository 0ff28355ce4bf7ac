"""The study browser's orders: which orders there are, and how the triage order is decided.

A sort mode is a short id that a settings file can keep (``SORT_FOLDER``, ``SORT_TRIAGE``) and a
label the browser shows for it (``SORT_LABELS``).

The triage order puts first the images the model flags, by their highest flagged probability;
then the images it does not flag, by their highest probability; then, apart, the images that
fail the out-of-distribution check (not a frontal chest: their findings mean nothing, so they
are not triaged, whatever they flag); then the images without findings (not analysed yet, no
model, or not analysable). Ties keep the folder's order. A patient, study or series sorts by
its best image *now*: its key is recomputed from its images' keys whenever one changes (the
operating point moves every flag, down as well as up).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum
from typing import NamedTuple

from .browser_summary import ImageSummary

SORT_FOLDER = "folder"  # as the folder lists the images
SORT_TRIAGE = "triage"  # the images the model flags most strongly first
SORT_LABELS: dict[str, str] = {
    SORT_FOLDER: "Folder order",
    SORT_TRIAGE: "Triage order",  # the sort box's tooltip says what it is
}


def is_sort_mode(mode: object) -> bool:
    """Whether ``mode`` names one of the browser's orders (a stored setting may not)."""
    return isinstance(mode, str) and mode in SORT_LABELS


class Tier(IntEnum):
    """The parts of the triage order, first to last."""

    FLAGGED = 0  # by the highest flagged probability
    UNFLAGGED = 1  # by the highest probability
    NOT_TRIAGED = 2  # out of distribution: in folder order
    PENDING = 3  # no findings: not analysed yet, no model, or the image could not be analysed


class TriageKey(NamedTuple):
    """Where an image (or group) sorts in triage order: its tier, then its score, higher first."""

    tier: int
    score: float

    def outranks(self, other: TriageKey) -> bool:
        """True when this key sorts strictly before ``other``."""
        if self.tier != other.tier:
            return self.tier < other.tier
        return self.score > other.score


PENDING = TriageKey(Tier.PENDING, 0.0)
NOT_TRIAGED = TriageKey(Tier.NOT_TRIAGED, 0.0)


def triage_key(summary: ImageSummary | None) -> TriageKey:
    """An image's place in triage order from its summary (None: not analysed yet)."""
    if summary is None or summary.error is not None or summary.no_model:
        return PENDING
    if summary.out_of_distribution:
        return NOT_TRIAGED
    if summary.flagged:
        return TriageKey(Tier.FLAGGED, summary.flagged[0][1])
    return TriageKey(Tier.UNFLAGGED, summary.top_probability)


def group_key(keys: Iterable[TriageKey | None]) -> TriageKey:
    """A patient's, study's or series' key: the best of its rows' current keys (``PENDING``
    without any), so a group moves down when its images do."""
    best = PENDING
    for key in keys:
        if key is not None and key.outranks(best):
            best = key
    return best


def triage_before(key: TriageKey | None, order: object, other_key: TriageKey | None, other_order: object) -> bool:
    """True when a row with ``key`` sorts before the other in triage order: the better key
    first, then folder order (``order`` values compare as the folder order does). A missing
    key counts as ``PENDING``."""
    a = PENDING if key is None else key
    b = PENDING if other_key is None else other_key
    if a != b:
        return a.outranks(b)
    return bool(order < other_order)  # type: ignore[operator]
