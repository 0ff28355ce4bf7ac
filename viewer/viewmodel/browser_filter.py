"""The study browser's filter: what a typed filter matches, what each row says it matched, and
what the browser says about the rows it hides.

Plain text matches an image's names (file, path, view, modality), its dataset labels (the NIH
ground truth), the model's flags at the operating point, or its patient, study or series row;
each shown row says which (``match_text``), because "hernia" finding an image the model flags
is not the same as finding one the dataset labels. ``label:`` matches the dataset's labels only
and ``flag:`` the model's current flags only (``label:no finding`` finds the images labelled
No Finding; ``flag:`` alone, every flagged image). Label names compare by the core's rule
(case, spaces and underscores ignored), as part of the name: ``label:pleural`` finds
Pleural_Thickening.

The browser always says when rows are hidden, and by what ("0 of 5 shown: filter 'hernia'"):
a filter typed for one folder is still there when the next one opens, and an empty list
without a reason looks like an empty folder.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from viewer.core.labels import label_key
from viewer.core.nih import NO_FINDING
from viewer.core.scan import ScannedImage

from .browser_summary import ImageSummary

_PREFIX = re.compile(r"^(label|flag)\s*:\s*(.*)$", re.IGNORECASE | re.DOTALL)


class Field(Enum):
    """What a filter looks at."""

    ANY = "any"  # names, labels, flags, and the patient, study and series rows
    LABEL = "label"  # the dataset's ground-truth labels only
    FLAG = "flag"  # the model's flags at the operating point only


@dataclass(frozen=True)
class Query:
    """A parsed filter: the field it looks at and the text to find (lower case)."""

    field: Field
    needle: str

    @property
    def active(self) -> bool:
        """Whether it filters at all (``label:`` and ``flag:`` do, even before a name)."""
        return self.field is not Field.ANY or bool(self.needle)


def parse_query(text: str) -> Query:
    """'label: Hernia' -> (LABEL, 'hernia'); 'hernia' -> (ANY, 'hernia')."""
    stripped = text.strip()
    prefix = _PREFIX.match(stripped)
    if prefix is None:
        return Query(Field.ANY, stripped.lower())
    return Query(Field(prefix.group(1).lower()), prefix.group(2).strip().lower())


@dataclass(frozen=True)
class RowFacts:
    """What the filter can find in an image's row."""

    names: str  # file name, path, view and modality, lower case
    labels: tuple[str, ...] | None  # the dataset's labels (() = No Finding), None without an entry
    flags: tuple[tuple[str, float], ...] = ()  # the model's flags at the operating point


def image_facts(image: ScannedImage, summary: ImageSummary | None = None) -> RowFacts:
    """An image's facts, with its summary's flags once analysed."""
    names = " ".join([image.name, image.display_path, image.view_position or "", image.modality or ""]).lower()
    return RowFacts(names, image.labels, summary.flagged if summary is not None else ())


def _label_hit(needle: str, label: str) -> bool:
    return label_key(needle) in label_key(label)


def _shown(label: str) -> str:
    return label.replace("_", " ")


def match_row(query: Query, facts: RowFacts) -> tuple[str, ...]:
    """Why an image's own row matches ``query`` ('name', 'label Hernia', 'flag Hernia 0.08');
    empty when it does not (an inactive query matches every row, for no reason to say)."""
    if not query.active:
        return ()
    reasons: list[str] = []
    if query.field is Field.ANY and query.needle in facts.names:
        reasons.append("name")
    if query.field in (Field.ANY, Field.LABEL) and facts.labels is not None:
        labels = facts.labels or (NO_FINDING,)
        if query.field is Field.LABEL and not query.needle:
            reasons.extend(f"label {_shown(x)}" for x in facts.labels)  # any label: not No Finding
        else:
            reasons.extend(f"label {_shown(x)}" for x in labels if _label_hit(query.needle, x))
    if query.field in (Field.ANY, Field.FLAG):
        reasons.extend(f"flag {_shown(x)} {p:.2f}" for x, p in facts.flags
                       if (query.field is Field.FLAG and not query.needle) or _label_hit(query.needle, x))
    return tuple(reasons)


def group_matches(query: Query, text: str) -> bool:
    """Whether plain text matches a patient's, study's or series' row text (then all its images
    show): ``label:`` and ``flag:`` are about images only."""
    return query.field is Field.ANY and bool(query.needle) and query.needle in text.lower()


def match_text(reasons: Sequence[str]) -> str | None:
    """'matches: label Hernia, flag Hernia 0.08' (None with no reason: no filter)."""
    return f"matches: {', '.join(reasons)}" if reasons else None


def filter_status(shown: int, total: int, text: str, flagged_only: bool) -> str | None:
    """'3 of 12 shown: filter 'mass', flagged only'; None when nothing is filtered."""
    reasons = []
    text = text.strip()
    if text:
        reasons.append(f"filter '{text}'")
    if flagged_only:
        reasons.append("flagged only")
    if not reasons:
        return None
    return f"{shown} of {total} shown: {', '.join(reasons)}"
