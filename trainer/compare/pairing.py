"""Which label of model A is which label of model B.

Two models need not name their findings alike: an NIH-trained model says "Effusion", a
CheXpert-trained one "Pleural Effusion". A label of A pairs with a label of B, in this order:

1. the same name as ``viewer.core.labels`` compares names (case, spaces, underscores, and its
   aliases such as "Infiltrate" for Infiltration): ``how = "same name"``;
2. else the same finding of the taxonomy (``trainer.data.taxonomy.finding_named``, whatever
   dataset named the label): ``how = "taxonomy: <finding>"``.

Each label pairs at most once. A label only one model has is listed (``only_a``/``only_b``),
never compared: there is nothing to compare it with.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from viewer.core.labels import match_label

from ..data.taxonomy import finding_named

SAME_NAME = "same name"


@dataclass(frozen=True)
class LabelPair:
    """Label ``a`` (column ``index_a`` of A's outputs) is label ``b`` (``index_b`` of B's)."""

    a: str
    b: str
    index_a: int
    index_b: int
    how: str

    @property
    def name(self) -> str:
        """How tables name the pair: the one name, or ``A-name / B-name`` where they differ."""
        return self.a if self.a == self.b else f"{self.a} / {self.b}"


@dataclass(frozen=True)
class LabelPairing:
    """The paired labels in A's order, and those only one model has."""

    pairs: tuple[LabelPair, ...]
    only_a: tuple[str, ...]
    only_b: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        return {"pairs": [{"label": p.name, "a": p.a, "b": p.b, "how": p.how} for p in self.pairs],
                "only_a": list(self.only_a), "only_b": list(self.only_b)}


def pair_labels(labels_a: Sequence[str], labels_b: Sequence[str]) -> LabelPairing:
    """Pair the labels of A with those of B: by name first, then by the taxonomy's finding."""
    free_b = list(labels_b)
    matched: dict[int, tuple[str, str]] = {}  # index in A -> (B's label, how)
    for i, label in enumerate(labels_a):  # names first, so that a name match is never taken by a finding match
        found = match_label(label, free_b)
        if found is not None:
            matched[i] = (found, SAME_NAME)
            free_b.remove(found)
    for i, label in enumerate(labels_a):
        finding = finding_named(label)
        if i in matched or finding is None:
            continue
        found = next((b for b in free_b if finding_named(b) == finding), None)
        if found is not None:
            matched[i] = (found, f"taxonomy: {finding}")
            free_b.remove(found)
    index_b = {label: j for j, label in enumerate(labels_b)}
    pairs = tuple(LabelPair(labels_a[i], b, i, index_b[b], how) for i, (b, how) in sorted(matched.items()))
    return LabelPairing(pairs, tuple(a for i, a in enumerate(labels_a) if i not in matched),
                        tuple(b for b in labels_b if b in free_b))
