"""The image on screen: decode it, show it, run the model on it, show its findings.

Opening an image cancels the request before it (its token, and a generation number that
drops results already on their way). The image is shown as soon as it is decoded; findings
follow when the model has run, which starts as soon as the file is decoded, while the display
is prepared. Clicking a finding swaps a precomputed heatmap image on the canvas: nothing is
computed on the click.

While the user looks at an image, the next one in the browser's order (``next_of``) is
prepared ahead: decoded, its display made and the model run, as a request of its own whose
results are kept instead of dropped. Opening that image takes the request over: what has
arrived is shown at once, and what has not arrives as it would have.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, QEvent, QObject, QRunnable, Signal
from PySide6.QtWidgets import QLabel

from viewer.core import heatmap as core_heatmap
from viewer.core.boxes import GroundTruthBox
from viewer.core.errors import display_name
from viewer.core.findings import Findings
from viewer.core.inference import Predictor
from viewer.core.radiograph import Radiograph
from viewer.core.scan import ScannedImage
from viewer.viewmodel.comparison import card_covers_lateral, is_lateral
from viewer.viewmodel.image_findings import ImageFindingsState, no_model_message
from viewer.viewmodel.series_text import series_caption

from .canvas import ImageCanvas
from .colormaps import DEFAULT_COLORMAP
from .errors_panel import ErrorsPanel
from .findings_panel import FindingsPanel
from .model_session import ModelSession, ModelState
from .nih_spacing import FoundSpacing, NihSpacing
from .plain_text import elide
from .tags_panel import TagsPanel
from .workers import (
    AnalysedImage,
    BoxLookup,
    CancelToken,
    DecodedHook,
    ImageEvents,
    InferJob,
    LoadedImage,
    LoadJob,
    single_thread_pool,
)


@dataclass
class _Ahead:
    """The request preparing the next image, and what it has sent so far (kept, not shown)."""

    image: ScannedImage
    generation: int
    token: CancelToken
    events: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)  # (handler name, arguments)

    def sent(self, name: str) -> bool:
        return any(event == name for event, _ in self.events)


class ImageSession(QObject):
    """Drives the canvas, findings, tags and OOD banner for the current image.

    What the findings panel shows is ``state`` (``viewer.viewmodel.image_findings``) at the
    window's operating point (``models.operating_point``); this class only moves results from
    the workers to it and from it to the widgets.

    Events: ``image_shown(LoadedImage)``, ``image_cleared()`` (no image on screen: another is
    loading, a folder is being scanned), ``findings_shown(AnalysedImage)``,
    ``finding_shown(str)`` (its heatmap is on the canvas), ``findings_unavailable(str)`` (no
    model, or it failed on this image), ``image_failed(str, str)``, ``status_message(str)``.
    """

    image_shown = Signal(object)
    image_cleared = Signal()
    findings_shown = Signal(object)
    # True while the user waits for the model on the image on screen (the folder analysis gives
    # way meanwhile); False once its findings are shown, or will not come.
    waiting_for_model = Signal(bool)
    findings_unavailable = Signal(str)
    finding_shown = Signal(str)
    image_failed = Signal(str, str)
    status_message = Signal(str)

    def __init__(self, canvas: ImageCanvas, findings: FindingsPanel, tags: TagsPanel, banner: QLabel,
                 errors: ErrorsPanel, models: ModelSession, boxes_for: BoxLookup,
                 parent: QObject | None = None, *, scrub: Callable[[str], str] = str,
                 series_of: Callable[[ScannedImage], Sequence[ScannedImage]] = lambda _image: (),
                 analysed_for: Callable[[Path], Findings | None] = lambda _path: None,
                 next_of: Callable[[ScannedImage], ScannedImage | None] = lambda _image: None) -> None:
        super().__init__(parent)
        self.canvas, self.findings, self.tags, self.banner = canvas, findings, tags, banner
        self.errors, self.models = errors, models
        self.boxes_for = boxes_for  # (path, width, height) -> ground-truth boxes, of the open folder
        self.analysed_for = analysed_for  # path -> what the folder analysis found, if it got there
        self.spacings = NihSpacing()  # NIH PNGs' pixel spacing, from the Data_Entry beside them
        self.scrub = scrub  # removes the open folder's identities from a path shown outside the browser
        self.series_of = series_of  # an image's series as found so far (the browser's series row)
        self.next_of = next_of  # the image after one in the browser's order: prepared ahead
        # Decoding and inference have a thread each: the next image is decoded while the
        # model may still be busy with the last one (whose result is then dropped).
        self._pool = single_thread_pool("image")
        self._infer_pool = single_thread_pool("inference")
        self._events = ImageEvents(self)
        self._events.image_loaded.connect(self._on_image_loaded)
        self._events.spacing_found.connect(self._on_spacing_found)
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
        findings.pin_toggled.connect(self.set_pinned)

        self.generation = 0
        self._generations = 0  # the last generation given, to the shown request or the one ahead
        self._token = CancelToken()
        self._ahead: _Ahead | None = None
        self._inferring: set[int] = set()  # generations whose model run has been started
        self._answered: set[int] = set()  # ... and has given findings or failed
        self._pending: AnalysedImage | None = None  # findings that came before their image
        self._failed = False  # the image on screen could not be read: opening it again tries again
        self._waiting = False  # as last sent by ``waiting_for_model``
        self.scanned: ScannedImage | None = None
        self.path: Path | None = None
        self.frame = 0  # the frame of a multi-frame file on screen (0-based)
        self._keep_view = False  # the next image shown is another frame: the view and window stay
        self._keep_view_path: Path | None = None  # the next image of a stack, about to be opened
        self.loaded: LoadedImage | None = None
        self.analysed: AnalysedImage | None = None
        self.state = ImageFindingsState(models.operating_point)
        self.colormap = DEFAULT_COLORMAP

    @property
    def selected_label(self) -> str | None:
        """The finding whose heatmap is (or was last) on the canvas."""
        return self.state.selected_label

    @property
    def series_caption(self) -> str | None:
        """What tells the image on screen apart from the rest of its series, for the canvas to
        draw: 'Series 2 CHEST PA · image 3 of 12 · 2024-01-31 10:22' (the series as found so
        far); None for an image without a series. Elided, and without the folder's identities
        (a series description is the header's text)."""
        if self.scanned is None:
            return None
        caption = series_caption(self.scanned, self.series_of(self.scanned))
        return elide(self.scrub(caption)) if caption is not None else None

    # -- opening ------------------------------------------------------------------------------
    def open(self, image: ScannedImage | Path) -> None:
        """Show ``image`` (a scanned image, or a path); any pending request is cancelled, but
        the one preparing this image ahead is taken over."""
        self.scanned = image if isinstance(image, ScannedImage) else None
        path = image.path if isinstance(image, ScannedImage) else Path(image)
        if path == self.path and not self._failed:
            return  # on screen, or on its way (a click on a row both selects and clicks it)
        # the next image of a stack (a series scrolled or played): the last one stays on screen
        # until this one is decoded, and it comes with the same view and window
        keep_view = path == self._keep_view_path and self.loaded is not None
        self._keep_view_path = None
        ahead = self._ahead if self._ahead is not None and self._ahead.image.path == path else None
        self._token.cancel()
        self._cancel_ahead(keep=ahead)
        if ahead is not None:
            self.generation, self._token = ahead.generation, ahead.token
        else:
            self.generation, self._token = self._next_generation(), CancelToken()
        self.path = path
        self.frame = 0
        self._keep_view = keep_view
        self.loaded = None
        self.analysed = None
        self._pending = None
        self._failed = False
        self.state.clear()
        self.banner.hide()
        if not keep_view:
            self.canvas.clear(f"Loading {path.name}\N{HORIZONTAL ELLIPSIS}")
            self.image_cleared.emit()
        self.findings.show_message("Loading the image\N{HORIZONTAL ELLIPSIS}")
        self.findings.set_dataset_labels(self.scanned.labels if self.scanned else None)
        self.tags.show_header(None, "Loading\N{HORIZONTAL ELLIPSIS}")
        self._inferring &= {self.generation}
        self._answered &= {self.generation}
        self._set_waiting(self.analysed_for(path) is None)
        if ahead is not None:
            # what came already, as if it came now: the findings first, so that they are shown
            # with the image rather than after a "Running the model" that is over already
            for name, args in sorted(ahead.events, key=lambda event: "inference" not in event[0]):
                getattr(self, name)(*args)
            return
        self._request(path, self.generation, self._token)

    def prepared_ahead(self) -> Path | None:
        """The next image, once it is prepared ahead (decoded, and analysed when there is a
        model): opening it now shows it at once. None while there is none, or it is not ready."""
        ahead = self._ahead
        if ahead is None or not ahead.sent("_on_image_loaded"):
            return None
        needs_findings = ahead.generation in self._inferring
        done = ahead.sent("_on_inference_finished") or ahead.sent("_on_inference_failed")
        return ahead.image.path if done or not needs_findings else None

    def keep_view_for(self, path: Path) -> None:
        """``path`` is the next image of the stack on screen (a series): opening it keeps the
        view and window, and the image on screen stays until it is decoded."""
        self._keep_view_path = path

    @property
    def frame_count(self) -> int:
        """How many frames the file on screen holds (1 for a single-frame image)."""
        if self.loaded is not None:
            return max(1, self.loaded.radiograph.number_of_frames)
        return max(1, self.scanned.frames) if self.scanned is not None else 1

    def show_frame(self, frame: int, *, analyse: bool = True) -> bool:
        """Show frame ``frame`` (0-based, clamped) of the multi-frame file on screen, keeping the
        view and window; the model runs on that frame unless ``analyse`` is False (cine plays:
        it runs on the frame where playing stops). Whether another frame is coming."""
        if self.loaded is None or self.path is None:
            return False
        frame = min(max(0, frame), self.frame_count - 1)
        if frame == self.frame and (self.analysed is not None or not analyse):
            return False
        self._token.cancel()
        self._cancel_ahead()
        self.generation, self._token = self._next_generation(), CancelToken()
        self.frame = frame
        self._keep_view = True
        self.analysed = None
        self._pending = None
        self.state.clear()
        self.banner.hide()
        self._inferring &= {self.generation}
        self._answered &= {self.generation}
        if analyse:
            self._pool.start(LoadJob(self.generation, self.path, self._events, self._token, self.boxes_for,
                                     self.spacings.spacing_for, frame=frame,
                                     on_decoded=self._inference_plan(self.path, self.generation, self._token, frame)))
        else:
            self.findings.show_message("Playing: the model runs on the frame where playing stops.")
            self._pool.start(LoadJob(self.generation, self.path, self._events, self._token, self.boxes_for,
                                     self.spacings.spacing_for, frame=frame))
            self._inferring.add(self.generation)  # no model run on it: nothing to start on arrival
            self._answered.add(self.generation)
        return True

    @property
    def frame_caption(self) -> str:
        """'Frame 3/5' on the canvas for a multi-frame file; '' otherwise."""
        count = self.frame_count
        return f"Frame {self.frame + 1}/{count}" if count > 1 else ""

    def _set_waiting(self, waiting: bool) -> None:
        if waiting != self._waiting:
            self._waiting = waiting
            self.waiting_for_model.emit(waiting)

    def _next_generation(self) -> int:
        self._generations += 1
        return self._generations

    def _request(self, path: Path, generation: int, token: CancelToken) -> None:
        """Decode ``path``; the model starts on it as soon as it is decoded when it is ready."""
        self._pool.start(LoadJob(generation, path, self._events, token, self.boxes_for, self.spacings.spacing_for,
                                 on_decoded=self._inference_plan(path, generation, token)))

    def _inference_plan(self, path: Path, generation: int, token: CancelToken, frame: int = 0) -> DecodedHook | None:
        """What starts the model on the decoded image (in the decoding thread, so everything it
        needs is read here, on the GUI thread); None when the model is not ready yet (it then
        starts when the image is shown, or when the model is)."""
        predictor = self.models.predictor
        if self.models.state is not ModelState.READY or predictor is None or self._lateral_refused(path):
            return None
        known = self.analysed_for(path) if frame == 0 else None  # the folder analysis saw frame 1 only
        colormap = self.colormap
        pinned = self.state.selected_label if self.state.pinned else None
        self._inferring.add(generation)

        def start(radiograph: Radiograph, boxes: list[GroundTruthBox]) -> None:
            job = InferJob(generation, path, radiograph, boxes, predictor, self._events, token, colormap,
                           core_heatmap.agreement, known, pinned)
            if known is not None:
                # The folder analysis ran the model on it already: only the overlays are made,
                # here (a few milliseconds); the inference thread may be busy with the last image.
                job.run()
            else:
                self._infer_pool.start(job)

        return start

    def _lateral_refused(self, path: Path) -> bool:
        """The image is a lateral view and the model's card does not list laterals among the
        views it was trained on: its findings would mean nothing."""
        scanned = self.scanned if self.scanned is not None and self.scanned.path == path else None
        if self._ahead is not None and self._ahead.image.path == path:
            scanned = self._ahead.image
        predictor = self.models.predictor
        return (scanned is not None and is_lateral(scanned)
                and not card_covers_lateral(predictor.card if predictor is not None else None))

    def _prepare_next(self) -> None:
        """Prepare the image after the one on screen (in the browser's order) ahead."""
        if self.scanned is None or self.loaded is None:
            return
        following = self.next_of(self.scanned)
        if following is None or following.path == self.path:
            return
        if self._ahead is not None and self._ahead.image.path == following.path:
            return
        self._cancel_ahead()
        ahead = _Ahead(following, self._next_generation(), CancelToken())
        self._ahead = ahead
        self._request(following.path, ahead.generation, ahead.token)

    def _cancel_ahead(self, keep: _Ahead | None = None) -> None:
        if self._ahead is not None and self._ahead is not keep:
            self._ahead.token.cancel()
        self._ahead = None

    def _kept_ahead(self, generation: int, name: str, *args: Any) -> bool:
        """A result of the request ahead: kept for when its image is opened (True)."""
        if self._ahead is None or generation != self._ahead.generation:
            return False
        self._ahead.events.append((name, (generation, *args)))
        return True

    def clear(self, message: str) -> None:
        """No image (a new folder is being scanned): cancel any request and empty the panels."""
        self._token.cancel()
        self._token = CancelToken()
        self._cancel_ahead()
        self.generation = self._next_generation()
        self.scanned = self.path = self.loaded = self.analysed = None
        self._pending = None
        self._set_waiting(False)
        self.spacings.clear()
        self.state.clear()
        self.banner.hide()
        self.canvas.clear(message)
        self.image_cleared.emit()
        self.findings.show_message("No image open.")
        self.findings.set_dataset_labels(None)
        self.tags.show_header(None, "No image open.")

    def shutdown(self) -> None:
        """Stop the workers (the window is closing) and drop what they sent that is not yet
        delivered: a result reaching a closed window runs its slot in objects that Python may
        free during it (the window is let go by the garbage collector), which crashes."""
        self._token.cancel()
        self._cancel_ahead()
        self._pool.waitForDone()
        self._infer_pool.waitForDone()
        QCoreApplication.removePostedEvents(self, QEvent.Type.MetaCall)

    def wait(self, msecs: int = -1) -> bool:
        """Block until decoding and inference are done (the command line and tests only)."""
        return self._pool.waitForDone(msecs) and self._infer_pool.waitForDone(msecs)

    def idle(self) -> bool:
        """No decoding or inference is running or queued (for tests and the screenshot)."""
        return self._pool.activeThreadCount() == 0 and self._infer_pool.activeThreadCount() == 0

    # -- results ------------------------------------------------------------------------------
    def _on_image_loaded(self, generation: int, loaded: LoadedImage) -> None:
        if self._kept_ahead(generation, "_on_image_loaded", loaded) or generation != self.generation:
            return  # prepared ahead, or the user has moved on
        self.loaded = loaded
        rg = loaded.radiograph
        caption = " \N{MIDDLE DOT} ".join(part for part in (self.frame_caption, self.series_caption) if part)
        self.canvas.set_image(rg, loaded.renderer, loaded.frames, self.scanned, caption,
                              elide(self.scrub(display_name(rg.path.name))), keep_view=self._keep_view)
        self._keep_view = False
        self.canvas.set_boxes(loaded.boxes)
        if rg.header is not None:
            self.tags.show_header(rg.header)
        else:
            self.tags.show_header(None, _no_header_note(loaded))
        for note in rg.notes:
            self.status_message.emit(f"{rg.path.name}: {note}")
        self.image_shown.emit(loaded)
        if self._pending is not None:  # the findings came first: shown now, over their image
            pending, self._pending = self._pending, None
            self._on_inference_finished(generation, pending)
        elif generation in self._inferring:
            if generation not in self._answered:
                self.findings.show_message("Running the model\N{HORIZONTAL ELLIPSIS}")
        else:
            self._start_inference()

    def _on_spacing_found(self, generation: int, found: FoundSpacing) -> None:
        """An image without a spacing got one (an NIH PNG's): measure in mm, say where it came from."""
        if self._kept_ahead(generation, "_on_spacing_found", found):
            return
        if generation != self.generation or self.loaded is None or self.loaded.radiograph.pixel_spacing is not None:
            return
        rg = self.loaded.radiograph  # the canvas's image: its read-out and ruler read the spacing
        rg.pixel_spacing, rg.spacing_source = found.spacing, found.source
        self.tags.show_header(None, f"{_no_header_note(self.loaded)}\n{found.description}")
        self.canvas.update()

    def _start_inference(self) -> None:
        """Start the model on the image on screen, when it was not started at decoding (the
        model was not ready then), or say why there are no findings."""
        if self.loaded is None or self.analysed is not None or self.generation in self._inferring:
            return
        if self.models.state is ModelState.READY and self._lateral_refused(self.loaded.path):
            reason = LATERAL_REFUSED
            self.findings.show_message(reason)
            self.findings_unavailable.emit(reason)
            self._set_waiting(False)
            self._prepare_next()
        elif self.models.state is ModelState.READY and self.models.predictor is not None:
            plan = self._inference_plan(self.loaded.path, self.generation, self._token, self.frame)
            if plan is not None:
                if self.frame or self.analysed_for(self.loaded.path) is None:
                    self.findings.show_message("Running the model\N{HORIZONTAL ELLIPSIS}")
                loaded = self.loaded
                self._pool.start(_Call(lambda: plan(loaded.radiograph, loaded.boxes)))
        elif self.models.state is ModelState.LOADING:
            self.findings.show_message("Opening the model\N{HORIZONTAL ELLIPSIS}")
        else:
            self.findings.show_message(no_model_message(self.models.reason))
            self.findings_unavailable.emit(self.models.reason)
            self._set_waiting(False)
            self._prepare_next()

    def _on_model_ready(self, _predictor: Predictor) -> None:
        self._start_inference()

    def _on_model_unavailable(self, reason: str) -> None:
        if self.analysed is None:
            self.findings.show_message(no_model_message(reason))
            self._set_waiting(False)
            if self.loaded is not None:
                self.findings_unavailable.emit(reason)

    def _on_inference_finished(self, generation: int, analysed: AnalysedImage) -> None:
        if self._kept_ahead(generation, "_on_inference_finished", analysed) or generation != self.generation:
            return
        self._answered.add(generation)
        if self.loaded is None:
            self._pending = analysed  # shown with its image
            return
        if analysed.heatmaps.colormap != self.colormap:  # changed while the model ran
            analysed.heatmaps.recolour(self.colormap)
        self.analysed = analysed
        f = analysed.findings
        predictor = self.models.predictor
        self.state.show(
            f, card=predictor.card if predictor is not None else None,
            dataset_labels=self.scanned.labels if self.scanned is not None else None,
            boxes=self.loaded.boxes if self.loaded is not None else (),
            agreements=analysed.agreements,
            empty_maps=[label for label in f.labels if analysed.heatmaps.is_empty(label)],
        )
        warning = self.state.ood_warning()
        if warning is not None:
            self.banner.setText(warning)
            self.banner.show()
        notes = list(self.state.notes)
        if self.frame_count > 1:  # which of the frames the findings are of
            notes.insert(0, f"the model ran on frame {self.frame + 1} of {self.frame_count}, the frame shown")
        self.findings.set_notes(notes, warning=warning is not None)
        self.show_finding(self.state.label_to_show())
        self._show_rows()
        self._set_waiting(False)
        self.findings_shown.emit(analysed)
        self._prepare_next()

    def _shown_name(self, path: str) -> str:
        """The folder-relative name the browser and errors panel use for ``path``."""
        if self.scanned is not None and display_name(self.scanned.path) == path:
            return self.scanned.display_path
        return path

    def _on_failed(self, generation: int, path: str, reason: str) -> None:
        if self._kept_ahead(generation, "_on_failed", path, reason):
            return
        self.errors.add_error(self._shown_name(path), reason)
        self.image_failed.emit(path, reason)
        if generation != self.generation:
            return
        self._failed = True
        self._set_waiting(False)
        message = f"{elide(self.scrub(self._shown_name(path)))}: {reason}"  # the name as long as any name shown
        self.canvas.clear(f"This file cannot be shown.\n\n{message}")
        self.findings.show_message("No image.")
        self.tags.show_header(None, message)
        self.status_message.emit(message)

    def _on_inference_failed(self, generation: int, path: str, reason: str) -> None:
        if self._kept_ahead(generation, "_on_inference_failed", path, reason):
            return
        self._answered.add(generation)
        self.errors.add_error(self._shown_name(path), f"the model could not run on it: {reason}")
        if generation == self.generation:
            self._set_waiting(False)
            self.findings.show_message(f"The model could not run on this image:\n{reason}")
            self.findings_unavailable.emit(reason)
            self._prepare_next()

    # -- findings display ---------------------------------------------------------------------
    def show_finding(self, label: str | None) -> None:
        """Overlay ``label``'s heatmap (precomputed) and highlight its ground-truth boxes."""
        if label is None or self.analysed is None:
            return
        self.state.selected_label = label
        image = self.analysed.heatmaps.image(label)
        self.canvas.set_heatmap(image, label, self.colormap, self.state.caption(label))
        self.findings.set_details(self.state.details_html(label))
        self.finding_shown.emit(label)

    def set_heatmap_visible(self, visible: bool) -> None:
        self.canvas.set_heatmap_visible(visible)

    def set_colormap(self, name: str) -> None:
        self.colormap = name
        if self.analysed is not None:
            self.analysed.heatmaps.recolour(name)
            self.show_finding(self.state.selected_label)

    def set_pinned(self, pinned: bool) -> None:
        """Pin the shown finding to every image (or stop); its caption and details say so."""
        self.state.pinned = pinned
        self.show_finding(self.state.selected_label)

    def set_sensitivity(self, step: int) -> None:
        """Move the operating point; flags (and the panel's threshold marks) follow."""
        self.models.operating_point.step = step
        self.state.refresh()
        if self.analysed is not None:
            self._show_rows()
            self.show_finding(self.state.selected_label)

    def _show_rows(self) -> None:
        self.findings.set_rows(self.state.rows(), select=self.state.selected_label)
        self.findings.set_operating_point_text(self.models.operating_point.description)


LATERAL_REFUSED = ("No findings: lateral view. The model's card does not list lateral views among those "
                   "it was trained on.")


def _no_header_note(loaded: LoadedImage) -> str:
    """What the tags panel says for an image without a DICOM header."""
    rg = loaded.radiograph
    return (f"{rg.source_format.upper()} file: no DICOM header ({rg.width} x {rg.height} px, "
            f"{rg.bits_stored} bit).")


class _Call(QRunnable):
    """A plain call on a thread pool (starting the model on an image decoded earlier)."""

    def __init__(self, call: Callable[[], None]) -> None:
        super().__init__()
        self.setAutoDelete(True)
        self._call = call

    def run(self) -> None:
        self._call()
