"""The open folder: scan it, fill the browser, list bad files, and analyse every image.

The scan streams into the browser; the first image found is opened at once (the rest of the
scan goes on behind it). A folder analysis then makes thumbnails and, with a model, the
findings of every image: the browser's triage order and the folder CSV come from it. Each
image's browser summary is ``viewer.viewmodel.browser_summary.summarize`` at the window's
operating point.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from viewer.core import boxes as core_boxes
from viewer.core.analysis_pool import AnalysisPool, WorkerSettings
from viewer.core.errors import display_name
from viewer.core.findings import Findings
from viewer.core.identity import Scrubber
from viewer.core.scan import DataFileProblem, ScannedImage, SkippedFile
from viewer.viewmodel.browser_summary import ImageSummary, summarize
from viewer.viewmodel.comparison import card_covers_lateral, is_lateral

from .browser import StudyBrowser
from .display import grey_qimage
from .errors_panel import ErrorsPanel
from .model_session import ModelSession
from .workers import (
    AnalysisEvents,
    AnalysisJob,
    CancelToken,
    FolderRow,
    ScanEvents,
    ScanJob,
    single_thread_pool,
)

GIVE_WAY_MS = 3000


class BoxTables:
    """Box lists (NIH's, VinDr-CXR's, RSNA's) found beside the images, loaded once, from any thread.

    A table that cannot be read is reported once to ``on_problem(file, reason)`` (from the
    thread that asked for it); its images still show, without boxes.
    """

    def __init__(self, on_problem: Callable[[str, str], None] | None = None) -> None:
        self._lock = threading.Lock()
        self._by_folder: dict[Path, core_boxes.BoxTable | None] = {}
        self._reported: set[Path] = set()
        self._on_problem = on_problem

    def boxes_for(self, path: Path, width: int, height: int) -> list[core_boxes.GroundTruthBox]:
        """The ground-truth boxes of the image at ``path`` (empty when there are none)."""
        table = self._table(path.parent)
        if table is None:
            return []
        try:
            return list(table.for_image(path.name, width, height))
        except core_boxes.BoxListError as exc:  # VinDr's boxes on a resized copy: they would be misplaced
            with self._lock:
                self._report(exc.path, exc.reason)
            return []

    def _table(self, folder: Path) -> core_boxes.BoxTable | None:
        with self._lock:
            if folder not in self._by_folder:
                table = None
                csv_path = core_boxes.find_bbox_csv(folder)
                if csv_path is not None:
                    try:
                        table = core_boxes.BoxTable.load(csv_path)
                    except core_boxes.BoxListError as exc:  # boxes are a bonus: the image still shows
                        self._report(csv_path, exc.reason)
                self._by_folder[folder] = table
            return self._by_folder[folder]

    def _report(self, csv_path: Path, reason: str) -> None:
        if csv_path not in self._reported and self._on_problem is not None:
            self._reported.add(csv_path)
            self._on_problem(display_name(csv_path), f"ground-truth boxes not shown: {reason}")


class FolderSession(QObject):
    """Scans and analyses the open folder. Events: ``folder_opened(Path)``,
    ``first_image_found(ScannedImage)``, ``images_found([ScannedImage])`` (each batch the scan
    adds to the browser), ``progressed(str, int, int)`` (task, done, total;
    total 0 = unknown), ``scan_done(int)``, ``analysis_done()``, ``rows_analysed([FolderRow])``
    (once per batch of results).

    The analysis runs in a worker process (``viewer.core.analysis_pool``), started with the
    first folder analysed and kept for the next; ``shutdown`` ends it."""

    folder_opened = Signal(object)
    first_image_found = Signal(object)
    images_found = Signal(list)
    progressed = Signal(str, int, int)
    scan_done = Signal(int)
    analysis_done = Signal()
    rows_analysed = Signal(list)
    data_file_problem = Signal(str, str)  # file, reason: from any thread, shown in the errors panel
    identities_learned = Signal()  # the scrubber knows more: texts with paths may read differently

    def __init__(self, browser: StudyBrowser, errors: ErrorsPanel, models: ModelSession,
                 parent: QObject | None = None, *, follow_links: bool = False) -> None:
        super().__init__(parent)
        self.browser, self.errors, self.models = browser, errors, models
        self.follow_links = follow_links  # scans follow links to folders outside the opened one
        self._scan_pool = single_thread_pool("scan")
        self._analysis_pool = single_thread_pool("analysis")
        self._scan_events = ScanEvents(self)
        self._analysis_events = AnalysisEvents(self)
        self._scan_events.scan_progressed.connect(self._on_scan_progressed)
        self._scan_events.images_found.connect(self._on_images_found)
        self._scan_events.files_skipped.connect(self._on_files_skipped)
        self._scan_events.scan_finished.connect(self._on_scan_finished)
        self._scan_events.failed.connect(self._on_scan_failed)
        self._analysis_events.images_analysed.connect(self._on_images_analysed)
        self._analysis_events.analysis_finished.connect(self._on_analysis_finished)
        models.model_ready.connect(self._on_model_decided)
        models.model_unavailable.connect(self._on_model_decided)
        self.data_file_problem.connect(self.errors.add_error)

        self.root: Path | None = None
        # The folder's patients' names, IDs and birth dates, learned from its headers as the scan
        # goes: every path the window writes or shows outside the browser goes through it.
        self.scrubber = Scrubber()
        self.boxes = BoxTables(self.data_file_problem.emit)
        self.images: list[ScannedImage] = []
        self.rows: dict[Path, FolderRow] = {}
        self.scanning = False
        self._scan_id = 0
        self._scan_token = CancelToken()
        self._analysis: AnalysisJob | None = None
        self._running: dict[int, AnalysisJob] = {}  # Python references until each job ends
        self._analysis_token = CancelToken()
        self._analysis_run = 0
        self._pool: AnalysisPool | None = None  # the worker process, for the model it was started with
        self._giving_way = False
        # A pause never outlasts this: an image that takes longer must not stop the folder.
        self._way_timer = QTimer(self)
        self._way_timer.setSingleShot(True)
        self._way_timer.setInterval(GIVE_WAY_MS)
        self._way_timer.timeout.connect(lambda: self.give_way(False))
        self._first_sent = False

    # -- opening ------------------------------------------------------------------------------
    def open(self, root: Path) -> None:
        """Scan ``root`` (a folder, or one file); cancels the scan and analysis of the last one."""
        self._scan_token.cancel()
        self._stop_analysis()
        self._scan_id += 1
        self._scan_token = CancelToken()
        self.root = root
        self.scrubber = Scrubber()
        self.errors.set_scrubber(self.scrubber)
        self.boxes = BoxTables(self.data_file_problem.emit)
        self.images = []
        self.rows = {}
        self._first_sent = False
        self.scanning = True
        self.browser.clear()
        self.errors.clear()
        self.folder_opened.emit(root)
        self._scan_pool.start(ScanJob(self._scan_id, root, self._scan_events, self._scan_token,
                                      follow_links=self.follow_links))

    def shown_path(self, path: Path) -> str:
        """``path`` as outputs write it: relative to the open folder, identities removed."""
        root = self.root if self.root is not None and self.root.is_dir() else None
        try:
            relative = path.relative_to(root) if root is not None else Path(path.name)
        except ValueError:
            relative = Path(path.name)
        return self.scrubber.scrub(display_name(relative.as_posix()))

    def shutdown(self) -> None:
        """Cancel everything, wait for the workers and end the worker process (window closing)."""
        self._scan_token.cancel()
        self._stop_analysis()
        self._scan_pool.waitForDone()
        self._analysis_pool.waitForDone()
        self._close_pool()

    def give_way(self, on: bool) -> None:
        """The user is waiting for an image (on): the analysis pauses, for ``GIVE_WAY_MS`` at
        most, until it is shown (off)."""
        if on == self._giving_way:
            return
        self._giving_way = on
        if on:
            self._way_timer.start()
        else:
            self._way_timer.stop()
        if self._analysis is not None:
            self._analysis.give_way(on)

    @property
    def giving_way(self) -> bool:
        """The analysis is paused for the image the user waits for (``give_way``)."""
        return self._giving_way

    @property
    def analysing(self) -> bool:
        """The open folder's analysis is running (or waiting for the scan's next images)."""
        return self._analysis is not None

    @property
    def worker_pid(self) -> int | None:
        """The analysis worker process's id while it runs (tests check that none outlives the window)."""
        return self._pool.pid if self._pool is not None else None

    def _close_pool(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def refresh_summaries(self) -> None:
        """Recompute every browser summary (after the operating point changed): the user changed
        what the triage order means, so the browser takes it at once."""
        self.browser.set_summaries([self._summary(row) for row in self.rows.values()], reorder_now=True)

    # -- scan events --------------------------------------------------------------------------
    def _on_scan_progressed(self, scan_id: int, done: int, total: object) -> None:
        if scan_id == self._scan_id:
            self.progressed.emit("Scanning", done, int(total) if isinstance(total, int) else 0)

    def _on_images_found(self, scan_id: int, images: list[ScannedImage]) -> None:
        if scan_id != self._scan_id:
            return
        self.images.extend(images)
        version = self.scrubber.version
        for image in images:
            self.scrubber.add(image.identity)
        if self.scrubber.version != version:
            self.errors.rescrubbed()
            self.identities_learned.emit()
        self.browser.add_images(images)
        self._feed_analysis(images)
        if not self._first_sent and images:
            self._first_sent = True
            self.first_image_found.emit(images[0])
        self.images_found.emit(images)

    def _on_files_skipped(self, scan_id: int, skipped: list[SkippedFile | DataFileProblem]) -> None:
        if scan_id != self._scan_id:
            return
        errors, ignored = [], 0
        for item in skipped:
            # Files that claim to be images (or folders we could not enter) are errors, and so
            # are label files that could not be used; notes, CSVs and hidden files are counted.
            if isinstance(item, DataFileProblem):
                errors.append((item.display_path, item.reason))
            elif item.claimed_format is not None or item.folder:
                errors.append((item.display_path, item.reason))
            else:
                ignored += 1
        self.errors.add_errors(errors)
        if ignored:
            self.errors.add_ignored(ignored)

    def _on_scan_finished(self, scan_id: int, count: int, cancelled: bool) -> None:
        if scan_id != self._scan_id:
            return
        self.scanning = False
        if self._analysis is not None:
            self._analysis.close()
        if not cancelled:
            self.scan_done.emit(count)

    def _on_scan_failed(self, scan_id: int, path: str, reason: str) -> None:
        if scan_id == self._scan_id:
            self.errors.add_error(path, reason)

    # -- folder analysis ----------------------------------------------------------------------
    def _on_model_decided(self, *_args: object) -> None:
        # The analysis starts (or restarts, now with findings) once the model is known.
        if self.root is None:
            return
        self._stop_analysis()
        self._feed_analysis(self.images)

    def _feed_analysis(self, images: list[ScannedImage]) -> None:
        if not self.models.decided or not images:
            return
        if self._analysis is None:
            self._analysis_run += 1
            self._analysis_token = CancelToken()
            self._analysis = AnalysisJob(self._analysis_run, self._analysis_events, self._analysis_token,
                                         self.models.predictor, self._has_findings, pool=self._worker_pool())
            self._analysis.setAutoDelete(False)  # we keep feeding it while it runs
            if self._giving_way:
                self._analysis.give_way(True)
            self._running[self._analysis_run] = self._analysis
            self._analysis_pool.start(self._analysis)
            images = self.images  # everything found so far, not only this batch
        self._analysis.add(list(images))
        if not self.scanning:
            self._analysis.close()

    def _worker_pool(self) -> AnalysisPool:
        """The worker process for the model in use (started by the job, off the GUI thread)."""
        predictor = self.models.predictor
        settings = WorkerSettings(predictor.model_path if predictor is not None else None,
                                  predictor.threads if predictor is not None else None)
        if self._pool is not None and self._pool.settings != settings:
            self._analysis_pool.waitForDone()  # the last job has let go of it (it was cancelled)
            self._close_pool()
        if self._pool is None:
            self._pool = AnalysisPool(settings)
        return self._pool

    def _stop_analysis(self) -> None:
        self._analysis_token.cancel()
        if self._analysis is not None:
            self._analysis.close()
        self._analysis = None

    def _has_findings(self, path: Path) -> bool:
        """Called from the analysis thread: a dict lookup, safe under the GIL."""
        row = self.rows.get(path)
        return row is not None and (row.findings is not None or self.models.predictor is None)

    def findings_for(self, path: Path) -> Findings | None:
        """What the analysis found for the image at ``path`` (compact), or None before it got there."""
        row = self.rows.get(path)
        return row.findings if row is not None else None

    def record(self, image: ScannedImage, thumbnail: np.ndarray | None, findings: Findings | None) -> None:
        """Take the result of an image the user opened (decoded and analysed already), so the
        browser and the folder CSV have it without analysing it a second time."""
        if self.browser.model.item_for(image.path) is None:
            return  # not part of the open folder (any more)
        row = FolderRow(image, grey_qimage(thumbnail) if thumbnail is not None else None, thumbnail, findings)
        self._on_images_analysed(self._analysis_run, [row], -1, -1)

    def prioritize(self, paths: list[Path]) -> None:
        """Analyse these next (the image opened and the ones after it in the browser)."""
        if self._analysis is not None:
            self._analysis.prioritize(paths)

    def _on_images_analysed(self, run_id: int, rows: list[FolderRow], done: int, total: int) -> None:
        if run_id != self._analysis_run:
            return
        errors = []
        for row in rows:
            if row.thumbnail is not None:
                self.browser.set_thumbnail(row.image.path, row.thumbnail)
                # the browser keeps its own small copy: the folder's record of thousands of
                # images need not hold the picture too (about 4 kB an image)
                row = replace(row, thumbnail=None, thumbnail_array=None)
            self.rows[row.image.path] = row
            if row.error is not None:
                errors.append((row.image.display_path, row.error))
        self.browser.set_summaries([self._summary(row) for row in rows])
        self.rows_analysed.emit(rows)
        self.errors.add_errors(errors)
        if total >= 0:  # -1: a single result from an image the user opened
            task = "Analysing" if self.models.predictor is not None else "Thumbnails"
            self.progressed.emit(task, done, total)

    def _summary(self, row: FolderRow) -> tuple[Path, ImageSummary]:
        predictor = self.models.predictor
        if row.findings is not None and is_lateral(row.image) and not card_covers_lateral(
                predictor.card if predictor is not None else None):
            # a lateral's findings mean nothing to a model of frontal films: set apart, as an
            # image that is not a frontal chest is (the image session shows none for it either)
            return row.image.path, ImageSummary((), 0.0, out_of_distribution=True)
        return row.image.path, summarize(row.findings, row.error, self.models.operating_point)

    def _on_analysis_finished(self, run_id: int, cancelled: bool) -> None:
        self._running.pop(run_id, None)
        if run_id == self._analysis_run and not cancelled:
            self._analysis = None
            self.analysis_done.emit()

