"""Which images hang beside the one the user opened, and how their findings changed.

A radiologist reads a chest film against the patient's previous one, and a PA against its
lateral. Here, without Qt: the prior of an image (the same patient's latest study before it: by
the DICOM study date, else the NIH follow-up number), the other view of its study, the
situation that decides the default layout (one image, a study with priors, PA + lateral), and
the change of each finding between two images analysed by one model ("Effusion 0.21 -> 0.63,
newly flagged").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from viewer.core.findings import Findings
from viewer.core.model_card import ModelCard
from viewer.core.patient_tree import image_order
from viewer.core.scan import ScannedImage

# ViewPosition values of a lateral projection (DICOM PS3.3 C.8.11.5: LL, RL; some exports
# write the word); decubitus views (LLD, RLD) are frontal films taken lying on one side.
LATERAL_VIEWS = frozenset({"LL", "RL", "LAT", "LATERAL", "LLAT", "RLAT"})
LATERAL_CARD_VIEWS = frozenset({"LL", "RL", "LAT", "LATERAL"})
CHANGE_EPSILON = 0.005  # a probability that moved less than this is shown as unchanged


class Situation(StrEnum):
    """What the opened image has beside it, which picks the default layout."""

    SINGLE = "single"  # nothing to compare it with
    PRIORS = "priors"  # the same patient has another study
    PA_LATERAL = "pa-lateral"  # its study has the other view (PA with a lateral)


# The layout each situation hangs in until the user chooses another one for it.
DEFAULT_LAYOUTS: dict[Situation, str] = {
    Situation.SINGLE: "1x1",
    Situation.PRIORS: "1x2",
    Situation.PA_LATERAL: "1x2",
}
LAYOUTS: dict[str, tuple[int, int]] = {"1x1": (1, 1), "1x2": (1, 2), "2x1": (2, 1), "2x2": (2, 2)}  # rows, columns


def is_lateral(image: ScannedImage) -> bool:
    """Whether the header (or Data_Entry) calls the image a lateral view."""
    return (image.view_position or "").strip().upper() in LATERAL_VIEWS


def card_covers_lateral(card: ModelCard | None) -> bool:
    """Whether a model's card lists a lateral view among those it was trained on
    (``training.views``: ViewPosition values; a card without the list was trained on frontal
    films, as NIH's are)."""
    if card is None:
        return False
    views = card.training.get("views")
    if not isinstance(views, list):
        return False
    return any(isinstance(view, str) and view.strip().upper() in LATERAL_CARD_VIEWS for view in views)


def study_when(image: ScannedImage) -> tuple[int, str, int]:
    """A key ordering a patient's studies in time: the DICOM study date (else the acquisition
    date), else the NIH follow-up number; studies with neither sort first, by their key."""
    date = image.study_date or image.acquired
    if date:
        return (1, date, image.follow_up or 0)
    if image.follow_up is not None:
        return (1, "", image.follow_up)
    return (0, "", image.study_key)


def _same_kind_first(images: Iterable[ScannedImage], lateral: bool) -> ScannedImage | None:
    """The first image (series and instance order) of the same kind of view, else the first."""
    ordered = sorted(images, key=image_order)
    for image in ordered:
        if is_lateral(image) == lateral:
            return image
    return ordered[0] if ordered else None


def studies_of(current: ScannedImage, images: Iterable[ScannedImage]) -> dict[int, list[ScannedImage]]:
    """The patient's images (of ``images``) by study key."""
    studies: dict[int, list[ScannedImage]] = {}
    for image in images:
        if image.patient_key == current.patient_key:
            studies.setdefault(image.study_key, []).append(image)
    return studies


def other_studies(current: ScannedImage, images: Iterable[ScannedImage]) -> list[list[ScannedImage]]:
    """The patient's other studies, the latest first, each as its images."""
    studies = studies_of(current, images)
    studies.pop(current.study_key, None)
    return sorted(studies.values(), key=lambda study: max(study_when(i) for i in study), reverse=True)


def prior_of(current: ScannedImage, images: Iterable[ScannedImage]) -> ScannedImage | None:
    """The image to compare ``current`` with: from the patient's latest study before it (the
    same kind of view where it has one). None when the patient has no earlier study."""
    mine = study_when(current)
    for study in other_studies(current, images):
        if max(study_when(i) for i in study) < mine:
            return _same_kind_first(study, is_lateral(current))
    return None


def later_of(current: ScannedImage, images: Iterable[ScannedImage]) -> ScannedImage | None:
    """The image of the patient's earliest study after ``current`` (when it has no prior, the
    comparison is with the next study instead)."""
    mine = study_when(current)
    later = [study for study in other_studies(current, images) if max(study_when(i) for i in study) > mine]
    return _same_kind_first(later[-1], is_lateral(current)) if later else None


def other_view_of(current: ScannedImage, images: Iterable[ScannedImage]) -> ScannedImage | None:
    """The lateral of a frontal image's study, or the frontal of a lateral's; None without one."""
    want_lateral = not is_lateral(current)
    same_study = studies_of(current, images).get(current.study_key, [])
    for image in sorted(same_study, key=image_order):
        if image.path != current.path and is_lateral(image) == want_lateral:
            return image
    return None


def situation_of(current: ScannedImage, images: Sequence[ScannedImage]) -> Situation:
    """The situation the opened image is in: PA + lateral wins over priors (the study's own
    views are read together first)."""
    if other_view_of(current, images) is not None:
        return Situation.PA_LATERAL
    if other_studies(current, images):
        return Situation.PRIORS
    return Situation.SINGLE


def hanging(current: ScannedImage, images: Sequence[ScannedImage], situation: Situation,
            slots: int) -> list[ScannedImage | None]:
    """The images of ``slots`` viewports for ``current`` in ``situation``: the current image
    first; then its other view (PA + lateral) or its prior; then the prior's other view or the
    older studies. Viewports without an image to show are None."""
    chosen: list[ScannedImage] = [current]

    def take(image: ScannedImage | None) -> None:
        if image is not None and all(image.path != c.path for c in chosen):
            chosen.append(image)

    prior = prior_of(current, images) or later_of(current, images)
    if situation is Situation.PA_LATERAL:
        take(other_view_of(current, images))
        take(prior)
        if prior is not None:
            take(other_view_of(prior, images))
    else:
        take(prior)
        if prior is not None:
            take(other_view_of(prior, images))
    for study in other_studies(current, images):  # older and newer studies fill what is left
        take(_same_kind_first(study, is_lateral(current)))
    padded: list[ScannedImage | None] = list(chosen[:slots])
    return padded + [None] * (slots - len(padded))


@dataclass(frozen=True)
class FindingChange:
    """One finding on two images: ``before`` (the prior's) and ``after`` (the current's)."""

    label: str
    before: float | None  # None: the other image has no findings for it
    after: float | None
    flagged_before: bool
    flagged_after: bool

    @property
    def delta(self) -> float | None:
        if self.before is None or self.after is None:
            return None
        return self.after - self.before

    @property
    def flag_change(self) -> str:
        """'newly flagged', 'no longer flagged', or ''."""
        if self.before is None or self.after is None or self.flagged_before == self.flagged_after:
            return ""
        return "newly flagged" if self.flagged_after else "no longer flagged"

    @property
    def text(self) -> str:
        """'0.21 -> 0.63, newly flagged'; a value alone where the other image has none."""
        def shown(value: float | None) -> str:
            return "–" if value is None else f"{value:.2f}"

        words = f"{shown(self.before)} \N{RIGHTWARDS ARROW} {shown(self.after)}"
        return f"{words}, {self.flag_change}" if self.flag_change else words

    @property
    def change_text(self) -> str:
        """The change alone, for beside the two values: '+0.42, newly flagged', '-0.03', 'new'."""
        delta = self.delta
        if delta is None:
            return "only now" if self.before is None else "only before"
        words = "no change" if abs(delta) < CHANGE_EPSILON else f"{delta:+.2f}".replace("-", "\N{MINUS SIGN}")
        return f"{words}, {self.flag_change}" if self.flag_change else words

    @property
    def direction(self) -> int:
        """+1 up, -1 down, 0 unchanged (or unknown), at ``CHANGE_EPSILON``."""
        delta = self.delta
        if delta is None or abs(delta) < CHANGE_EPSILON:
            return 0
        return 1 if delta > 0 else -1


def finding_changes(before: Findings | None, after: Findings | None) -> list[FindingChange]:
    """Each label's change from ``before`` to ``after`` (both flagged at the operating point the
    user reads at), in ``after``'s label order (then labels only ``before`` has); newly flagged
    findings first, then those no longer flagged, then the rest by how much they moved."""
    labels: list[str] = list(after.labels) if after is not None else []
    if before is not None:
        labels += [label for label in before.labels if label not in labels]

    def value(findings: Findings | None, label: str) -> tuple[float | None, bool]:
        if findings is None or label not in findings.labels:
            return None, False
        i = findings.labels.index(label)
        return float(findings.probabilities[i]), bool(findings.flags[i])

    changes = []
    for label in labels:
        p_before, f_before = value(before, label)
        p_after, f_after = value(after, label)
        changes.append(FindingChange(label, p_before, p_after, f_before, f_after))
    rank = {"newly flagged": 0, "no longer flagged": 1, "": 2}
    return sorted(changes, key=lambda c: (rank[c.flag_change], -abs(c.delta) if c.delta is not None else 0.0))


def flagged_count(findings: Findings | None) -> int:
    """How many findings are flagged (0 without findings)."""
    return 0 if findings is None else int(np.count_nonzero(findings.flags))
