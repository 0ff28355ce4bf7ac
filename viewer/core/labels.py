"""The finding names: the 14 NIH ChestX-ray14 labels and the one rule for what a label name means.

Files spell the same finding differently: the NIH label file writes ``Pleural_Thickening``, its
box list ``Pleural Thickening`` and ``Infiltrate`` (for Infiltration), a spreadsheet column may
say ``effusion`` or ``HERNIA``, and a model card lists its labels as its trainer named them. The
rule, used by every module that compares label names:

* two names mean the same finding when they are equal ignoring case, spaces and underscores
  (``label_key``);
* a name in ``ALIASES`` means the NIH finding it maps to.

``canonical_label`` gives the NIH spelling of a name, ``match_label`` which of a model's own labels
a name refers to. ``ALIASES`` is a plain table so that other datasets' taxonomies can map their
names onto these by adding rows, not code.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

# The 14 findings in the order of the official release (Wang et al. 2017, the README of the
# download); models list their outputs in this order unless their card says otherwise.
NIH_LABELS: tuple[str, ...] = (
    "Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule", "Pneumonia",
    "Pneumothorax", "Consolidation", "Edema", "Emphysema", "Fibrosis", "Pleural_Thickening",
    "Hernia",
)

# Other names of the NIH findings -> the NIH spelling. Spellings that differ from an NIH label
# only in case, spaces or underscores ("Pleural Thickening") need no row: the key rule covers them.
ALIASES: Mapping[str, str] = MappingProxyType({
    "Infiltrate": "Infiltration",  # BBox_List_2017.csv's name for Infiltration's boxes
})


def label_key(name: str) -> str:
    """The form in which label names are compared: lower case, without spaces or underscores."""
    return "".join(name.split()).replace("_", "").casefold()


def _index(labels: tuple[str, ...], aliases: Mapping[str, str]) -> dict[str, str]:
    """label key -> label, for the labels and their aliases (an alias never hides a label)."""
    index = {label_key(label): label for label in labels}
    for alias, target in aliases.items():
        if target not in labels:
            raise ValueError(f"alias {alias!r} maps to {target!r}, which is not a label")
        index.setdefault(label_key(alias), target)
    return index


_CANONICAL = _index(NIH_LABELS, ALIASES)


def canonical_label(name: str) -> str | None:
    """The NIH spelling of the finding ``name`` means (``pleural thickening`` ->
    ``Pleural_Thickening``, ``Infiltrate`` -> ``Infiltration``); None when it names none."""
    return _CANONICAL.get(label_key(name))


def match_label(name: str, labels: Iterable[str]) -> str | None:
    """Which of ``labels`` (a model's own spelling, which need not be NIH's) ``name`` refers to.

    A label with the same key wins; otherwise one that means the same NIH finding (a box labelled
    ``Infiltrate`` is the model's ``infiltration``). None when none of them does.
    """
    labels = tuple(labels)
    key = label_key(name)
    for label in labels:
        if label_key(label) == key:
            return label
    canonical = canonical_label(name)
    if canonical is None:
        return None
    for label in labels:
        if canonical_label(label) == canonical:
            return label
    return None


def same_label(a: str, b: str) -> bool:
    """Whether two label names mean the same finding."""
    return match_label(a, (b,)) is not None
