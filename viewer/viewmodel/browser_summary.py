"""What the study browser says about each image.

An image's summary is its findings at the window's operating point (so moving the control
re-flags the whole folder): the flagged labels, highest first, and the highest probability of
any label. The order the browser sorts them in is ``browser_order``'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from viewer.core.findings import Findings

from .operating_point import OperatingPoint


@dataclass(frozen=True)
class ImageSummary:
    """The browser's view of an image's findings: its flagged labels and top probability."""

    flagged: tuple[tuple[str, float], ...]  # (label, probability), highest first
    top_probability: float  # highest probability of any label (flagged or not)
    error: str | None = None
    out_of_distribution: bool = False  # the model's OOD check says the findings are meaningless
    no_model: bool = False  # shown without findings: there is no model

    @property
    def flagged_for_triage(self) -> bool:
        """Flagged, on an image the findings mean something for (not out of distribution)."""
        return bool(self.flagged) and not self.out_of_distribution

    @property
    def flagged_text(self) -> str:
        """'Edema 0.65, Mass 0.43' (empty when nothing is flagged)."""
        return ", ".join(f"{label} {p:.2f}" for label, p in self.flagged)


def summarize(findings: Findings | None, error: str | None, point: OperatingPoint) -> ImageSummary:
    """The summary of one image: ``findings`` at ``point``, or why there are none (``error``;
    neither: the image was shown without a model)."""
    if findings is None:
        return ImageSummary((), 0.0, error, no_model=error is None)
    f = point.apply(findings)
    flagged = sorted(((str(label), f.probability(label)) for label in f.flagged()), key=lambda item: -item[1])
    top = float(max(f.probabilities)) if len(f.probabilities) else 0.0
    return ImageSummary(tuple(flagged), top, out_of_distribution=bool(f.ood_flag))


class Tone(Enum):
    """How the browser colours an image's summary line."""

    PENDING = "pending"
    NO_MODEL = "no model"
    ERROR = "error"
    FLAGGED = "flagged"
    CLEAR = "clear"
    OUT_OF_DISTRIBUTION = "out of distribution"


@dataclass(frozen=True)
class SummaryLine:
    """The second line of an image's row in the browser."""

    text: str
    tone: Tone
    bold: bool = False


NOT_TRIAGED_TEXT = "\N{WARNING SIGN} not a frontal chest: not triaged"


def summary_line(summary: ImageSummary | None) -> SummaryLine:
    """'⚑ Edema 0.65  +5 more', 'no flag (max 0.12)', 'not analysed yet'... An image that fails
    the out-of-distribution check says only that, whatever its flags: they mean nothing, and
    the triage order sets it apart."""
    if summary is None:
        return SummaryLine("not analysed yet", Tone.PENDING)
    if summary.out_of_distribution and summary.error is None and not summary.no_model:
        return SummaryLine(NOT_TRIAGED_TEXT, Tone.OUT_OF_DISTRIBUTION)
    if summary.no_model:
        text, tone = "no findings (no model)", Tone.NO_MODEL
    elif summary.error:
        text, tone = summary.error, Tone.ERROR
    elif summary.flagged:
        label, probability = summary.flagged[0]
        more = f"  +{len(summary.flagged) - 1} more" if len(summary.flagged) > 1 else ""
        text, tone = f"\N{BLACK FLAG} {label.replace('_', ' ')} {probability:.2f}{more}", Tone.FLAGGED
    else:
        text, tone = f"no flag (max {summary.top_probability:.2f})", Tone.CLEAR
    return SummaryLine(text, tone, bold=bool(summary.flagged))
