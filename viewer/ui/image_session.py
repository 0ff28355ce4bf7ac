"""The image on screen: decode it, show it, run the model on it, show its findings.

Opening an image cancels the request before it (its token, and a generation number that
drops results already on their way). The image is shown as soon as it is decoded; findings
follow when the model has run. Clicking a finding swaps a precomputed heatmap image on the
canvas: nothing is computed on the click.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QLabel

from viewer.core import heatmap as core_heatmap
from viewer.core import inference as core_inference
from viewer.core.errors import display_name
from viewer.core.scan import ScannedImage

from .canvas import ImageCanvas
from .colormaps import DEFAULT_COLORMAP
from .errors_panel import ErrorsPanel
from .findings_panel import FindingRow, FindingsPanel
from .model_panel import auroc_interval
from .model_session import ModelSession, ModelState
from .tags_panel import TagsPanel
from .workers import (
    AnalysedImage,
    CancelToken,
    ImageEvents,
    InferJob,
    LoadedImage,
    LoadJob,
    single_thread_pool,
)


class ImageSession(QObject):
    """Drives the canvas, findings, tags and OOD banner for the current image.

    Events: ``image_shown(LoadedImage)``, ``findings_shown(AnalysedImage)``,
    ``finding_shown(str)`` (its heatmap is on the canvas), ``findings_unavailable(str)`` (no
    model, or it failed on this image), ``image_failed(str, str)``, ``status_message(str)``.
    """

    image_shown = Signal(object)
    findings_shown = Signal(object)
    findings_unavailable = Signal(str)
    finding_shown = Signal(str)
    image_failed = Signal(str, str)
    status_message = Signal(str)

    def __init__(self, canvas: ImageCanvas, findings: FindingsPanel, tags: TagsPanel, banner: QLabel,
                 errors: ErrorsPanel, models: ModelSession, boxes_for: Any,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.canvas, self.findings, self.tags, self.banner = canvas, findings, tags, banner
        self.errors, self.models = errors, models
        self.boxes_for = boxes_for  # callable(path, width, height) -> boxes; replaced per folder
        # Decoding and inference have a thread each: the next image is decoded while the
        # model may still be busy with the last one (whose result is then dropped).
        self._pool = single_thread_pool("image")
        self._infer_pool = single_thread_pool("inference")
        self._events = ImageEvents(self)
        self._events.image_loaded.connect(self._on_image_loaded)
        self._events.inference_finished.connect(self._on_inference_finished)
        self._events.failed.connect(self._on_failed)
        self._events.inference_failed.connect(self._on_inference_failed)
        models.model_ready.connect(self._on_model_ready)
        models.model_unavailable.connect(self._on_model_unavailable)

        findings.finding_selected.connect(self.show_finding)
        findings.heatmap_toggled.connect(self.set_heatmap_visible)
        findings.colormap_changed.connect(self.set_colormap)
        findings.opacity_changed.connect(canvas.set_heatmap_opacity)
        findings.sensitivity_changed.connect(self.set_sensitivity)

        self.generation = 0
        self._token = CancelToken()
        self.scanned: ScannedImage | None = None
        self.path: Path | None = None
        self.loaded: LoadedImage | None = None
        self.analysed: AnalysedImage | None = None
        self.selected_label: str | None = None
        self.colormap = DEFAULT_COLORMAP
        self.sensitivity = 0
        self._thresholds: np.ndarray | None = None
        self._flags: np.ndarray | None = None

    # -- opening ------------------------------------------------------------------------------
    def open(self, image: ScannedImage | Path) -> None:
        """Show ``image`` (a scanned image, or a path); any pending request is cancelled."""
        self.scanned = image if isinstance(image, ScannedImage) else None
        path = image.path if isinstance(image, ScannedImage) else Path(image)
        if path == self.path and self.loaded is not None and self.loaded.path == path:
            return
        self._token.cancel()
        self._token = CancelToken()
        self.generation += 1
        self.path = path
        self.loaded = None
        self.analysed = None
        self._thresholds = self._flags = None
        self.banner.hide()
        self.canvas.clear(f"Loading {path.name}\N{HORIZONTAL ELLIPSIS}")
        self.findings.show_message("Loading the image\N{HORIZONTAL ELLIPSIS}")
        self.findings.set_dataset_labels(self.scanned.labels if self.scanned else None)
        self.tags.show_header(None, "Loading\N{HORIZONTAL ELLIPSIS}")
        self._pool.start(LoadJob(self.generation, path, self._events, self._token, self.boxes_for))

    def clear(self, message: str) -> None:
        """No image (a new folder is being scanned): cancel any request and empty the panels."""
        self._token.cancel()
        self._token = CancelToken()
        self.generation += 1
        self.scanned = self.path = self.loaded = self.analysed = None
        self._thresholds = self._flags = None
        self.banner.hide()
        self.canvas.clear(message)
        self.findings.show_message("No image open.")
        self.findings.set_dataset_labels(None)
        self.tags.show_header(None, "No image open.")

    def shutdown(self) -> None:
        self._token.cancel()
        self._pool.waitForDone()
        self._infer_pool.waitForDone()

    def wait(self, msecs: int = -1) -> bool:
        """Block until decoding and inference are done (the command line and tests only)."""
        return self._pool.waitForDone(msecs) and self._infer_pool.waitForDone(msecs)

    def idle(self) -> bool:
        """No decoding or inference is running or queued (for tests and the screenshot)."""
        return self._pool.activeThreadCount() == 0 and self._infer_pool.activeThreadCount() == 0

    # -- results ------------------------------------------------------------------------------
    def _on_image_loaded(self, generation: int, loaded: LoadedImage) -> None:
        if generation != self.generation:
            return  # the user has moved on
        self.loaded = loaded
        rg = loaded.radiograph
        self.canvas.set_image(rg, loaded.renderer, loaded.frames)
        self.canvas.set_boxes(loaded.boxes)
        if rg.header is not None:
            self.tags.show_header(rg.header)
        else:
            self.tags.show_header(None, f"{rg.source_format.upper()} file: no DICOM header "
                                  f"({rg.width} x {rg.height} px, {rg.bits_stored} bit).")
        for note in rg.notes:
            self.status_message.emit(f"{rg.path.name}: {note}")
        self.image_shown.emit(loaded)
        self._start_inference()

    def _start_inference(self) -> None:
        if self.loaded is None or self.analysed is not None:
            return
        if self.models.state is ModelState.READY:
            self.findings.show_message("Running the model\N{HORIZONTAL ELLIPSIS}")
            self._infer_pool.start(InferJob(self.generation, self.loaded, self.models.predictor, self._events,
                                            self._token, self.colormap, core_heatmap.agreement))
        elif self.models.state is ModelState.LOADING:
            self.findings.show_message("Opening the model\N{HORIZONTAL ELLIPSIS}")
        else:
            self.findings.show_message(_no_model_text(self.models.reason))
            self.findings_unavailable.emit(self.models.reason)

    def _on_model_ready(self, _predictor: Any) -> None:
        self._start_inference()

    def _on_model_unavailable(self, reason: str) -> None:
        if self.analysed is None:
            self.findings.show_message(_no_model_text(reason))
            if self.loaded is not None:
                self.findings_unavailable.emit(reason)

    def _on_inference_finished(self, generation: int, analysed: AnalysedImage) -> None:
        if generation != self.generation:
            return
        self.analysed = analysed
        f = analysed.findings
        self._apply_operating_point()
        if f.ood_flag:
            self.banner.setText(
                "\N{WARNING SIGN} Out of distribution: this image does not look like the chest "
                f"radiographs the model was trained on (score {float(f.ood_score):.2f}). "
                "Its findings and heatmaps are not meaningful."
            )
            self.banner.show()
        self.findings.set_notes(list(f.notes), warning=bool(f.ood_flag))
        labels = list(f.labels)
        keep = self.selected_label if self.selected_label in labels else None
        top = labels[int(np.argmax(f.probabilities))] if labels else None
        self.show_finding(keep or top)
        if (keep or top) is not None:
            self.findings.set_rows(self._rows(), select=keep or top)
        self.findings_shown.emit(analysed)

    def _shown_name(self, path: str) -> str:
        """The folder-relative name the browser and errors panel use for ``path``."""
        if self.scanned is not None and display_name(self.scanned.path) == path:
            return self.scanned.display_path
        return path

    def _on_failed(self, generation: int, path: str, reason: str) -> None:
        self.errors.add_error(self._shown_name(path), reason)
        self.image_failed.emit(path, reason)
        if generation != self.generation:
            return
        self.canvas.clear(f"This file cannot be shown.\n\n{reason}")
        self.findings.show_message("No image.")
        self.tags.show_header(None, reason)
        self.status_message.emit(reason)

    def _on_inference_failed(self, generation: int, path: str, reason: str) -> None:
        self.errors.add_error(self._shown_name(path), f"the model could not run on it: {reason}")
        if generation == self.generation:
            self.findings.show_message(f"The model could not run on this image:\n{reason}")
            self.findings_unavailable.emit(reason)

    # -- findings display ---------------------------------------------------------------------
    def show_finding(self, label: str | None) -> None:
        """Overlay ``label``'s heatmap (precomputed) and highlight its ground-truth boxes."""
        if label is None or self.analysed is None:
            return
        self.selected_label = label
        image = self.analysed.heatmaps.image(label)
        self.canvas.set_heatmap(image, label, self.colormap, self._caption(label))
        self.findings.set_details(self._details(label))
        self.finding_shown.emit(label)

    def _caption(self, label: str) -> str:
        """'Grad-CAM: Effusion  p 0.71, flagged' for the colour key on the canvas."""
        f = self.analysed.findings if self.analysed is not None else None
        if f is None or self._flags is None:
            return f"Grad-CAM: {label}"
        i = list(f.labels).index(label)
        state = "flagged" if self._flags[i] else "not flagged"
        caption = f"Grad-CAM: {label.replace('_', ' ')}  p {float(f.probabilities[i]):.2f}, {state}"
        if self.analysed.heatmaps.is_empty(label):
            caption += "  (empty map)"
        return caption

    def set_heatmap_visible(self, visible: bool) -> None:
        self.canvas.set_heatmap_visible(visible)

    def set_colormap(self, name: str) -> None:
        self.colormap = name
        if self.analysed is not None:
            self.analysed.heatmaps.recolour(name)
            self.show_finding(self.selected_label)

    def set_sensitivity(self, step: int) -> None:
        """Move the operating point; flags (and the panel's threshold marks) follow."""
        self.sensitivity = step
        self._apply_operating_point()
        if self.analysed is not None:
            self.findings.set_rows(self._rows(), select=self.selected_label)
            self.show_finding(self.selected_label)

    def operating_thresholds(self, findings: Any) -> np.ndarray:
        """The thresholds at the current operating point for ``findings``' labels.

        Step 0 is the card's thresholds; each of the panel's steps moves the core's
        sensitivity setting by 1/SENSITIVITY_STEPS (along each label's ROC when the card has it).
        """
        predictor = self.models.predictor
        if self.sensitivity == 0 or predictor is None:
            return np.asarray(findings.thresholds)
        return core_inference.adjusted_thresholds(predictor.card,
                                                  self.sensitivity / FindingsPanel.SENSITIVITY_STEPS)

    def _apply_operating_point(self) -> None:
        if self.analysed is None:
            return
        at_point = self.analysed.findings.at_thresholds(self.operating_thresholds(self.analysed.findings))
        self._thresholds = np.asarray(at_point.thresholds, dtype=np.float64)
        self._flags = at_point.flags
        self.findings.set_rows(self._rows(), select=self.selected_label)
        if self.sensitivity == 0:
            self.findings.set_operating_point_text("card thresholds")
        else:
            direction = "more sensitive" if self.sensitivity > 0 else "more specific"
            self.findings.set_operating_point_text(f"{self.sensitivity:+d}: {direction}")

    @property
    def flags(self) -> np.ndarray | None:
        return self._flags

    @property
    def thresholds(self) -> np.ndarray | None:
        return self._thresholds

    def _rows(self) -> list[FindingRow]:
        assert self.analysed is not None and self._thresholds is not None and self._flags is not None
        f = self.analysed.findings
        card = self.models.predictor.card if self.models.predictor is not None else None
        dataset = self.scanned.labels if self.scanned is not None else None
        rows = []
        for i, label in enumerate(f.labels):
            auroc, ci = _auroc(card, label)
            rows.append(FindingRow(
                label=label, probability=float(f.probabilities[i]), threshold=float(self._thresholds[i]),
                flagged=bool(self._flags[i]),
                in_dataset=None if dataset is None else label in dataset,
                auroc=auroc, auroc_ci=ci,
            ))
        return rows

    def _details(self, label: str | None) -> str:
        if label is None or self.analysed is None or self._thresholds is None or self._flags is None:
            return ""
        f = self.analysed.findings
        i = list(f.labels).index(label)
        e = html.escape
        verdict = ("<span style='color:#dc3c32'><b>flagged</b></span>" if self._flags[i]
                   else "below threshold")
        p_text, t_text = _distinct(float(f.probabilities[i]), float(self._thresholds[i]))
        text = f"<b>{e(label.replace('_', ' '))}</b>: p = {p_text}, threshold {t_text}: {verdict}"
        card = self.models.predictor.card if self.models.predictor is not None else None
        auroc, ci = _auroc(card, label)
        if auroc is not None:
            ci_text = f" (95% CI {ci[0]:.2f}\N{EN DASH}{ci[1]:.2f})" if ci else ""
            text += f"<br>Test AUROC {auroc:.2f}{ci_text}"
        if self.analysed.heatmaps.is_empty(label):
            text += ("<br>The heatmap is empty: Grad-CAM found no image region that raises "
                     "this finding's score.")
        boxes = self.loaded.boxes if self.loaded is not None else []
        if boxes:
            agreements = self.analysed.agreements.get(label, [])
            if agreements:
                parts = [_agreement_text(a) for a in agreements]
                text += "<br><b>Ground-truth box</b> (BBox_List_2017): " + "; ".join(parts)
            else:
                names = ", ".join(sorted({str(b.label) for b in boxes}))
                text += f"<br>Ground-truth boxes on this image: {e(names)} (none for this finding)"
        return text


def _distinct(probability: float, threshold: float) -> tuple[str, str]:
    """Both numbers with 3 decimals, or as many more as it takes to show which is larger."""
    for digits in range(3, 8):
        a, b = f"{probability:.{digits}f}", f"{threshold:.{digits}f}"
        if a != b or probability == threshold:
            return a, b
    return a, b


def _agreement_text(agreement: Any) -> str:
    """IoBB at Wang et al.'s thresholds and the pointing game, in words."""
    parts = []
    iobb = getattr(agreement, "iobb", None) or {}
    if iobb:
        keys = sorted(iobb)
        parts.append(f"IoBB {' / '.join(f'{float(iobb[t]):.2f}' for t in keys)} "
                     f"(map thresholds {' / '.join(str(t) for t in keys)})")
    hit = getattr(agreement, "pointing_hit", None)
    if hit is not None:
        parts.append("heatmap peak inside the box" if hit else "heatmap peak outside the box")
    return "; ".join(parts)


def _auroc(card: Any, label: str) -> tuple[float | None, tuple[float, float] | None]:
    if card is None:
        return None, None
    return card.auroc(label), auroc_interval(card, label)


def _no_model_text(reason: str) -> str:
    return ("No findings: the model is not available, so this is a plain viewer.\n\n"
            f"{reason or 'No model was given.'}\n\nStart with --model NAME.onnx to see findings.")

