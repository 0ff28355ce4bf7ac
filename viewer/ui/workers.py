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

import itertools
import logging
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal
from PySide6.QtGui import QImage

from viewer.core.analysis_pool import (
    PROCESS_FROM,
    AnalysisPool,
    ImageOutcome,
    PoolStopped,
    analyse_here,
    compact_findings,
    problem_text,
)
from viewer.core.annotation_store import radiograph_key
from viewer.core.boxes import GroundTruthBox
from viewer.core.errors import CxrError, display_name
from viewer.core.findings import Findings, read_only
from viewer.core.heatmap import Agreement
from viewer.core.inference import MAX_BATCH, Predictor
from viewer.core.loader import load_radiograph
from viewer.core.model import RunStop, RunStopped
from viewer.core.radiograph import Radiograph
from viewer.core.scan import DataFileProblem, ScanError, ScannedImage, SkippedFile, scan_folder
from viewer.core.thumbnail import make_thumbnail
from viewer.viewmodel.image_findings import opening_label

from .display import GreyFrame, GreyRenderer, grey_qimage
from .nih_spacing import FoundSpacing
from .overlay import HeatmapSet

log = logging.getLogger(__name__)

# Scan and analysis results go to the GUI in batches of at most this many, or this old:
# one queued call per file would keep the GUI thread's event loop from ever being idle.
_FLUSH_COUNT = 200
_FLUSH_SECONDS = 0.1
# The scan offers the GIL to the GUI thread this often, not after every file: each offer costs
# the scan up to a whole switch interval (5 ms) to get the GIL back from the analysis thread,
# which capped the scan at ~200 files/s while the folder was being analysed.
_YIELD_SECONDS = 0.001


class CancelToken:
    """Set when the request a job serves is no longer wanted; checked between steps, and it
    stops a model run of the request that is under way (``run_stop``)."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._run_stop: RunStop | None = None
        self._lock = threading.Lock()

    def cancel(self) -> None:
        with self._lock:
            self._event.set()
            if self._run_stop is not None:
                self._run_stop.stop()

    def run_stop(self) -> RunStop:
        """What a model run of this request takes, so that cancelling ends it too."""
        with self._lock:
            if self._run_stop is None:
                self._run_stop = RunStop()
                if self._event.is_set():
                    self._run_stop.stop()
            return self._run_stop

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()


def yield_to_gui() -> None:
    """Let the GUI thread take the GIL now. Header parsing is pure Python: without this a
    worker keeps the GIL for whole 5 ms switch intervals, file after file, and the GUI thread
    (which needs the GIL for every slot it runs) waits behind it."""
    time.sleep(0)


def reason_of(exc: BaseException) -> str:
    """One line for the errors panel (``analysis_pool.problem_text``: the worker process and the
    window word a file's problem alike)."""
    return problem_text(exc)


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
    # what the annotation store knows the image by (hashes its pixels or its file: made here, off
    # the GUI thread); None when it could not be made (the file went away after it was read)
    annotation_key: str | None = None


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


DecodedHook = Callable[[Radiograph, list[GroundTruthBox]], None]  # (radiograph, its boxes), in the worker


class LoadJob(Worker):
    """Decode one file (frame ``frame`` of a multi-frame one) and prepare its display
    (quantised levels, default window).

    ``on_decoded`` is called in this thread as soon as the file is decoded, before the display
    is prepared: the model can start on the image while its levels are made (on two cores the
    findings come out about as much sooner as the display takes). An image without a pixel
    spacing may get one from ``spacing_for`` (an NIH PNG's, from Data_Entry): looked up after
    the image is sent, so the first lookup of a folder, which reads the CSV, never holds the
    image back.
    """

    def __init__(self, generation: int, path: Path, events: ImageEvents, token: CancelToken,
                 boxes_for: BoxLookup | None = None, spacing_for: SpacingLookup | None = None, *,
                 on_decoded: DecodedHook | None = None, frame: int = 0) -> None:
        super().__init__(token)
        self.generation, self.path, self.events, self.boxes_for = generation, path, events, boxes_for
        self.spacing_for, self.on_decoded, self.frame = spacing_for, on_decoded, frame

    def work(self) -> None:
        if self.token.cancelled:
            return
        try:
            radiograph = load_radiograph(self.path, frame=self.frame)
        except CxrError as exc:
            self.events.failed.emit(self.generation, display_name(self.path), reason_of(exc))
            return
        if self.token.cancelled:
            return
        boxes = self.boxes_for(self.path, radiograph.width, radiograph.height) if self.boxes_for else []
        if self.on_decoded is not None:
            self.on_decoded(radiograph, boxes)
        renderer = GreyRenderer(radiograph)
        frames = renderer.render(renderer.default_window)
        thumbnail = make_thumbnail(radiograph)
        try:
            annotation_key: str | None = radiograph_key(radiograph)
        except (OSError, ValueError):
            annotation_key = None
        if self.token.cancelled:
            return
        loaded = LoadedImage(self.path, radiograph, renderer, frames, boxes, thumbnail, annotation_key)
        self.events.image_loaded.emit(self.generation, loaded)
        if self.spacing_for is not None and radiograph.pixel_spacing is None and not radiograph.is_dicom:
            found = self.spacing_for(self.path, radiograph.width, radiograph.height)
            if found is not None and not self.token.cancelled:
                self.events.spacing_found.emit(self.generation, found)

    def on_crash(self, exc: BaseException) -> None:
        self.events.failed.emit(self.generation, display_name(self.path), reason_of(exc))


AgreementFn = Callable[[np.ndarray, tuple[float, float, float, float], tuple[int, int]], Agreement]


class InferJob(Worker):
    """Run the model once on a decoded image: 14 probabilities and 14 heatmaps together.

    With ``known`` findings (the folder analysis's, for this image) the model is not run: only
    what the display needs is made from them (the overlays, the agreement with the boxes). The
    overlay the image opens on (``opening_label``, or the ``pinned`` finding) is made before the
    findings are sent, the other thirteen after.
    """

    def __init__(self, generation: int, path: Path, radiograph: Radiograph, boxes: Sequence[GroundTruthBox],
                 predictor: Predictor, events: ImageEvents, token: CancelToken, colormap: str,
                 agreement: AgreementFn | None = None, known: Findings | None = None,
                 pinned: str | None = None) -> None:
        super().__init__(token)
        self.generation, self.path, self.radiograph, self.boxes = generation, path, radiograph, list(boxes)
        self.predictor, self.events = predictor, events
        self.colormap, self.agreement, self.known, self.pinned = colormap, agreement, known, pinned

    def work(self) -> None:
        if self.token.cancelled:
            return
        rg = self.radiograph
        try:
            findings = (expand_findings(self.known) if self.known is not None  # cached by path, mtime and size:
                        else self.predictor.predict(rg, stop=self.token.run_stop()))
        except RunStopped:
            return  # the user moved on: the cores go to the image now wanted
        except CxrError as exc:
            self.events.inference_failed.emit(self.generation, display_name(self.path), reason_of(exc))
            return
        if self.token.cancelled:
            return
        heatmaps = HeatmapSet.from_gradcam(findings.labels, findings.heatmaps, rg.height, rg.width, self.colormap,
                                           first=opening_label(findings, self.pinned))
        agreements: dict[str, list[Agreement]] = {}
        if self.agreement is not None:
            for box in self.boxes:
                for label in box.outputs(findings.labels):  # a Nodule/Mass box is one of Nodule and of Mass
                    index = list(findings.labels).index(label)
                    agreements.setdefault(label, []).append(
                        self.agreement(findings.heatmaps[index], (box.x, box.y, box.w, box.h), (rg.height, rg.width))
                    )
        if self.token.cancelled:
            return
        self.events.inference_finished.emit(self.generation, AnalysedImage(self.path, findings, heatmaps, agreements))
        heatmaps.make_all()  # the other findings' overlays, while the user looks at the first

    def on_crash(self, exc: BaseException) -> None:
        self.events.inference_failed.emit(self.generation, display_name(self.path), reason_of(exc))


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
    image. Its findings are kept compact (``compact_findings``): a folder holds thousands. The
    thumbnail travels to the browser, which keeps its own copy; the folder's record of the row
    (``FolderSession.rows``) then drops it."""

    image: ScannedImage
    thumbnail: QImage | None
    thumbnail_array: np.ndarray | None
    findings: Findings | None  # None without a model, or when the image could not be analysed
    error: str | None = None

    def __post_init__(self) -> None:
        if self.findings is not None:
            self.findings = compact_findings(self.findings)


def expand_findings(findings: Findings) -> Findings:
    """Compact findings with float32 maps again, as the display code and OpenCV take them."""
    if findings.heatmaps.dtype == np.float32:
        return findings
    return replace(findings, heatmaps=read_only(findings.heatmaps.astype(np.float32)))


class AnalysisEvents(QObject):
    images_analysed = Signal(int, list, int, int)  # run_id, [FolderRow], done, total
    analysis_finished = Signal(int, bool)  # run_id, cancelled


# Images per chunk sent to the worker (one ONNX Runtime call), and chunks in flight: one being
# run by the model while the next one decodes. Few in flight, so that images the user moves to
# (``prioritize``) come next within two chunks.
CHUNK_IMAGES = MAX_BATCH
CHUNKS_IN_FLIGHT = 2
RESTARTS = 2  # a worker that dies (killed, out of memory, a crash in a decoder) is started again this often
_chunk_ids = itertools.count(1)  # across jobs: a chunk of a cancelled job is told from the next job's


class AnalysisJob(Worker):
    """Thumbnail and (with a model) findings for every image of a folder, in order.

    From ``PROCESS_FROM`` images on (or when the window's worker is running already) they are
    made by the worker process of ``pool`` (``viewer.core.analysis_pool``), a chunk at a time,
    and this thread only sends it the paths and turns what comes back into ``FolderRow`` s for
    the GUI; a smaller folder (or any, without a ``pool``) is analysed here, one image at a
    time, with ``predictor``.

    Takes images from a queue the session fills while the scan streams, so thumbnails appear
    during the scan; ``close()`` says no more images will come. A worker that dies is started
    again, and the images it had are sent again one at a time, so an image that kills it twice
    gets an error row and the folder goes on.
    """

    def __init__(self, run_id: int, events: AnalysisEvents, token: CancelToken, predictor: Predictor | None,
                 already_done: Callable[[Path], bool] = lambda _path: False, *,
                 pool: AnalysisPool | None = None) -> None:
        super().__init__(token)
        self.run_id, self.events, self.pool, self.predictor = run_id, events, pool, predictor
        self.already_done = already_done  # images the viewer analysed itself when they were opened
        self._queue: deque[ScannedImage] = deque()
        self._condition = threading.Condition()
        self._closed = False
        self._total = 0
        self._in_flight: dict[int, list[ScannedImage]] = {}
        self._crashes: dict[Path, int] = {}  # images that were in the worker when it died
        self._restarts = 0
        self._done = 0  # images taken from the queue and answered (or passed over)
        self._reported = 0  # ``_done`` as last sent to the GUI
        self._shared = _SharedParts()
        self._go = threading.Event()  # cleared while the analysis gives way to the user's image
        self._go.set()

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
                self._queue = deque(front + rest)

    def give_way(self, on: bool) -> None:
        """Pause (on) or resume the analysis: the worker process where it is, the analysis in
        this process before its next image."""
        if on:
            self._go.clear()
            if self.pool is not None:
                self.pool.pause()
        else:
            self._go.set()
            if self.pool is not None:
                self.pool.resume()

    def _take(self, count: int) -> list[ScannedImage]:
        """The next chunk (images analysed since they were queued are passed over and counted);
        an image that was in the worker when it died goes alone."""
        chunk: list[ScannedImage] = []
        with self._condition:
            while self._queue and len(chunk) < count and not self.token.cancelled:
                image = self._queue[0]
                if self.already_done(image.path):
                    self._queue.popleft()
                    self._done += 1
                    continue
                if image.path in self._crashes and chunk:
                    break
                chunk.append(self._queue.popleft())
                if image.path in self._crashes:
                    break
        return chunk

    def _wait_for_images(self) -> bool:
        """Wait a little for images to come; False when none will (closed or cancelled)."""
        with self._condition:
            if not self._queue and not self._closed and not self.token.cancelled:
                self._condition.wait(timeout=0.2)
            return bool(self._queue) or not (self._closed or self.token.cancelled)

    def work(self) -> None:
        try:
            self._run()
        finally:
            if self._in_flight and self.pool is not None:
                try:
                    self.pool.drop()  # the next folder's chunks go first
                except PoolStopped:
                    pass
        self.events.analysis_finished.emit(self.run_id, self.token.cancelled)

    def _run(self) -> None:
        while not self.token.cancelled:
            if self.pool is not None and (self._in_flight or self.pool.alive() or self._total >= PROCESS_FROM):
                if not self._step_in_worker(self.pool):
                    return
                continue
            if not self._go.wait(timeout=0.2):
                continue
            chunk = self._take(1)
            if chunk:
                image = chunk[0]
                outcome = analyse_here(self.predictor, image.path)
                self._done += 1
                self._emit([self._row(image, outcome)])
                yield_to_gui()
            elif self._done != self._reported:  # images passed over: say how far it got
                self._emit([])
            elif not self._wait_for_images():
                return

    def _step_in_worker(self, pool: AnalysisPool) -> bool:
        """Keep the worker fed, and turn one chunk it answers into rows (or wait a little);
        False when everything is done."""
        if not pool.alive() and not self._start(pool):
            return True
        while len(self._in_flight) < CHUNKS_IN_FLIGHT:
            chunk = self._take(CHUNK_IMAGES)
            if not chunk:
                break
            chunk_id = next(_chunk_ids)
            self._in_flight[chunk_id] = chunk
            try:
                pool.submit(chunk_id, [image.path for image in chunk])
            except PoolStopped as exc:
                self._worker_lost(pool, str(exc))
                return True
        if not self._in_flight:
            if self._done != self._reported:
                self._emit([])
                return True
            return self._wait_for_images()
        try:
            received = pool.receive(timeout=0.05)
        except PoolStopped as exc:
            self._worker_lost(pool, str(exc))
            return True
        if received is not None:
            chunk_id, outcomes = received
            images = self._in_flight.pop(chunk_id, None)
            if images is not None:  # else a chunk of a cancelled job: dropped
                self._done += len(images)
                self._emit([self._row(image, outcome) for image, outcome in zip(images, outcomes)])
        return True

    def _emit(self, rows: list[FolderRow]) -> None:
        self._reported = self._done
        self.events.images_analysed.emit(self.run_id, rows, self._done, self._total)

    def _row(self, image: ScannedImage, outcome: ImageOutcome) -> FolderRow:
        thumbnail = outcome.thumbnail
        findings = self._shared.findings(outcome.findings) if outcome.findings is not None else None
        return FolderRow(image, grey_qimage(thumbnail) if thumbnail is not None else None, thumbnail, findings,
                         outcome.error)

    def _worker_lost(self, pool: AnalysisPool, reason: str) -> None:
        """The worker died: its images go back to the front, one chunk each, and it is started
        again; an image it died on twice, and everything after the last restart, get an error."""
        log.warning("folder analysis: %s", reason)
        lost = [image for chunk in self._in_flight.values() for image in chunk]
        self._in_flight.clear()
        pool.close()
        rows: list[FolderRow] = []
        again: list[ScannedImage] = []
        for image in lost:
            self._crashes[image.path] = self._crashes.get(image.path, 0) + 1
            if self._crashes[image.path] > 1 or self._restarts >= RESTARTS:
                rows.append(FolderRow(image, None, None, None, f"the analysis stopped while reading it: {reason}"))
            else:
                again.append(image)
        with self._condition:
            if self._restarts >= RESTARTS:
                rows += [FolderRow(image, None, None, None, f"not analysed: {reason}") for image in self._queue]
                self._queue.clear()
            self._queue.extendleft(reversed(again))
        self._done += len(rows)
        if rows:
            self._emit(rows)
        if self._restarts < RESTARTS:
            self._restarts += 1
            self._start(pool)

    def _start(self, pool: AnalysisPool) -> bool:
        """Start the worker; when no process can be started (a host that forbids it, a program
        that starts the viewer without a ``__main__`` guard), the analysis goes on here."""
        try:
            pool.start()
        except Exception:
            log.exception("folder analysis: no worker process; analysing in the window's process")
            self.pool = None
            return False
        return True

    def on_crash(self, exc: BaseException) -> None:
        self.events.analysis_finished.emit(self.run_id, True)


class _SharedParts:
    """Findings from the worker, made read-only again and sharing one labels tuple and one
    thresholds array: unpickled, each image would carry copies of its own (1 kB an image)."""

    def __init__(self) -> None:
        self._labels: tuple[str, ...] | None = None
        self._thresholds: np.ndarray | None = None

    def findings(self, findings: Findings) -> Findings:
        if findings.labels != self._labels:
            self._labels = tuple(sys.intern(label) for label in findings.labels)
        if self._thresholds is None or not np.array_equal(findings.thresholds, self._thresholds):
            self._thresholds = read_only(findings.thresholds)
        return replace(findings, labels=self._labels, thresholds=self._thresholds,
                       probabilities=read_only(findings.probabilities), flags=read_only(findings.flags),
                       heatmaps=read_only(findings.heatmaps))
