"""The headless batch: every image under a folder -> one CSV row of findings (docs/design.md).

The columns and rows are the predictions CSV's (``predictions_csv``): file name, relative path,
status and error, ``prob_<Label>`` and ``flag_<Label>`` (at the card's thresholds) for each label
of the model card, ``ood_score``/``ood_flag``, ``patient_key``/``study_key`` (the scan's
pseudonymous numbers), and ``patient_id`` only with ``include_patient_id``. Names that are not
valid UTF-8 are written escaped (``display_name``). Paths are relative to the folder, and the
names, IDs and birth dates of every DICOM header found in it are removed from the name, path and
error cells and from the summary line, in all their forms (``identity.Scrubber``): PACS exports
name folders after the patient.

Every file that is, or claims to be, an image (by extension or DICOM content) gets a row, so a
broken file shows up with its reason; other files are only counted, and folders that were not
scanned (unreadable, or links out of the folder not followed without ``follow_links``) listed.
Nothing is written inside the scanned folder: the CSV goes to a new ``<out>.partial`` and is
renamed to ``out`` when complete (``safe_write``: a link planted at either name is replaced,
never written through).

Throughput: a small thread pool decodes and preprocesses images ahead of the model while ONNX
Runtime (which releases the GIL) runs batches of ``batch_size`` on the calling thread.
"""

from __future__ import annotations

import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any, NamedTuple, Protocol

import numpy as np

from .errors import CxrError, ImageLoadError, display_name, one_line
from .identity import Scrubber
from .loader import load_radiograph
from .predictions_csv import PredictionsFile, PredictionsWriter
from .resources import MissingResourceError, demo_model_path
from .scan import DataFileProblem, ScanError, ScannedImage, SkippedFile, scan_folder

DEFAULT_BATCH_SIZE = 8


class BatchSetupError(CxrError):
    """The batch could not start: no such folder, an unusable model, or an unwritable output."""


class _Predictor(Protocol):  # what batch needs of inference.Predictor
    @property
    def labels(self) -> tuple[str, ...]: ...

    def prepare(self, source: Any) -> np.ndarray: ...
    def predict_batch(self, images: list[np.ndarray]) -> list[Any]: ...
    def predict_prepared(self, image: np.ndarray) -> Any: ...


@dataclass
class BatchSummary:
    """What a finished batch did; ``unscanned_folders`` could not be entered and
    ``links_not_followed`` lead out of the folder (both listed by path); ``data_problems`` are
    label files beside the images that could not be used."""

    out: Path
    rows: int = 0
    ok: int = 0
    errors: int = 0
    other_files: int = 0
    seconds: float = 0.0
    unscanned_folders: list[str] = field(default_factory=list)
    links_not_followed: list[str] = field(default_factory=list)
    data_problems: list[str] = field(default_factory=list)
    # the identities of the folder's headers: removed from every path the summary prints
    scrubber: Scrubber = field(default_factory=Scrubber, repr=False)

    @property
    def images_per_second(self) -> float:
        return self.ok / self.seconds if self.seconds > 0 else 0.0

    def describe(self) -> str:
        """One line for the terminal."""
        text = (
            f"wrote {display_name(self.out)}: {self.rows} rows ({self.ok} ok, {self.errors} errors), "
            f"{self.other_files} other files skipped, {self.seconds:.1f} s "
            f"({self.images_per_second:.1f} images/s)"
        )
        if self.unscanned_folders:
            text += f"; {len(self.unscanned_folders)} folders could not be read: " + _first(self.unscanned_folders)
        if self.links_not_followed:
            text += (f"; {len(self.links_not_followed)} links to folders outside the folder not followed "
                     "(--follow-links follows them): " + _first(self.links_not_followed))
        for problem in self.data_problems:
            text += f"; {problem}"
        return self.scrubber.scrub(text)


def _first(paths: list[str], count: int = 5) -> str:
    """The first ``count`` of ``paths``, with "..." when there are more."""
    return ", ".join(paths[:count]) + (" ..." if len(paths) > count else "")


# progress(done_files, total_files or None, ok, errors)
BatchProgress = Callable[[int, "int | None", int, int], None]


def run_batch(
    folder: str | os.PathLike[str],
    out: str | os.PathLike[str],
    model_path: str | os.PathLike[str] | None = None,
    include_patient_id: bool = False,
    *,
    threads: int | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    decode_workers: int | None = None,
    on_progress: BatchProgress | None = None,
    follow_links: bool = False,
) -> BatchSummary:
    """Run the model on every image under ``folder`` and write the CSV ``out``.

    ``model_path`` defaults to the bundled demo model. ``threads`` is ONNX Runtime's thread
    count. Raises ``BatchSetupError`` (one clear line) only when the batch cannot start; any
    problem with a single file becomes that file's ``error`` row and the batch goes on.
    ``follow_links``: also follow links to folders outside ``folder`` (``scan_folder``).
    """
    started = time.perf_counter()
    root, out_path = _check_paths(folder, out)
    predictor = _open_predictor(model_path, threads)
    labels = tuple(predictor.labels)
    summary = BatchSummary(out=out_path)
    try:
        csv_file = PredictionsFile(out_path, labels, include_patient_id, summary.scrubber)
    except OSError as exc:
        raise BatchSetupError(f"{display_name(out_path)}: cannot be written ({exc.strerror or exc})") from None
    with csv_file as rows:
        writer = _RowWriter(rows, summary)
        pipeline = _Pipeline(predictor, writer, max(1, batch_size), decode_workers, summary, on_progress)
        pipeline.run(root, follow_links)
    summary.seconds = time.perf_counter() - started
    return summary


def _check_paths(folder: str | os.PathLike[str], out: str | os.PathLike[str]) -> tuple[Path, Path]:
    root = Path(os.fspath(folder))
    if not root.is_dir():
        what = "is not a folder" if root.exists() else "no such folder"
        raise BatchSetupError(f"{display_name(root)}: {what}")
    out_path = Path(os.fspath(out)).absolute()
    if out_path.is_dir():
        raise BatchSetupError(f"--out {display_name(out_path)} is a folder; give a file name such as results.csv")
    if not out_path.parent.is_dir():
        raise BatchSetupError(f"--out {display_name(out_path)}: its folder does not exist")
    real_root, real_out = root.resolve(), out_path.parent.resolve() / out_path.name
    if real_out == real_root or real_root in real_out.parents:
        raise BatchSetupError(
            f"--out {display_name(out_path)} is inside the scanned folder; the batch never writes "
            "next to the images: choose a file outside it"
        )
    return root, out_path


def _open_predictor(model_path: str | os.PathLike[str] | None, threads: int | None) -> _Predictor:
    try:
        from .inference import Predictor  # imported here: the scan and the CLI work without it
    except ModuleNotFoundError as exc:
        if exc.name != f"{__package__}.inference":
            raise
        raise BatchSetupError("this build has no inference module (viewer/core/inference.py)") from None
    if model_path is None:
        try:
            model_path = demo_model_path()
        except MissingResourceError as exc:
            raise BatchSetupError(f"no --model given, and {exc}") from None
    try:
        # open (and check) the model now: a bad model must stop the batch before it starts
        return Predictor.open(Path(os.fspath(model_path)), threads=threads, cache_size=0)
    except CxrError as exc:
        raise BatchSetupError(f"unusable model: {exc}") from None


# -- the pipeline -----------------------------------------------------------------------------
class Prepared(NamedTuple):
    """An image ready for the model, and what the loader noted while reading it."""

    image: np.ndarray
    notes: tuple[str, ...]


class _Pipeline:
    """Scan -> decode ahead in a thread pool -> batched inference -> rows in scan order."""

    def __init__(self, predictor: _Predictor, writer: _RowWriter, batch_size: int,
                 decode_workers: int | None, summary: BatchSummary, on_progress: BatchProgress | None) -> None:
        self.predictor, self.writer, self.batch_size = predictor, writer, batch_size
        self.workers = decode_workers or min(2, os.cpu_count() or 1)
        self.summary, self.on_progress = summary, on_progress
        self.done = 0
        self.total: int | None = None
        # Rows waiting for the next model call, in scan order: (item, prepared image or error).
        self.pending: list[tuple[ScannedImage | SkippedFile, Prepared | str]] = []

    def run(self, root: Path, follow_links: bool = False) -> None:
        # Enough decodes in flight that the pool keeps working while the model runs a batch.
        window = 2 * self.batch_size + self.workers
        in_flight: deque[tuple[ScannedImage | SkippedFile, Future[Prepared] | None]] = deque()
        with ThreadPoolExecutor(self.workers, thread_name_prefix="cxr-decode") as pool:
            for item in self._scan(root, follow_links):
                future = pool.submit(self._prepare, item.path) if isinstance(item, ScannedImage) else None
                in_flight.append((item, future))
                while len(in_flight) >= window:
                    self._collect(*in_flight.popleft())
            while in_flight:
                self._collect(*in_flight.popleft())
        self._flush()

    def _scan(self, root: Path, follow_links: bool) -> Iterator[ScannedImage | SkippedFile]:
        """The files that get a row; others are counted (and unreadable folders listed)."""
        def progress(done: int, total: int | None) -> None:
            self.total = total

        try:
            for item in scan_folder(root, on_progress=progress, follow_links=follow_links):
                if isinstance(item, ScannedImage):
                    self.summary.scrubber.add(item.identity)
                if isinstance(item, DataFileProblem):
                    self.summary.data_problems.append(f"{item.display_path}: {item.reason}")
                    continue
                if isinstance(item, ScannedImage) or item.claimed_format is not None:
                    yield item
                    continue
                if item.link_not_followed:
                    self.summary.links_not_followed.append(item.display_path)
                elif item.folder:
                    self.summary.unscanned_folders.append(f"{item.display_path} ({item.reason})")
                self.summary.other_files += 1
                self._advance()
        except ScanError as exc:  # the folder vanished between the check and the scan
            raise BatchSetupError(str(exc)) from None

    def _prepare(self, path: Path) -> Prepared:
        """The model's input for ``path``, with the loader's notes (what it noticed and handled)."""
        radiograph = load_radiograph(path)
        return Prepared(self.predictor.prepare(radiograph), tuple(radiograph.notes))

    def _collect(self, item: ScannedImage | SkippedFile, future: Future[Prepared] | None) -> None:
        if future is None:
            result: Prepared | str = item.reason  # type: ignore[union-attr]  # a SkippedFile
        else:
            try:
                result = future.result()
            except ImageLoadError as exc:
                result = exc.reason
            except MemoryError:
                result = "not enough memory to decode this image"
            except Exception as exc:  # a bug or an exotic file: report it on the row, go on
                result = f"unexpected error while reading ({type(exc).__name__}: {one_line(exc, 200, empty='')})"
        self.pending.append((item, result))
        if sum(isinstance(r, Prepared) for _, r in self.pending) >= self.batch_size:
            self._flush()

    def _flush(self) -> None:
        images = [r.image for _, r in self.pending if isinstance(r, Prepared)]
        findings = iter(self._predict(images))
        for item, result in self.pending:
            outcome = next(findings) if isinstance(result, Prepared) else result
            if isinstance(result, Prepared) and result.notes and not isinstance(outcome, str):
                outcome = replace(outcome, notes=result.notes + tuple(outcome.notes))
            self.writer.write(item, outcome)
            self._advance()
        self.pending.clear()

    def _predict(self, images: list[np.ndarray]) -> list[Any]:
        """Findings for each image, or an error message where the model failed on it."""
        if not images:
            return []
        try:
            return list(self.predictor.predict_batch(images))
        except Exception:  # one bad input must not cost the whole batch: retry one by one
            results: list[Any] = []
            for image in images:
                try:
                    results.append(self.predictor.predict_prepared(image))
                except Exception as exc:
                    reason = f"{type(exc).__name__}: {one_line(exc, 200, empty='')}"
                    results.append(f"the model failed on this image ({reason})")
            return results

    def _advance(self) -> None:
        self.done += 1
        if self.on_progress is not None:
            self.on_progress(self.done, self.total, self.summary.ok, self.summary.errors)


# -- rows -------------------------------------------------------------------------------------
class _RowWriter:
    """One row per scanned item through the predictions CSV writer, counted in the summary."""

    def __init__(self, rows: PredictionsWriter, summary: BatchSummary) -> None:
        self.rows, self.summary = rows, summary

    def write(self, item: ScannedImage | SkippedFile, outcome: Any) -> None:
        scanned = item if isinstance(item, ScannedImage) else None
        keys: dict[str, Any] = {}
        if scanned is not None:
            keys = {"patient_key": scanned.patient_key, "study_key": scanned.study_key,
                    "patient_id": scanned.patient_id}
        if isinstance(outcome, str):
            self.rows.write_error(item.name, item.display_path, outcome, **keys)
            self.summary.errors += 1
        else:
            self.rows.write_findings(item.name, item.display_path, outcome, **keys)
            self.summary.ok += 1
        self.summary.rows += 1


# -- progress on a terminal -------------------------------------------------------------------
class TextProgress:
    """A plain-text progress bar on ``stream`` (stderr): redrawn in place on a terminal,
    a line every 10% (or 30 s) otherwise, so logs stay short."""

    def __init__(self, stream: IO[str] | None = None, width: int = 28) -> None:
        self.stream = stream or sys.stderr
        self.width = width
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.started = time.perf_counter()
        self.last_draw = 0.0
        self.last_decile = -1
        self.drawn = False

    def __call__(self, done: int, total: int | None, ok: int, errors: int) -> None:
        now = time.perf_counter()
        elapsed = max(now - self.started, 1e-9)
        final = total is not None and done >= total
        if self.tty:
            if not final and now - self.last_draw < 0.2:
                return
        else:
            decile = (10 * done // total) if total else -1
            if not final and decile == self.last_decile and now - self.last_draw < 30:
                return
            self.last_decile = decile
        self.last_draw = now
        rate = (ok + errors) / elapsed
        if total:
            filled = int(self.width * done / total)
            bar = "#" * filled + "-" * (self.width - filled)
            eta = f"  ETA {_clock((total - done) * elapsed / done)}" if 0 < done < total else ""
            text = f"[{bar}] {done}/{total} files  {ok} ok  {errors} errors  {rate:.1f} img/s{eta}"
        else:
            text = f"{done} files  {ok} ok  {errors} errors  {rate:.1f} img/s"
        if self.tty:
            self.stream.write("\r" + text.ljust(100)[:100] + ("\n" if final else ""))
        else:
            self.stream.write(text + "\n")
        self.drawn = True
        self.stream.flush()


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    return f"{seconds // 60}:{seconds % 60:02d}"
