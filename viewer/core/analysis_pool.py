"""The folder analysis's worker process: decoding, thumbnails, preprocessing and the model, in
batches, outside the window's process.

Why a process. In the window's own process every line of Python the analysis runs (header
checks, the preprocessing's bands, the OOD features, building results) needs the one GIL the
GUI thread needs for every slot it runs, so an analysis that keeps two cores busy either starves
the window or is held back by it. A worker process has a GIL of its own, and it runs at a lower
scheduling priority (``NICENESS``): the window, the folder scan and the image the user opens
get the cores first, and the analysis takes what is left.

Inside the worker the pipeline is the batch's: a few threads decode and prepare the next chunk
while ONNX Runtime (which releases the GIL) runs the model on this one, ``MAX_BATCH`` images a
call. The worker reads no image it was not sent and writes nothing.

The protocol, over one ``multiprocessing`` pipe (the "spawn" start method: a fresh interpreter,
safe beside Qt's threads, and what a frozen bundle supports with ``freeze_support``):

* to the worker: ``("chunk", chunk_id, [path, ...])``, ``("drop",)`` (forget the chunks not
  started yet: the folder changed), ``("stop",)``;
* from the worker: ``("ready",)`` once the model is open, ``("unusable", reason)`` when it
  could not be opened (the worker then ends), ``("chunk", chunk_id, [ImageOutcome, ...])`` in
  the order of the paths sent.

The worker ends at ``stop``, and when the window's process goes away (the pipe reads end of
file; a paused worker sees its parent change), so no worker outlives the window that started it.

The user comes first: while the window waits for the model on the image the user opened,
``pause`` makes the worker end the model run under way (ONNX Runtime's terminate flag, checked
between the graph's nodes) and start nothing new until ``resume``; the chunk runs again whole.
A cooperative pause rather than SIGSTOP: a stopped process whose window is killed would stay
stopped for ever (the kernel's hang-up for orphaned process groups reaches only a shell's jobs).

A few images are not worth a process: starting one (a new interpreter, numpy, OpenCV, ONNX
Runtime and the model) costs about half a second, what the window analyses five to ten images
in. ``analyse_here`` is the same work for one image in the calling process, for folders of
fewer than ``PROCESS_FROM`` images.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

from .errors import CxrError, FileProblem, one_line
from .findings import Findings, read_only
from .inference import Predictor
from .loader import load_radiograph
from .model import RunStop, RunStopped
from .thumbnail import THUMBNAIL_SIZE, make_thumbnail

# Lower than the window (0): under contention the worker gets about a tenth of a core's time
# against each busy thread of the window; when nothing else runs, all of it.
NICENESS = 10
DECODE_THREADS = 2  # as the batch: decoding overlaps the model on two cores
PROCESS_FROM = 32  # images in a folder from which the analysis starts a worker process
PAUSE_POLL_SECONDS = 0.01  # how often a paused worker looks whether it may go on (or is orphaned)
# ``close`` asks the worker to stop, which it does between chunks; it is not waited for longer
# than this (a window closing must not wait for a chunk), then it is terminated (it holds
# nothing that needs saving), and killed if even that fails.
STOP_SECONDS = 0.1
KILL_SECONDS = 2.0


def problem_text(exc: BaseException) -> str:
    """One line for an image that could not be analysed. Our own errors already name the
    problem and the fix; a file's problem without its path (the errors panel names the file,
    relative to the folder and without the folder's identities)."""
    if isinstance(exc, FileProblem):
        return exc.reason
    if isinstance(exc, CxrError):
        return str(exc)
    if isinstance(exc, MemoryError):
        return "not enough memory to decode this image"
    text = one_line(exc, empty="")
    return f"unexpected {type(exc).__name__}{': ' + text if text else ''}"


@dataclass(frozen=True, slots=True)
class ImageOutcome:
    """What the analysis made of one image: its thumbnail and findings (compact: float16
    maps), or why it could not. ``findings`` is None without a model."""

    thumbnail: np.ndarray | None
    findings: Findings | None
    error: str | None = None


def compact_findings(findings: Findings) -> Findings:
    """``findings`` with float16 maps: 14 maps of 7 x 7 in under 2 kB. The maps are only ever
    normalised by their own range for display and agreement, where float16's three significant
    digits change nothing a user sees; probabilities and flags are kept as they are."""
    if findings.heatmaps.dtype == np.float16:
        return findings
    return replace(findings, heatmaps=read_only(findings.heatmaps.astype(np.float16)))


@dataclass(frozen=True)
class WorkerSettings:
    """What the worker is started with (pickled to it)."""

    model_path: Path | None  # None: thumbnails only
    threads: int | None = None  # ONNX Runtime's threads (None: its default, every core)
    decoders: int = DECODE_THREADS
    thumbnail_size: int = THUMBNAIL_SIZE
    niceness: int = NICENESS


class PoolStopped(Exception):
    """The worker process is gone (ended, killed, or it could not open the model)."""


class AnalysisPool:
    """One worker process and the pipe to it; used from one thread (``close`` from any).

    ``start`` spawns the worker and returns at once; ``submit`` sends a chunk, ``receive``
    waits a little for the next message. Nothing here blocks for long: a full pipe cannot
    happen, since the caller keeps only a few chunks in flight.
    """

    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings
        self._process: Any = None  # multiprocessing.context.SpawnProcess
        self._conn: Connection | None = None
        self._lock = threading.Lock()  # close() may come from another thread than submit()
        self.ready = False
        self._paused: Any = None  # a multiprocessing Event, set while the worker is to pause

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        """Spawn the worker (a new interpreter: it is ready a fraction of a second later)."""
        context = multiprocessing.get_context("spawn")
        mine, theirs = context.Pipe(duplex=True)
        paused = context.Event()
        process = context.Process(target=serve, args=(theirs, self.settings, paused), name="cxr-analysis",
                                  daemon=True)
        process.start()
        theirs.close()  # only the worker holds its end: it reads end of file when we are gone
        with self._lock:
            self._process, self._conn, self._paused = process, mine, paused
        self.ready = False

    def pause(self) -> None:
        """Let the image the user opens have the cores: the worker ends the model run under way
        (within a node or two of the graph; the chunk's images stay decoded and run again) and
        starts no decoding or model run until ``resume``. Cooperative, not a stopped process:
        a paused worker still sees its window go away, and goes with it."""
        with self._lock:
            if self._paused is not None:
                self._paused.set()

    def resume(self) -> None:
        with self._lock:
            if self._paused is not None:
                self._paused.clear()

    def alive(self) -> bool:
        return self._process is not None and self._process.is_alive()

    def submit(self, chunk_id: int, paths: Sequence[Path]) -> None:
        self._send(("chunk", chunk_id, [os.fspath(p) for p in paths]))

    def drop(self) -> None:
        """Forget the chunks the worker has not started (their results never come)."""
        self._send(("drop",))

    def receive(self, timeout: float) -> tuple[int, list[ImageOutcome]] | None:
        """The next chunk's outcomes as ``(chunk_id, outcomes)``, or None when nothing came
        within ``timeout`` seconds. Raises ``PoolStopped`` when the worker is gone."""
        conn = self._conn
        if conn is None:
            raise PoolStopped("the analysis process is not running")
        try:
            if not conn.poll(timeout):
                return None
            message = conn.recv()
        except (EOFError, OSError) as exc:
            raise PoolStopped(f"the analysis process stopped ({self._exit_text()})") from exc
        if message[0] == "ready":
            self.ready = True
            return None
        if message[0] == "unusable":
            raise PoolStopped(str(message[1]))
        _, chunk_id, outcomes = message
        return int(chunk_id), list(outcomes)

    def close(self) -> None:
        """End the worker: asked first, then terminated, then killed; never left behind."""
        self.resume()  # a paused worker reads its messages only once it goes on
        with self._lock:
            process, conn = self._process, self._conn
            self._process = self._conn = None
        if process is None:
            return
        try:
            if conn is not None:
                conn.send(("stop",))
        except (OSError, ValueError):
            pass  # gone already
        process.join(STOP_SECONDS)
        if process.is_alive():
            process.terminate()
            process.join(KILL_SECONDS)
        if process.is_alive():
            process.kill()
            process.join()
        if conn is not None:
            conn.close()
        process.close()

    def _send(self, message: tuple[Any, ...]) -> None:
        with self._lock:
            conn = self._conn
            if conn is None:
                raise PoolStopped("the analysis process is not running")
            try:
                conn.send(message)
            except (OSError, ValueError) as exc:
                raise PoolStopped(f"the analysis process stopped ({self._exit_text()})") from exc

    def _exit_text(self) -> str:
        code = self._process.exitcode if self._process is not None else None
        if code is None:
            return "no answer"
        return f"exit status {code}" if code >= 0 else f"ended by signal {-code}"


def analyse_here(predictor: Predictor | None, path: Path, thumbnail_size: int = THUMBNAIL_SIZE) -> ImageOutcome:
    """One image's outcome made in the calling process (a folder too small for a worker):
    ``predictor.predict`` on the loaded image, whose cache the image on screen shares."""
    try:
        radiograph = load_radiograph(path)
        thumbnail = make_thumbnail(radiograph, thumbnail_size)
        findings = predictor.predict(radiograph) if predictor is not None else None
    except Exception as exc:  # one bad file never stops the folder
        return ImageOutcome(None, None, problem_text(exc))
    return ImageOutcome(thumbnail, compact_findings(findings) if findings is not None else None)


# -- in the worker process ----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Prepared:
    thumbnail: np.ndarray
    model_input: np.ndarray | None
    notes: tuple[str, ...]


class _Gate:
    """The worker's side of ``pause``: waits while the window's process asks it to, ends the
    model run under way when it does, and ends the worker when the window's process is gone
    (its parent changed), which a paused worker would not otherwise notice."""

    def __init__(self, paused: Any) -> None:
        self.paused = paused
        self.parent = os.getppid()
        self._lock = threading.Lock()
        self._run: RunStop | None = None
        threading.Thread(target=self._stop_runs_on_pause, name="cxr-pause", daemon=True).start()

    def wait_go(self) -> None:
        while self.paused.is_set():
            if os.getppid() != self.parent:
                os._exit(0)  # the window is gone; nothing here needs saving
            time.sleep(PAUSE_POLL_SECONDS)

    def run(self, predictor: Predictor, images: list[np.ndarray]) -> list[Findings]:
        """``predictor.predict_batch(images)``, run again after a pause that ended it."""
        while True:
            self.wait_go()
            stop = RunStop()
            with self._lock:
                self._run = stop
            try:
                if self.paused.is_set():  # paused between the wait and registering the run
                    continue
                return list(predictor.predict_batch(images, stop=stop))
            except RunStopped:
                continue
            finally:
                with self._lock:
                    self._run = None

    def _stop_runs_on_pause(self) -> None:
        while True:
            self.paused.wait()
            with self._lock:
                if self._run is not None:
                    self._run.stop()
            while self.paused.is_set():
                time.sleep(PAUSE_POLL_SECONDS)


def serve(conn: Connection, settings: WorkerSettings, paused: Any = None) -> None:
    """The worker's main loop (the target of the spawned process); ``paused`` is the
    multiprocessing Event of ``AnalysisPool.pause``."""
    from .process_settings import configure_process

    configure_process()
    if settings.niceness and hasattr(os, "nice"):  # not on Windows
        # Before any thread is started: on Linux each thread has its own priority, and the
        # threads started later (the decoders, ONNX Runtime's) take the one of their creator.
        os.nice(settings.niceness)
    predictor = None
    if settings.model_path is not None:
        try:
            predictor = Predictor.open(settings.model_path, settings.threads, cache_size=0)
        except CxrError as exc:
            conn.send(("unusable", f"the analysis could not open the model: {exc}"))
            return
    conn.send(("ready",))
    gate = _Gate(paused if paused is not None else multiprocessing.get_context("spawn").Event())
    input_size = predictor.input_size if predictor is not None else None
    waiting: deque[tuple[int, list[Future[_Prepared]]]] = deque()
    with ThreadPoolExecutor(max(1, settings.decoders), thread_name_prefix="cxr-decode") as decoders:
        try:
            while True:
                # Take every message already there, so the next chunk decodes while the model
                # runs on this one; wait for one only when there is nothing to do.
                while not waiting or conn.poll():
                    message = conn.recv()
                    if message[0] == "stop":
                        return
                    if message[0] == "drop":
                        for _, futures in waiting:
                            for future in futures:
                                future.cancel()
                        waiting.clear()
                        continue
                    _, chunk_id, paths = message
                    waiting.append((chunk_id, [decoders.submit(_prepare, gate, Path(p), input_size,
                                                               settings.thumbnail_size) for p in paths]))
                chunk_id, futures = waiting.popleft()
                conn.send(("chunk", chunk_id, _finish(predictor, gate, futures)))
        except (EOFError, OSError):
            return  # the window's process is gone
        finally:
            for _, futures in waiting:
                for future in futures:
                    future.cancel()


def _prepare(gate: _Gate, path: Path, input_size: tuple[int, int] | None, thumbnail_size: int) -> _Prepared:
    """Decode one image: its thumbnail, and the model's input when there is a model."""
    from .preprocess import preprocess

    gate.wait_go()
    radiograph = load_radiograph(path)
    model_input = preprocess(radiograph, *input_size) if input_size is not None else None
    return _Prepared(make_thumbnail(radiograph, thumbnail_size), model_input, tuple(radiograph.notes))


def _finish(predictor: Predictor | None, gate: _Gate, futures: list[Future[_Prepared]]) -> list[ImageOutcome]:
    """Wait for a chunk's images and run the model on the ones that could be read."""
    prepared: list[_Prepared | str] = []
    for future in futures:
        try:
            prepared.append(future.result())
        except Exception as exc:  # one bad file never stops the folder
            prepared.append(problem_text(exc))
    ready = [p for p in prepared if isinstance(p, _Prepared)]
    findings: list[Findings | str | None] = [None] * len(ready)
    if predictor is not None and ready:
        findings = _predict(predictor, gate, [p.model_input for p in ready if p.model_input is not None])
    outcomes: list[ImageOutcome] = []
    results = iter(findings)
    for item in prepared:
        if isinstance(item, str):
            outcomes.append(ImageOutcome(None, None, item))
            continue
        result = next(results)
        if isinstance(result, str):
            outcomes.append(ImageOutcome(item.thumbnail, None, result))
        elif result is None:
            outcomes.append(ImageOutcome(item.thumbnail, None))
        else:
            if item.notes:  # what the loader noticed travels with the findings, as in predict()
                result = replace(result, notes=item.notes + result.notes)
            outcomes.append(ImageOutcome(item.thumbnail, compact_findings(result)))
    return outcomes


def _predict(predictor: Predictor, gate: _Gate, images: list[np.ndarray]) -> list[Findings | str | None]:
    """Findings for each image, or why the model failed on it (one bad input does not cost
    the chunk: the images are then run one by one)."""
    try:
        return list(gate.run(predictor, images))
    except Exception:
        results: list[Findings | str | None] = []
        for image in images:
            try:
                results.extend(gate.run(predictor, [image]))
            except Exception as exc:
                results.append(f"the model could not run on it: {problem_text(exc)}")
        return results
