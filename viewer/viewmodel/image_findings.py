"""What the findings panel shows for the image on screen: rows, details, caption, banner.

``ImageFindingsState`` holds one image's findings with what was known about the image when
they came (the card, the NIH labels of the image, its ground-truth boxes and their agreement
with the heatmaps, which maps are empty) and reads them at the window's operating point. The
panel and the canvas only draw what it returns; the flag of a row is the operating point's.
"""

from __future__ import annotations

import html
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from viewer.core.boxes import GroundTruthBox
from viewer.core.findings import Findings
from viewer.core.heatmap import Agreement
from viewer.core.model_card import ModelCard

from .card import auroc_with_interval
from .operating_point import OperatingPoint
from .validation_point import validation_point


@dataclass(frozen=True)
class FindingRow:
    """One label as the panel shows it."""

    label: str
    probability: float
    threshold: float
    flagged: bool
    in_dataset: bool | None = None  # NIH Data_Entry lists it for this image; None = no NIH entry
    auroc: float | None = None
    auroc_ci: tuple[float, float] | None = None
    # The image failed the model's out-of-distribution check: the row is drawn grey, because a
    # flag on an image unlike the training chests is not a finding (the banner says why).
    out_of_distribution: bool = False


def opening_label(findings: Findings, pinned: str | None = None) -> str | None:
    """The finding an image opens on: ``pinned`` when the image has it, else its most probable
    flagged finding (at the thresholds ``findings`` carry), else its most probable. The worker
    that makes an image's overlays asks it too, to make that one first."""
    if not findings.labels:
        return None
    if pinned is not None and pinned in findings.labels:
        return pinned
    flagged = np.flatnonzero(findings.flags)
    candidates = flagged if flagged.size else np.arange(len(findings.labels))
    return findings.labels[int(candidates[np.argmax(np.asarray(findings.probabilities)[candidates])])]


class ImageFindingsState:
    """The findings of the image on screen at ``point``, and the finding the user selected.

    Each image opens on its own top finding (``label_to_show``): a finding clicked on one image
    says nothing about the next, and carrying it over showed a map of an unlikely finding while
    the image's own flagged one went unseen. ``pinned`` keeps the selected finding on every
    image instead, for a user who goes through a folder looking for one finding.
    """

    def __init__(self, point: OperatingPoint) -> None:
        self.point = point
        self.selected_label: str | None = None
        self.pinned = False
        self._findings: Findings | None = None
        self._shown: Findings | None = None  # _findings at the operating point
        self._card: ModelCard | None = None
        self._dataset_labels: tuple[str, ...] | None = None
        self._boxes: tuple[GroundTruthBox, ...] = ()
        self._agreements: Mapping[str, Sequence[Agreement]] = {}
        self._empty_maps: frozenset[str] = frozenset()

    # -- content ------------------------------------------------------------------------------
    def show(self, findings: Findings, *, card: ModelCard | None, dataset_labels: Sequence[str] | None = None,
             boxes: Sequence[GroundTruthBox] = (), agreements: Mapping[str, Sequence[Agreement]] | None = None,
             empty_maps: Collection[str] = ()) -> None:
        """Take the findings of a new image (``empty_maps``: labels whose heatmap shows nothing)."""
        self._findings = findings
        self._card = card
        self._dataset_labels = tuple(dataset_labels) if dataset_labels is not None else None
        self._boxes = tuple(boxes)
        self._agreements = dict(agreements or {})
        self._empty_maps = frozenset(empty_maps)
        self.refresh()

    def clear(self) -> None:
        """No findings (another image is opening); the selection is kept for the next one."""
        self._findings = self._shown = self._card = None
        self._dataset_labels = None
        self._boxes, self._agreements, self._empty_maps = (), {}, frozenset()

    def refresh(self) -> None:
        """Flag again at the operating point (after it moved)."""
        self._shown = self.point.apply(self._findings) if self._findings is not None else None

    @property
    def findings(self) -> Findings | None:
        """The findings as the model gave them (at the card's thresholds)."""
        return self._findings

    @property
    def shown(self) -> Findings | None:
        """The findings at the operating point: what the panel shows."""
        return self._shown

    @property
    def thresholds(self) -> np.ndarray | None:
        return np.asarray(self._shown.thresholds, np.float64) if self._shown is not None else None

    @property
    def flags(self) -> np.ndarray | None:
        return self._shown.flags if self._shown is not None else None

    # -- what to show -------------------------------------------------------------------------
    def label_to_show(self) -> str | None:
        """The finding a new image opens on: the pinned one when this image has it, else the
        image's most probable flagged finding at the operating point, else its most probable."""
        if self._shown is None:
            return None
        return opening_label(self._shown, self.selected_label if self.pinned else None)

    def is_pinned(self, label: str) -> bool:
        """``label`` is the finding pinned to every image."""
        return self.pinned and label == self.selected_label

    def rows(self) -> list[FindingRow]:
        """Every label with its probability, threshold and flag at the operating point."""
        f = self._shown
        if f is None:
            return []
        dataset = self._dataset_labels
        ood = bool(self._findings is not None and self._findings.ood_flag)
        rows = []
        for i, label in enumerate(f.labels):
            auroc, ci = auroc_with_interval(self._card, label)
            rows.append(FindingRow(
                label=label, probability=float(f.probabilities[i]), threshold=float(f.thresholds[i]),
                flagged=bool(f.flags[i]), in_dataset=None if dataset is None else label in dataset,
                auroc=auroc, auroc_ci=ci, out_of_distribution=ood,
            ))
        return rows

    def caption(self, label: str) -> str:
        """'Grad-CAM: Effusion  p 0.71, flagged' for the colour key on the canvas, so a map that
        explains an unlikely finding is not read as a detection."""
        f = self._shown
        if f is None or label not in f.labels:
            return f"Grad-CAM: {label}"
        i = f.index(label)
        state = "flagged" if f.flags[i] else "not flagged"
        caption = f"Grad-CAM: {label.replace('_', ' ')}  p {float(f.probabilities[i]):.2f}, {state}"
        if label in self._empty_maps:
            caption += "  (empty map)"
        if self.is_pinned(label):
            caption += "  (pinned)"
        return caption

    def details_html(self, label: str | None) -> str:
        """The selected finding in words (rich text): verdict, AUROC, validation sensitivity,
        specificity and expected PPV at the operating point, empty map, box agreement."""
        f = self._shown
        if label is None or f is None or label not in f.labels:
            return ""
        i = f.index(label)
        e = html.escape
        if not f.flags[i]:
            verdict = "below threshold"
        elif f.ood_flag:  # not a finding on an image unlike the training chests: grey, as in the list
            verdict = "<span style='color:#808080'><b>flagged</b></span> (out of distribution: not meaningful)"
        else:
            verdict = "<span style='color:#dc3c32'><b>flagged</b></span>"
        p_text, t_text = distinct_numbers(float(f.probabilities[i]), float(f.thresholds[i]))
        text = f"<b>{e(label.replace('_', ' '))}</b>: p = {p_text}, threshold {t_text}: {verdict}"
        auroc, ci = auroc_with_interval(self._card, label)
        if auroc is not None:
            ci_text = f" (95% CI {ci[0]:.2f}\N{EN DASH}{ci[1]:.2f})" if ci else ""
            text += f"<br>Test AUROC {auroc:.2f}{ci_text}"
        point = validation_point(self._card, label, float(f.thresholds[i]))
        if point is not None:  # what a flag here is worth, by the card's validation figures
            text += f"<br>{e(point.text())}"
        if label in self._empty_maps:
            text += ("<br>The heatmap is empty: Grad-CAM found no image region that raises "
                     "this finding's score.")
        if self.is_pinned(label):
            text += "<br><b>Pinned:</b> every image opens on this finding."
        if self._boxes:
            agreements = self._agreements.get(label, ())
            if agreements:
                parts = [agreement_text(a) for a in agreements]
                sources = ", ".join(dict.fromkeys(b.source for b in self._boxes if b.shows(label)))
                text += f"<br><b>Ground-truth box</b> ({e(sources)}): " + "; ".join(parts)
            else:
                names = ", ".join(sorted({str(b.label) for b in self._boxes}))
                text += f"<br>Ground-truth boxes on this image: {e(names)} (none for this finding)"
        return text

    def ood_warning(self) -> str | None:
        """The banner over the image when the model's OOD check rejects it, else None."""
        f = self._findings
        if f is None or not f.ood_flag:
            return None
        return ("\N{WARNING SIGN} Out of distribution: this image does not look like the chest "
                f"radiographs the model was trained on (score {float(f.ood_score):.2f}). "
                "Its findings and heatmaps are not meaningful, so they are shown in grey.")

    @property
    def notes(self) -> tuple[str, ...]:
        return tuple(self._findings.notes) if self._findings is not None else ()


def distinct_numbers(probability: float, threshold: float) -> tuple[str, str]:
    """Both numbers with 3 decimals, or as many more as it takes to show which is larger."""
    for digits in range(3, 8):
        a, b = f"{probability:.{digits}f}", f"{threshold:.{digits}f}"
        if a != b or probability == threshold:
            return a, b
    return a, b


def agreement_text(agreement: Agreement) -> str:
    """IoBB at Wang et al.'s thresholds and the pointing game, in words."""
    parts = []
    if agreement.iobb:
        keys = sorted(agreement.iobb)
        parts.append(f"IoBB {' / '.join(f'{float(agreement.iobb[t]):.2f}' for t in keys)} "
                     f"(map thresholds {' / '.join(str(t) for t in keys)})")
    parts.append("heatmap peak inside the box" if agreement.pointing_hit else "heatmap peak outside the box")
    return "; ".join(parts)


def no_model_message(reason: str) -> str:
    """What the findings panel says when there is no model: the viewer is a plain viewer."""
    return ("No findings: the model is not available, so this is a plain viewer.\n\n"
            f"{reason or 'No model was given.'}\n\nStart with --model NAME.onnx to see findings.")
