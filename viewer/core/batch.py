"""The headless batch: every image under a folder -> one CSV row of findings (docs/design.md).

The columns and rows are the predictions CSV's (``predictions_csv``): file name, relative path,
status and error, ``prob_<Label>`` and ``flag_<Label>`` (at the card's thresholds) for each label
of the model card, ``ood_score``/``ood_flag``, ``patient_key``/``study_key`` (the scan's
pseudonymous numbers), and ``patient_id`` only with ``include_patient_id``. Names that are not
valid UTF-8 are written escaped (``display_name``). Paths are relative to the folder, and the
names, IDs and birth dates of every DICOM header found in it are removed from the name, path and
error cells and from the summary line, in all their forms (``identity.Scrubber``): PACS exports
name folders after the patient.

Every file that is, or claims to be, an image gets a row (``batch_work``), so a broken file
shows up with its reason; other files are only counted, and folders that were not scanned
listed. Nothing is written inside the scanned folder: the CSV goes to ``<out>.partial``, and is
renamed to ``out`` when complete (``batch_output``; a link planted at either name is replaced,
never written through).

At archive scale (docs/decisions/0006-batch-resume-and-shards.md): the rows are flushed whole
after each model call, so a run killed at any moment loses only the images in flight; a run
asked to stop (``cancelled``) stops after the model call under way and keeps its rows; a run on
the same ``out`` goes on where an interrupted one stopped, when it writes the same rows (same
model, thresholds, folder, shard; ``batch_record``), and refuses otherwise; ``shard`` scores
only every N-th row (``batch_shard``), with the keys of the whole folder.

Throughput: an engine scores the rows. ``ThreadEngine``, the default, runs in this process: a
small thread pool decodes and preprocesses images ahead of the model while ONNX Runtime (which
releases the GIL) runs batches of ``batch_size`` on the calling thread. ``batch_ray.RayEngine``
runs the same two steps on a Ray cluster. Either way the scan, the rows kept from an interrupted
run and the writing stay here, and each row's outcome comes from the same two functions
(``prepare_file``, ``score_prepared``), so the CSV is the same.
"""

from __future__ import annotations

import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any, NamedTuple, Protocol

import numpy as np

from viewer import __version__

from .batch_output import BatchOutput, OutputRefused, ResumeNotes
from .batch_record import RunRecord
from .batch_shard import Shard
from .batch_work import FolderNotes, RowItem, WorkItem, folder_work, shard_work
from .errors import CxrError, ImageLoadError, display_name, one_line
from .loader import load_radiograph
from .model_card import ModelCard
from .radiograph import Radiograph
from .resources import MissingResourceError, demo_model_path
from .scan import ScanError, ScannedImage

DEFAULT_BATCH_SIZE = 8


class BatchSetupError(CxrError):
    """The batch could not start: no such folder, an unusable model, an output that cannot be
    written, or one that would lose a finished CSV or an interrupted run's rows."""


class BatchWriteError(CxrError):
    """The CSV could not be written on (a full disk, a folder gone): the rows written before
    are kept, for the same command to resume once the cause is fixed."""


class _Predictor(Protocol):  # what batch needs of inference.Predictor
    @property
    def labels(self) -> tuple[str, ...]: ...
    @property
    def card(self) -> ModelCard: ...
    @property
    def model_path(self) -> Path: ...

    def prepare(self, source: Any) -> np.ndarray: ...
    def predict_batch(self, images: list[np.ndarray]) -> list[Any]: ...
    def predict_prepared(self, image: np.ndarray) -> Any: ...


@dataclass(kw_only=True)
class BatchSummary(FolderNotes):
    """What a batch did: ``rows`` in the CSV (``ok`` + ``errors``), of which ``resume.kept``
    were kept from an interrupted run; ``finished`` False when it was stopped before the end
    (the rows are then in ``partial``, for the next run to resume). The folder's notes
    (``FolderNotes``: other files, folders not scanned, unusable label files) are the whole
    folder's, whatever the shard."""

    out: Path
    partial: Path | None = None
    shard: Shard | None = None
    rows: int = 0
    ok: int = 0
    errors: int = 0
    seconds: float = 0.0
    finished: bool = False
    resume: ResumeNotes = field(default_factory=ResumeNotes)

    @property
    def images_per_second(self) -> float:
        """The ``ok`` images scored by this run (not those kept) per second."""
        scored = self.ok - self.resume.kept_ok
        return scored / self.seconds if self.seconds > 0 else 0.0

    def describe(self, stopped_by: str = "") -> str:
        """One line for the terminal; ``stopped_by`` names what stopped an unfinished run."""
        counts = f"{self.ok} ok, {self.errors} errors"
        if self.resume.kept:
            counts += f"; {self.resume.kept} kept from the interrupted run, {self.rows - self.resume.kept} scored now"
        if self.finished:
            shard = f"shard {self.shard}, " if self.shard else ""
            text = f"wrote {display_name(self.out)}: {shard}{self.rows} rows ({counts})"
        else:
            shard = f" of shard {self.shard}" if self.shard else ""
            by = f" by {stopped_by}" if stopped_by else ""
            text = f"stopped{by}: {display_name(self.partial or self.out)} holds {self.rows} rows{shard} ({counts})"
        text += (f", {self.other_files} other files skipped, {self.seconds:.1f} s "
                 f"({self.images_per_second:.1f} images/s)")
        if self.resume.torn:
            text += "; the interrupted run's last row was cut: it was scored again"
        if self.resume.dropped:
            text += (f"; {self.resume.dropped} rows of the interrupted run no longer matched the folder: "
                     "they were scored again")
        if self.resume.not_resumed:
            text += f"; {self.resume.not_resumed}"
        if self.unscanned_folders:
            text += f"; {len(self.unscanned_folders)} folders could not be read: " + _first(self.unscanned_folders)
        if self.links_not_followed:
            text += (f"; {len(self.links_not_followed)} links to folders outside the folder not followed "
                     "(--follow-links follows them): " + _first(self.links_not_followed))
        for problem in self.data_problems:
            text += f"; {problem}"
        if not self.finished:
            text += "; run the same command again to resume (--overwrite starts afresh)"
        return self.scrubber.scrub(text)


def _first(paths: list[str], count: int = 5) -> str:
    """The first ``count`` of ``paths``, with "..." when there are more."""
    return ", ".join(paths[:count]) + (" ..." if len(paths) > count else "")


class BatchProgress(Protocol):
    """progress(files done, files in the folder or None, ok rows, error rows, rows kept from an
    interrupted run): files count every file of the folder, those of other shards and those
    without a row included; the rows counted are this run's CSV's, kept ones included."""

    def __call__(self, done: int, total: int | None, ok: int, errors: int, kept: int, /) -> None: ...


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
    shard: Shard | None = None,
    overwrite: bool = False,
    cancelled: Callable[[], bool] | None = None,
    engine: BatchEngine | None = None,
) -> BatchSummary:
    """Run the model on every image under ``folder`` (or ``shard``'s share of them) and write
    the CSV ``out``.

    ``model_path`` defaults to the bundled demo model. ``threads`` is ONNX Runtime's thread
    count. Raises ``BatchSetupError`` (one clear line) only when the batch cannot start; any
    problem with a single file becomes that file's ``error`` row and the batch goes on.
    ``follow_links``: also follow links to folders outside ``folder`` (``scan_folder``).
    An interrupted run's ``<out>.partial`` is resumed when this run writes the same rows, and
    refused otherwise; an existing ``out`` is refused; ``overwrite`` starts afresh instead
    (``batch_output``). Once ``cancelled()`` returns True the run stops after the model call
    under way and returns with ``finished`` False, its rows kept for the next run.
    ``engine`` scores the rows: by default a ``ThreadEngine(batch_size, decode_workers)``;
    any engine writes the same CSV (``batch_ray.RayEngine`` runs on a Ray cluster).
    """
    started = time.perf_counter()
    root, out_path = _check_paths(folder, out)
    predictor = _open_predictor(model_path, threads)
    engine = engine or ThreadEngine(batch_size, decode_workers)
    try:
        engine.start(predictor)
        return _run(root, out_path, predictor, engine, include_patient_id, on_progress=on_progress,
                    follow_links=follow_links, shard=shard, overwrite=overwrite, cancelled=cancelled,
                    started=started)
    finally:
        engine.close()


def _run(root: Path, out_path: Path, predictor: _Predictor, engine: BatchEngine, include_patient_id: bool, *,
         on_progress: BatchProgress | None, follow_links: bool, shard: Shard | None, overwrite: bool,
         cancelled: Callable[[], bool] | None, started: float) -> BatchSummary:
    summary = BatchSummary(out=out_path, shard=shard)
    record = RunRecord.for_run(predictor.card, predictor.model_path, root, include_patient_id=include_patient_id,
                               shard=str(shard or ""), follow_links=follow_links, viewer_version=__version__)
    try:
        output = BatchOutput.open(out_path, record, tuple(predictor.labels), include_patient_id, summary.scrubber,
                                  overwrite=overwrite)
    except OutputRefused as exc:
        raise BatchSetupError(str(exc)) from None
    except OSError as exc:
        raise BatchSetupError(f"{display_name(out_path)}: cannot be written ({exc.strerror or exc})") from None
    summary.partial, summary.resume = output.partial, output.notes
    stop = cancelled or (lambda: False)
    pipeline = _Pipeline(predictor, output, engine, summary, on_progress, stop)
    try:
        work = folder_work(root, summary, follow_links=follow_links, cancelled=stop,
                           on_total=pipeline.set_total, on_other_file=pipeline.advance)
        summary.finished = pipeline.run(shard_work(work, shard, on_passed=lambda _: pipeline.advance()))
    except ScanError as exc:  # the folder vanished between the check and the scan
        output.stop()
        raise BatchSetupError(str(exc)) from None
    except OSError as exc:  # writing the CSV failed: what is written stays resumable
        _stop_after_failure(output)
        raise _write_error(output, exc) from None
    except BaseException:  # KeyboardInterrupt, or a bug: the rows written stay resumable
        _stop_after_failure(output)
        raise
    try:
        if summary.finished:
            output.finish()
        else:
            output.stop()
    except OSError as exc:
        raise _write_error(output, exc) from None
    summary.seconds = time.perf_counter() - started
    return summary


def _stop_after_failure(output: BatchOutput) -> None:
    """Keep the rows written so far; a second failure (the disk still full) must not hide the first."""
    try:
        output.stop()
    except OSError:
        pass


def _write_error(output: BatchOutput, exc: OSError) -> BatchWriteError:
    return BatchWriteError(output.scrubber.scrub(
        f"{display_name(output.partial)}: cannot be written ({exc.strerror or exc}); the rows written so far "
        "are kept: run the same command again to resume once that is fixed"
    ))


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


# -- the engines --------------------------------------------------------------------------------
class Prepared(NamedTuple):
    """An image ready for the model, and what the loader noted while reading it."""

    image: np.ndarray
    notes: tuple[str, ...]


Outcome = Any  # a row's findings.Findings, or the reason it has none (a str)
Scored = list[tuple[RowItem, Outcome]]  # rows in the CSV's order, with their outcomes


def prepare_file(path: Path, prepare: Callable[[Radiograph], np.ndarray]) -> Prepared | str:
    """The model's input for ``path`` (``prepare`` is ``Predictor.prepare``), with the loader's
    notes; or the reason there is none, for the row's error cell. Never raises for a file."""
    try:
        radiograph = load_radiograph(path)
        return Prepared(prepare(radiograph), tuple(radiograph.notes))
    except ImageLoadError as exc:
        return exc.reason
    except MemoryError:
        return "not enough memory to decode this image"
    except Exception as exc:  # a bug or an exotic file: report it on the row, go on
        return f"unexpected error while reading ({type(exc).__name__}: {one_line(exc, 200, empty='')})"


def score_prepared(predictor: _Predictor, results: Sequence[Prepared | str]) -> list[Outcome]:
    """Each row's outcome, in order: the prepared images' findings from one model call (the
    loader's notes before the model's), the reasons of the others unchanged."""
    findings = iter(_predict(predictor, [r.image for r in results if isinstance(r, Prepared)]))
    outcomes: list[Outcome] = []
    for result in results:
        if not isinstance(result, Prepared):
            outcomes.append(result)
            continue
        outcome = next(findings)
        if result.notes and not isinstance(outcome, str):
            outcome = replace(outcome, notes=result.notes + tuple(outcome.notes))
        outcomes.append(outcome)
    return outcomes


def _predict(predictor: _Predictor, images: list[np.ndarray]) -> list[Any]:
    """Findings for each image, or an error message where the model failed on it."""
    if not images:
        return []
    try:
        return list(predictor.predict_batch(images))
    except Exception:  # one bad input must not cost the whole batch: retry one by one
        results: list[Any] = []
        for image in images:
            try:
                results.append(predictor.predict_prepared(image))
            except Exception as exc:  # the project's own errors already say what is wrong in one line
                reason = one_line(exc, 300) if isinstance(exc, CxrError) else \
                    f"{type(exc).__name__}: {one_line(exc, 200, empty='')}"
                results.append(f"the model failed on this image ({reason})")
        return results


class BatchEngine(Protocol):
    """What scores a batch's rows: the thread pool of this module (``ThreadEngine``), or
    another (``batch_ray.RayEngine``). The batch scans, keeps, writes and counts the rows; the
    engine only turns items into outcomes.

    ``start(predictor)`` readies the engine for a run before the CSV is opened (raising
    ``BatchSetupError`` when it cannot); ``score`` takes the items to score, in the CSV's order,
    and gives back every one of them with its outcome, in groups, in that same order: the batch
    writes and flushes each group before it asks for the next, and stops asking once ``stop()``
    is True (an engine that sees ``stop()`` may end early: the items not given back are the next
    run's). ``close()`` is called once the run ends, whatever happened."""

    def start(self, predictor: _Predictor) -> None: ...
    def score(self, predictor: _Predictor, items: Iterable[RowItem],
              stop: Callable[[], bool]) -> Iterator[Scored]: ...
    def close(self) -> None: ...


class ThreadEngine:
    """One process: a small thread pool decodes and preprocesses images ahead of the model
    while ONNX Runtime (which releases the GIL) runs batches of ``batch_size`` on the calling
    thread. A group is one model call's rows."""

    def __init__(self, batch_size: int = DEFAULT_BATCH_SIZE, decode_workers: int | None = None) -> None:
        self.batch_size = max(1, batch_size)
        self.workers = decode_workers or min(2, os.cpu_count() or 1)

    def start(self, predictor: _Predictor) -> None:
        pass

    def close(self) -> None:
        pass

    def score(self, predictor: _Predictor, items: Iterable[RowItem], stop: Callable[[], bool]) -> Iterator[Scored]:
        # Enough decodes in flight that the pool keeps working while the model runs a batch.
        window = 2 * self.batch_size + self.workers
        in_flight: deque[tuple[RowItem, Future[Prepared | str] | None]] = deque()
        pending: list[tuple[RowItem, Prepared | str]] = []  # rows waiting for the next model call
        pool = ThreadPoolExecutor(self.workers, thread_name_prefix="cxr-decode")

        def collect() -> bool:
            """Move the oldest decode to ``pending``; True when a model call is due."""
            item, future = in_flight.popleft()
            pending.append((item, item.reason if future is None else future.result()))  # type: ignore[union-attr]
            return sum(isinstance(r, Prepared) for _, r in pending) >= self.batch_size and not stop()

        def scored() -> Scored:
            outcomes = score_prepared(predictor, [r for _, r in pending])
            group = [(item, outcome) for (item, _), outcome in zip(pending, outcomes)]
            pending.clear()
            return group

        try:
            for item in items:
                future = pool.submit(prepare_file, item.path, predictor.prepare) if isinstance(item, ScannedImage) \
                    else None
                in_flight.append((item, future))
                while len(in_flight) >= window and not stop():
                    if collect():
                        yield scored()
                if stop():
                    return
            if stop():  # the scan ended because it was asked to: not the whole folder
                return
            while in_flight:
                if collect():
                    yield scored()
                if stop():
                    return
            if pending:
                yield scored()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


class _Pipeline:
    """Work items -> kept from the interrupted run, or scored by the engine -> rows written in
    order, flushed after each group the engine gives back."""

    def __init__(self, predictor: _Predictor, output: BatchOutput, engine: BatchEngine,
                 summary: BatchSummary, on_progress: BatchProgress | None, stop: Callable[[], bool]) -> None:
        self.predictor, self.output, self.engine = predictor, output, engine
        self.summary, self.on_progress, self.stop = summary, on_progress, stop
        self.done = 0
        self.total: int | None = None
        self.given = 0  # items handed to the engine
        self.scanned_all = False  # the work ended with the folder, not because the run was asked to stop

    def set_total(self, total: int | None) -> None:
        self.total = total

    def run(self, work: Iterable[WorkItem]) -> bool:
        """Score and write every item of ``work``; False when stopped before the end (the items
        the engine did not give back are then dropped: the next run scores them)."""
        written = 0
        groups = self.engine.score(self.predictor, self._to_score(work), self.stop)
        try:
            for group in groups:
                outcomes = [self.output.write(item, outcome) for item, outcome in group]
                self.output.flush()  # the rows are on disk before the progress counts them
                for ok in outcomes:
                    self._count(ok)
                written += len(group)
                if self.stop():
                    break
        finally:
            close = getattr(groups, "close", None)
            if close is not None:
                close()
        return self.scanned_all and written == self.given

    def _to_score(self, work: Iterable[WorkItem]) -> Iterator[RowItem]:
        """The items of ``work`` whose rows are not kept from the interrupted run."""
        for work_item in work:
            item, kept_ok = work_item.item, self.output.notes.kept_ok
            if self.output.keeps(item):
                self._count(ok=self.output.notes.kept_ok > kept_ok)
                continue
            self.given += 1
            yield item
        self.scanned_all = not self.stop()

    def _count(self, ok: bool) -> None:
        """One more row in the CSV (written, or kept from the interrupted run)."""
        self.summary.rows += 1
        self.summary.ok += ok
        self.summary.errors += not ok
        self.advance()

    def advance(self) -> None:
        """One more file of the folder done (a row, or a file without one, or another shard's)."""
        self.done += 1
        if self.on_progress is not None:
            self.on_progress(self.done, self.total, self.summary.ok, self.summary.errors, self.summary.resume.kept)


# -- progress on a terminal -------------------------------------------------------------------
class TextProgress:
    """A plain-text progress bar on ``stream`` (stderr): redrawn in place on a terminal,
    a line every 10% (or 30 s) otherwise, so logs stay short.

    The rate and the ETA are measured from the last row kept from an interrupted run (kept
    rows pass in a moment, and would make the rest look as fast), over every file of the
    folder: a shard's files and other shards' files alternate, so their mix stays the same."""

    def __init__(self, stream: IO[str] | None = None, width: int = 28) -> None:
        self.stream = stream or sys.stderr
        self.width = width
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.started = time.perf_counter()
        self.last_draw = 0.0
        self.last_decile = -1
        self.drawn = False
        self.kept = 0
        self.since, self.done_before = self.started, 0  # where the measured stretch starts

    def __call__(self, done: int, total: int | None, ok: int, errors: int, kept: int = 0) -> None:
        now = time.perf_counter()
        if kept != self.kept:  # a row kept: the run's own work starts after it
            self.kept, self.since, self.done_before = kept, now, done
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
        elapsed = max(now - self.since, 1e-9)
        rate = (ok + errors - kept) / elapsed
        rows = f"{ok} ok  {errors} errors" + (f" ({kept} kept)" if kept else "")
        if total:
            filled = int(self.width * done / total)
            bar = "#" * filled + "-" * (self.width - filled)
            measured = done - self.done_before
            eta = f"  ETA {_clock((total - done) * elapsed / measured)}" if measured > 0 and done < total else ""
            text = f"[{bar}] {done}/{total} files  {rows}  {rate:.1f} img/s{eta}"
        else:
            text = f"{done} files  {rows}  {rate:.1f} img/s"
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
