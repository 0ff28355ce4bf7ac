"""Background work: folder scans, image decoding, model loading, inference, folder triage.

Every job is a ``QRunnable`` that reports through a ``QObject`` of signals named as events
(``scan_progressed``, ``image_loaded``, ``inference_finished``, ``failed``...). Signals emitted
from a pool thread reach GUI-thread slots as queued calls, so no widget is ever touched off the
GUI thread. Each job gets a ``CancelToken``; starting a newer request cancels the older token,
and results also carry a generation number so a result that was already on its way when the
user moved on is dropped by the receiver.

No job lets an exception escape: every failure becomes a ``failed`` event with the file and a
reason, which the session sends to the errors panel.

One job, running the viewer's work off the GUI thread, in one module of over 400 lines: the
five jobs (scan, decode, inference, model, folder analysis) are short, and they share the
cancel, generation, batching and GIL-yield rules above; read side by side, those rules stay the
same for all of them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal
from PySide6.QtGui import QImage

from viewer.core.boxes import GroundTruthBox
from viewer.core.display_transforms import to_unit_grey
from viewer.core.errors import CxrError, FileProblem, display_name, one_line
from viewer.core.findings import Findings, read_only
from viewer.core.heatmap import Agreement
from viewer.core.inference import Predictor
from viewer.core.labels import match_label
from viewer.core.loader import load_radiograph
from viewer.core.radiograph import Radiograph
from viewer.core.scan import DataFileProblem, ScanError, ScannedImage, SkippedFile, scan_folder

from .display import GreyFrame, GreyRenderer, grey_qimage
from .nih_spacing import FoundSpacing
from .overlay import HeatmapSet

log = logging.getLogger(__name__)

THUMBNAIL_SIZE = 64
# Scan and analysis results go to the GUI in batches of at most this many, or this old:
# one queued call per file would keep the GUI thread's event loop from ever being idle.
_FLUSH_COUNT = 200
_FLUSH_SECONDS = 0.1
# The scan offers the GIL to the GUI thread this often, not after every file: each offer costs
# the scan up to a whole switch interval (5 ms) to get the GIL back from the analysis thread,
# which capped the scan at ~200 files/s while the folder was being analysed.
_YIELD_SECONDS = 0.001


class CancelToken:
    """Set when the request a job serves is no longer wanted; checked between steps."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()


def yield_to_gui() -> None:
    """Let the GUI thread take the GIL now. Header parsing is pure Python: without this a
    worker keeps the GIL for whole 5 ms switch intervals, file after file, and the GUI thread
    (which needs the GIL for every slot it runs) waits behind it."""
    time.sleep(0)


def reason_of(exc: BaseException) -> str:
    """One line for the errors panel. Our own errors already name the problem and the fix; a
    file's problem without its path (the panel's first column names the file, relative to the
    folder and scrubbed of identifiers: an absolute path would undo both)."""
    if isinstance(exc, FileProblem):
        return exc.reason
    if isinstance(exc, CxrError):
        return str(exc)
    text = one_line(exc, empty="")
    return f"unexpected {type(exc).__name__}{': ' + text if text else ''}"


class Worker(QRunnable):
    """A job for a ``QThreadPool`` that turns any escaping exception into ``on_crash``."""

    def __init__(self, token: CancelToken | None = None) -> None:
        super().__init__()
        self.setAutoDelete(True)
        self.token = token or CancelToken()

    def run(self) -> None:
        try:
            self.work()
        except Exception as exc:  # a bug must reach the errors panel, not kill the thread
            log.exception("%s failed", type(self).__name__)
            self.on_crash(exc)

    def work(self) -> None:
        raise NotImplementedError

    def on_crash(self, exc: BaseException) -> None:
        raise NotImplementedError


def single_thread_pool(name: str) -> QThreadPool:
    """A pool that runs its jobs one after another (stale ones return at once when cancelled)."""
    pool = QThreadPool()
    pool.setObjectName(name)
    pool.setMaxThreadCount(1)
    return pool


# -- folder scan ----------------------------------------------------------------------------------
class ScanEvents(QObject):
    """Events of folder scans; ``scan_id`` tells scans of successive folders apart."""

    scan_progressed = Signal(int, int, object)  # scan_id, done, total (None while listing)
    images_found = Signal(int, list)  # scan_id, [ScannedImage]
    files_skipped = Signal(int, list)  # scan_id, [SkippedFile | DataFileProblem]
    scan_finished = Signal(int, int, bool)  # scan_id, images found, cancelled
    failed = Signal(int, str, str)  # scan_id, path, reason


class ScanJob(Worker):
    """Streams ``scan_folder(root)`` to the GUI in batches, first image at once."""

    def __init__(self, scan_id: int, root: Path, events: ScanEvents, token: CancelToken, *,
                 follow_links: bool = False) -> None:
        super().__init__(token)
        self.scan_id, self.root, self.events = scan_id, root, events
        self.follow_links = follow_links

    def work(self) -> None:
        images: list[ScannedImage] = []
        skipped: list[SkippedFile | DataFileProblem] = []
        count = 0
        first_sent = False
        last_flush = last_yield = time.monotonic()

        def progress(done: int, total: int | None) -> None:
            self.events.scan_progressed.emit(self.scan_id, done, total)

        def flush() -> None:
            nonlocal images, skipped, last_flush
            if images:
                self.events.images_found.emit(self.scan_id, images)
                images = []
            if skipped:
                self.events.files_skipped.emit(self.scan_id, skipped)
                skipped = []
            last_flush = time.monotonic()

        try:
            for item in scan_folder(self.root, on_progress=progress, cancelled=lambda: self.token.cancelled,
                                    follow_links=self.follow_links):
                if time.monotonic() - last_yield >= _YIELD_SECONDS:
                    yield_to_gui()
                    last_yield = time.monotonic()
                if isinstance(item, ScannedImage):
                    images.append(item)
                    count += 1
                else:
                    skipped.append(item)
                # The first image goes out alone so it can be decoded while the scan goes on.
                if (not first_sent and images) or len(images) + len(skipped) >= _FLUSH_COUNT or (
                    time.monotonic() - last_flush >= _FLUSH_SECONDS
                ):
                    first_sent = first_sent or bool(images)
                    flush()
        except ScanError as exc:
            flush()
            self.events.failed.emit(self.scan_id, display_name(self.root), str(exc))
        flush()
        self.events.scan_finished.emit(self.scan_id, count, self.token.cancelled)

    def on_crash(self, exc: BaseException) -> None:
        self.events.failed.emit(self.scan_id, display_name(self.root), reason_of(exc))
        self.events.scan_finished.emit(self.scan_id, 0, True)


# -- one image: decode, then inference ----------------------------------------------------------
@dataclass
class LoadedImage:
    """A decoded radiograph, ready to show: its display renderer and first frames."""

    path: Path
    radiograph: Radiograph
    renderer: GreyRenderer
    frames: list[GreyFrame]
    boxes: list[GroundTruthBox] = field(default_factory=list)  # ground-truth boxes of this image
    thumbnail: np.ndarray | None = None  # for the browser, made while the image is at hand


@dataclass
class AnalysedImage:
    """The findings of one image with everything the UI shows for them, precomputed."""

    path: Path
    findings: Findings
    heatmaps: HeatmapSet
    agreements: dict[str, list[Agreement]]  # label -> one per ground-truth box of that label


class ImageEvents(QObject):
    """Events of the image being opened; ``generation`` identifies the request."""

    image_loaded = Signal(int, object)  # generation, LoadedImage
    spacing_found = Signal(int, object)  # generation, FoundSpacing: for an image that had none
    inference_finished = Signal(int, object)  # generation, AnalysedImage
    failed = Signal(int, str, str)  # generation, path, reason
    inference_failed = Signal(int, str, str)  # generation, path, reason (the image still shows)


BoxLookup = Callable[[Path, int, int], list[GroundTruthBox]]  # (path, width, height) -> its boxes
SpacingLookup = Callable[[Path, int, int], FoundSpacing | None]  # (path, width, height) -> a spacing


class LoadJob(Worker):
    """Decode one file and prepare its display (quantised levels, default window).

    An image without a pixel spacing may get one from ``spacing_for`` (an NIH PNG's, from
    Data_Entry): looked up after the image is sent, so the first lookup of a folder, which
    reads the CSV, never holds the image back.
    """

    def __init__(self, generation: int, path: Path, events: ImageEvents, token: CancelToken,
                 boxes_for: BoxLookup | None = None, spacing_for: SpacingLookup | None = None) -> None:
        super().__init__(token)
        self.generation, self.path, self.events, self.boxes_for = generation, path, events, boxes_for
        self.spacing_for = spacing_for

    def work(self) -> None:
        if self.token.cancelled:
            return
        try:
            radiograph = load_radiograph(self.path)
        except CxrError as exc:
            self.events.failed.emit(self.generation, display_name(self.path), reason_of(exc))
            return
        if self.token.cancelled:
            return
        renderer = GreyRenderer(radiograph)
        frames = renderer.render(renderer.default_window)
        boxes = self.boxes_for(self.path, radiograph.width, radiograph.height) if self.boxes_for else []
        thumbnail = make_thumbnail(radiograph)
        if self.token.cancelled:
            return
        loaded = LoadedImage(self.path, radiograph, renderer, frames, boxes, thumbnail)
        self.events.image_loaded.emit(self.generation, loaded)
        if self.spacing_for is not None and radiograph.pixel_spacing is None and not radiograph.is_dicom:
            found = self.spacing_for(self.path, radiograph.width, radiograph.height)
            if found is not None and not self.token.cancelled:
                self.events.spacing_found.emit(self.generation, found)

    def on_crash(self, exc: BaseException) -> None:
        self.events.failed.emit(self.generation, display_name(self.path), reason_of(exc))


AgreementFn = Callable[[np.ndarray, tuple[float, float, float, float], tuple[int, int]], Agreement]


class InferJob(Worker):
    """Run the model once on a loaded image: 14 probabilities and 14 heatmaps together.

    With ``known`` findings (the folder analysis's, for this image) the model is not run: only
    what the display needs is made from them (the overlays, the agreement with the boxes).
    """

    def __init__(self, generation: int, loaded: LoadedImage, predictor: Predictor, events: ImageEvents,
                 token: CancelToken, colormap: str, agreement: AgreementFn | None = None,
                 known: Findings | None = None) -> None:
        super().__init__(token)
        self.generation, self.loaded, self.predictor, self.events = generation, loaded, predictor, events
        self.colormap, self.agreement, self.known = colormap, agreement, known

    def work(self) -> None:
        if self.token.cancelled:
            return
        rg = self.loaded.radiograph
        try:
            findings = (expand_findings(self.known) if self.known is not None
                        else self.predictor.predict(rg))  # cached by path, mtime and size
        except CxrError as exc:
            self.events.inference_failed.emit(self.generation, display_name(self.loaded.path), reason_of(exc))
            return
        if self.token.cancelled:
            return
        heatmaps = HeatmapSet.from_gradcam(findings.labels, findings.heatmaps, rg.height, rg.width, self.colormap)
        agreements: dict[str, list[Agreement]] = {}
        if self.agreement is not None:
            for box in self.loaded.boxes:
                label = match_label(box.label, findings.labels)
                if label is not None:
                    index = list(findings.labels).index(label)
                    agreements.setdefault(label, []).append(
                        self.agreement(findings.heatmaps[index], (box.x, box.y, box.w, box.h), (rg.height, rg.width))
                    )
        if not self.token.cancelled:
            self.events.inference_finished.emit(
                self.generation, AnalysedImage(self.loaded.path, findings, heatmaps, agreements)
            )

    def on_crash(self, exc: BaseException) -> None:
        self.events.inference_failed.emit(self.generation, display_name(self.loaded.path), reason_of(exc))


# -- the model ---------------------------------------------------------------------------------
class ModelEvents(QObject):
    model_loaded = Signal(object)  # a ready Predictor
    model_failed = Signal(str, str)  # model path, reason


class ModelJob(Worker):
    """Open the model pair (ONNX sessions, contract checks) off the GUI thread."""

    def __init__(self, model_path: Path, events: ModelEvents, factory: Callable[[Path], Predictor]) -> None:
        super().__init__()
        self.model_path, self.events, self.factory = model_path, events, factory

    def work(self) -> None:
        try:
            predictor = self.factory(self.model_path)
            predictor.card  # noqa: B018 - opening the pair happens here, not on the first click
        except CxrError as exc:
            self.events.model_failed.emit(display_name(self.model_path), str(exc))
            return
        self.events.model_loaded.emit(predictor)

    def on_crash(self, exc: BaseException) -> None:
        self.events.model_failed.emit(display_name(self.model_path), reason_of(exc))


# -- folder triage: thumbnails and findings of every image ----------------------------------------
@dataclass
class FolderRow:
    """What the browser, the folder CSV and a later opening of the image need from one analysed
    image. Its findings are kept compact (``compact_findings``): a folder holds thousands."""

    image: ScannedImage
    thumbnail: QImage | None
    thumbnail_array: np.ndarray | None
    findings: Findings | None  # None without a model, or when the image could not be analysed
    error: str | None = None

    def __post_init__(self) -> None:
        if self.findings is not None:
            self.findings = compact_findings(self.findings)


def compact_findings(findings: Findings) -> Findings:
    """``findings`` with float16 maps: 14 maps of 7 x 7 in under 2 kB. The maps are only ever
    normalised by their own range for display and agreement, where float16's three significant
    digits change nothing a user sees; probabilities and flags are kept as they are."""
    if findings.heatmaps.dtype == np.float16:
        return findings
    return replace(findings, heatmaps=read_only(findings.heatmaps.astype(np.float16)))


def expand_findings(findings: Findings) -> Findings:
    """Compact findings with float32 maps again, as the display code and OpenCV take them."""
    if findings.heatmaps.dtype == np.float32:
        return findings
    return replace(findings, heatmaps=read_only(findings.heatmaps.astype(np.float32)))


class AnalysisEvents(QObject):
    images_analysed = Signal(int, list, int, int)  # run_id, [FolderRow], done, total
    analysis_finished = Signal(int, bool)  # run_id, cancelled


class AnalysisJob(Worker):
    """Thumbnail and (with a model) findings for every image of a folder, in order.

    Takes images from a queue the session fills while the scan streams, so thumbnails appear
    during the scan; ``close()`` says no more images will come.
    """

    def __init__(self, run_id: int, events: AnalysisEvents, token: CancelToken, predictor: Predictor | None,
                 already_done: Callable[[Path], bool] = lambda _path: False) -> None:
        super().__init__(token)
        self.run_id, self.events, self.predictor = run_id, events, predictor
        self.already_done = already_done  # images the viewer analysed itself when they were opened
        self._queue: list[ScannedImage] = []
        self._condition = threading.Condition()
        self._closed = False
        self._total = 0

    def add(self, images: list[ScannedImage]) -> None:
        with self._condition:
            self._queue.extend(images)
            self._total += len(images)
            self._condition.notify()

    def close(self) -> None:
        with self._condition:
            self._closed = True
            self._condition.notify()

    def prioritize(self, paths: Sequence[Path]) -> None:
        """Analyse these images next (those still waiting), in this order: where the user looks."""
        with self._condition:
            wanted = {p: i for i, p in enumerate(paths)}
            front = sorted((im for im in self._queue if im.path in wanted), key=lambda im: wanted[im.path])
            if front:
                rest = [im for im in self._queue if im.path not in wanted]
                self._queue[:] = front + rest

    def _next(self, wait: bool) -> ScannedImage | None:
        with self._condition:
            while wait and not self._queue and not self._closed and not self.token.cancelled:
                self._condition.wait(timeout=0.2)
            return self._queue.pop(0) if self._queue and not self.token.cancelled else None

    def _finished(self) -> bool:
        with self._condition:
            return self.token.cancelled or (self._closed and not self._queue)

    def work(self) -> None:
        done = 0
        batch: list[FolderRow] = []
        last_flush = time.monotonic()
        while True:
            # Results go out in batches (see _FLUSH_COUNT); a batch is also sent when the next
            # image is not there yet, so the first thumbnails never wait for a full batch.
            image = self._next(wait=not batch)
            if image is None:
                if batch:
                    self.events.images_analysed.emit(self.run_id, batch, done, self._total)
                    batch, last_flush = [], time.monotonic()
                if self._finished():
                    break
                continue
            done += 1
            if self.already_done(image.path):
                continue
            batch.append(self._analyse(image))
            yield_to_gui()
            if len(batch) >= _FLUSH_COUNT or time.monotonic() - last_flush >= _FLUSH_SECONDS:
                self.events.images_analysed.emit(self.run_id, batch, done, self._total)
                batch, last_flush = [], time.monotonic()
        self.events.analysis_finished.emit(self.run_id, self.token.cancelled)

    def _analyse(self, image: ScannedImage) -> FolderRow:
        try:
            radiograph = load_radiograph(image.path)
            thumb_array = make_thumbnail(radiograph)
            findings = None
            if self.predictor is not None and not self.token.cancelled:
                findings = self.predictor.predict(radiograph)
            return FolderRow(image, grey_qimage(thumb_array), thumb_array, findings)
        except Exception as exc:  # one bad file never stops the folder
            return FolderRow(image, None, None, None, reason_of(exc))

    def on_crash(self, exc: BaseException) -> None:
        self.events.analysis_finished.emit(self.run_id, True)


def make_thumbnail(radiograph: Radiograph, size: int = THUMBNAIL_SIZE) -> np.ndarray:
    """A small uint8 picture of the image with its default window (aspect kept, letterboxed)."""
    h, w = radiograph.height, radiograph.width
    step = max(1, min(h, w) // (size * 4))  # decimate first: windowing 4 MP for 64 px is waste
    small = Radiograph(**{**radiograph.__dict__, "pixels": radiograph.pixels[::step, ::step],
                          "padding_mask": None})
    grey = to_unit_grey(small)
    scale = size / max(grey.shape)
    tw, th = max(1, round(grey.shape[1] * scale)), max(1, round(grey.shape[0] * scale))
    resized = cv2.resize(grey, (tw, th), interpolation=cv2.INTER_AREA)
    canvas = np.zeros((size, size), np.uint8)
    y0, x0 = (size - th) // 2, (size - tw) // 2
    canvas[y0:y0 + th, x0:x0 + tw] = np.rint(resized * 255).astype(np.uint8)
    return canvas
