"""The command line: ``cxr-viewer [PATH] [--model M.onnx] [--demo] [--screenshot OUT.png]
[--follow-links]``, ``cxr-viewer --version`` and ``cxr-viewer batch FOLDER --out results.csv``.

Without ``--model`` the GUI gets ``model=None`` and opens the bundled demo model itself (or, when
it is missing, runs as a plain viewer and says why); the batch uses the demo model or stops. On
Linux without a display (no DISPLAY, no WAYLAND_DISPLAY, QT_QPA_PLATFORM unset) the GUI renders
offscreen and saves a screenshot, so ``cxr-viewer --demo`` completes on a headless machine.
Errors that stop a command before it starts are one line on stderr and a non-zero exit, never
a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from viewer import __version__

PROG = "cxr-viewer"
THREADS_HELP = "ONNX Runtime threads for the model (default: $CXR_THREADS if set, else all cores)"
DEFAULT_SCREENSHOT = "cxr-viewer-screenshot.png"
FOLLOW_LINKS_HELP = ("also follow links to folders outside the folder opened (by default they are listed as "
                     "not followed; links into /proc, /sys and /dev never are)")


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    import multiprocessing

    from viewer.core.process_settings import configure_process

    multiprocessing.freeze_support()  # a frozen app started as the analysis's worker runs the worker

    configure_process()
    args = sys.argv[1:] if argv is None else list(argv)
    if args and args[0] == "batch":  # a folder literally named "batch": pass ./batch
        return batch_main(args[1:])
    return gui_main(args)


# -- GUI --------------------------------------------------------------------------------------
def gui_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Chest X-ray viewer: DICOM/PNG/JPEG with the 14 NIH findings and Grad-CAM heatmaps.",
        epilog=f"Headless batch over a folder: {PROG} batch FOLDER --out results.csv (see {PROG} batch --help).",
    )
    parser.add_argument("path", nargs="?", type=Path, metavar="PATH", help="a folder or image file to open")
    parser.add_argument("--model", type=Path, metavar="M.onnx",
                        help="classifier NAME.onnx (NAME.gradcam.onnx beside it); default: the bundled demo model")
    parser.add_argument("--demo", action="store_true", help="open the bundled demo study (a real PA chest CR)")
    parser.add_argument("--screenshot", type=Path, metavar="OUT.png",
                        help="save a screenshot of the window once the findings are shown, then exit")
    parser.add_argument("--threads", type=_positive_int, metavar="N", help=THREADS_HELP)
    parser.add_argument("--follow-links", action="store_true", help=FOLLOW_LINKS_HELP)
    parser.add_argument("--version", action="store_true", help="print the version and the bundled model, then exit")
    return parser


def gui_main(argv: list[str]) -> int:
    """``cxr-viewer [PATH] [--model M.onnx] [--demo] [--screenshot OUT.png] [--follow-links] [--version]``."""
    parser = gui_parser()
    args = parser.parse_args(argv)
    if args.version:
        print(version_text())
        return 0
    refused = runtime_refused()
    if refused is not None:
        return refused
    if args.demo and args.path is not None:
        parser.error("give either PATH or --demo, not both")
    if args.path is not None and not args.path.exists():
        parser.error(f"{_show(args.path)}: no such file or folder")
    if args.model is not None and not args.model.is_file():
        parser.error(f"--model {_show(args.model)}: no such file")

    from viewer.core.errors import CxrError

    try:
        threads = _threads(args.threads)
    except CxrError as exc:
        return _fail(str(exc))
    path: Path | None = args.path
    if args.demo:
        from viewer.core.demo import demo_study_dir

        try:
            path = demo_study_dir()
        except CxrError as exc:
            return _fail(f"cannot prepare the demo study: {exc}")
    screenshot = _headless_setup(args.screenshot)

    try:
        from viewer.ui.app import run_gui
    except ImportError as exc:
        return _fail(_gui_unavailable(exc))
    # model=None: the UI opens the bundled demo model, or says in its model panel why it cannot
    return int(run_gui(path, args.model, args.demo, screenshot, threads, follow_links=args.follow_links) or 0)


def _headless_setup(screenshot: Path | None) -> Path | None:
    """Offscreen rendering (and a default screenshot) on a Linux machine with no display."""
    if not sys.platform.startswith("linux"):
        return screenshot
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or os.environ.get("QT_QPA_PLATFORM"):
        return screenshot
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    if screenshot is None:
        screenshot = Path.cwd() / DEFAULT_SCREENSHOT
        print(f"{PROG}: no display found: rendering offscreen; the screenshot will be saved to "
              f"{_show(screenshot)}", file=sys.stderr)
    else:
        print(f"{PROG}: no display found: rendering offscreen", file=sys.stderr)
    return screenshot


def _gui_unavailable(exc: ImportError) -> str:
    missing = getattr(exc, "name", None) or ""
    if missing.startswith("PySide6"):
        return ("the desktop viewer needs PySide6, which is not installed (pip install PySide6-Essentials); "
                f"the headless {PROG} batch works without it")
    if missing.startswith("viewer.ui"):
        return (f"the desktop viewer is not part of this build ({missing} is missing); "
                f"use {PROG} batch FOLDER --out results.csv")
    return f"the desktop viewer cannot start ({exc})"


def version_text() -> str:
    """``cxr-viewer X.Y.Z``, the bundled model's name (or "no model" and why) and the ONNX Runtime."""
    from viewer.core.runtime import runtime_description

    return f"{_version_and_model()}\n{runtime_description()}"


def runtime_refused() -> int | None:
    """2, having said why, when no ONNX Runtime is installed; a warning when several are."""
    from viewer.core.runtime import installed_runtimes, runtime_problem

    problem = runtime_problem()
    if problem is None:
        return None
    if installed_runtimes():
        print(f"{PROG}: warning: {problem}", file=sys.stderr)
        return None
    print(f"{PROG}: error: {problem}", file=sys.stderr)
    return 2


def _version_and_model() -> str:
    from viewer.core.errors import CxrError
    from viewer.core.resources import MissingResourceError, demo_model_path

    try:
        path = demo_model_path()
    except MissingResourceError:
        return f"{PROG} {__version__}\nbundled model: no model (resources/models/demo.onnx is missing)"
    try:
        from viewer.core.onnx_card import card_from_metadata, read_metadata

        card = card_from_metadata(read_metadata(path), path.name)  # no ONNX Runtime session: fast
    except CxrError as exc:
        return f"{PROG} {__version__}\nbundled model: no model (unusable: {exc})"
    return f"{PROG} {__version__}\nbundled model: {card.name} ({card.arch}, model_id {card.model_id[:12]})"


# -- batch ------------------------------------------------------------------------------------
def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number")
    return value


def _shard(text: str) -> object:
    from viewer.core.batch_shard import ShardError, parse_shard

    try:
        return parse_shard(text)
    except ShardError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def batch_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"{PROG} batch",
        description="Run the model on every image under FOLDER and write one CSV row per image "
                    "(readable by cxr-train evaluate --predictions). Nothing is written inside FOLDER.",
        epilog="The rows go to results.csv.partial as they are done, flushed after each model call, and it "
               "is renamed to results.csv when the folder is done. Stopped (Ctrl+C, SIGTERM: exit 130, 143) or "
               "killed, the same command goes on from the rows already written, when it writes the same rows: "
               "the same model and thresholds, folder, --shard, --include-patient-id and --follow-links "
               "(results.csv.partial.json records them; otherwise it refuses and says what changed). A finished "
               "results.csv is never replaced unless --overwrite is given. A text cell (file name, path, error, "
               "patient_id) that starts with =, +, -, @, a tab or a carriage return, or with an apostrophe, is "
               "written with an apostrophe before it, so that a spreadsheet shows it as text instead of running "
               "it as a formula; cxr-train evaluate reads the names back without it.",
    )
    parser.add_argument("folder", type=Path, metavar="FOLDER", help="folder to scan (recursively)")
    parser.add_argument("--out", type=Path, required=True, metavar="results.csv", help="the CSV to write")
    parser.add_argument("--model", type=Path, metavar="M.onnx",
                        help="classifier NAME.onnx (NAME.gradcam.onnx beside it); default: the bundled demo model")
    parser.add_argument("--include-patient-id", action="store_true",
                        help="add a patient_id column with the DICOM PatientID / NIH patient number "
                             "(identifying: off by default)")
    parser.add_argument("--threads", type=_positive_int, metavar="N", help=THREADS_HELP)
    parser.add_argument("--batch-size", type=_positive_int, metavar="K", default=None,
                        help="images per model call (default: 8)")
    parser.add_argument("--follow-links", action="store_true", help=FOLLOW_LINKS_HELP)
    parser.add_argument("--shard", type=_shard, metavar="I/N", default=None,
                        help="score only shard I of N (from 1): the rows k = I-1, I-1+N, ... of the whole "
                             "folder's CSV, in its order (relative paths sorted, a folder's files before its "
                             "subfolders); the keys are the whole folder's, so the N shards' rows are the whole "
                             "CSV's (row k is in shard k mod N + 1)")
    parser.add_argument("--overwrite", action="store_true",
                        help="start afresh: replace a finished results.csv, and drop the rows of an interrupted run")
    ray = parser.add_argument_group(
        "Ray (past one machine)",
        "--engine ray scores the images with Ray Data: on a private local Ray instance (127.0.0.1 only), or on the "
        "Ray cluster at --ray-address; the scan and the CSV stay here and the CSV is the same, row for row. The "
        "workers read the images by path: FOLDER must be at the same path on every node (a shared file system; "
        "checked before the run). "
        "The model goes to them through Ray's object store. Every node needs cxr-viewer with the ray extra "
        "(pip install 'cxr-viewer[ray]'). Ray's usage statistics are off; a lost worker's images are scored "
        "again elsewhere.",
    )
    ray.add_argument("--engine", choices=("threads", "ray"), default="threads",
                     help="threads: this process (default); ray: Ray Data, locally or on a cluster")
    ray.add_argument("--ray-address", metavar="ADDR", default=None,
                     help="the Ray cluster to run on (host:port of its head, or auto); default: $RAY_ADDRESS "
                          "if set, else a local Ray instance on 127.0.0.1")
    ray.add_argument("--ray-actors", type=_positive_int, metavar="N", default=None,
                     help="model copies on the cluster (default: from 1 up to as many as its CPUs allow); "
                          "each takes --threads CPUs (default 1)")
    return parser


class _StopSignals:
    """While open, the first SIGINT (Ctrl+C) or SIGTERM asks the batch to stop after the model
    call under way, keeping its rows; a second one stops it at once (KeyboardInterrupt, the rows
    written so far kept too). ``signal`` is the first one received, or None."""

    SIGNALS = ("SIGINT", "SIGTERM")

    def __init__(self) -> None:
        self.signal: int | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> _StopSignals:
        import signal

        for name in self.SIGNALS:
            number = getattr(signal, name, None)
            if number is not None:
                self._previous[number] = signal.signal(number, self._received)
        return self

    def __exit__(self, *exc: object) -> None:
        import signal

        for number, handler in self._previous.items():
            signal.signal(number, handler)  # type: ignore[arg-type]

    def _received(self, number: int, frame: object) -> None:
        if self.signal is not None:
            raise KeyboardInterrupt
        self.signal = number

    def requested(self) -> bool:
        return self.signal is not None

    @property
    def exit_status(self) -> int:
        """128 + the signal's number, as a shell reports a process it stopped: 130, 143."""
        import signal

        return 128 + (self.signal or signal.SIGINT)

    @property
    def name(self) -> str:
        import signal

        return signal.Signals(self.signal or signal.SIGINT).name


def batch_main(argv: list[str]) -> int:
    """``cxr-viewer batch FOLDER --out results.csv [...]``: exit 0 once the folder (or the shard)
    is done; 130 or 143 when stopped by SIGINT or SIGTERM, with its rows kept to resume."""
    parser = batch_parser()
    args = parser.parse_args(argv)
    if args.engine != "ray" and (args.ray_address is not None or args.ray_actors is not None):
        parser.error("--ray-address and --ray-actors go with --engine ray")
    refused = runtime_refused()
    if refused is not None:
        return refused
    from viewer.core.batch import DEFAULT_BATCH_SIZE, TextProgress, run_batch
    from viewer.core.errors import CxrError

    batch_size = args.batch_size or DEFAULT_BATCH_SIZE
    engine = None
    with _StopSignals() as stop:
        try:
            threads = _threads(args.threads)
            if args.engine == "ray":
                from viewer.core.batch_ray import RayEngine

                engine = RayEngine(args.ray_address, batch_size=batch_size, actors=args.ray_actors,
                                   actor_cpus=float(threads or 1), threads=threads)
            summary = run_batch(
                args.folder, args.out, args.model, args.include_patient_id,
                threads=threads, batch_size=batch_size,
                on_progress=TextProgress(sys.stderr), follow_links=args.follow_links, shard=args.shard,
                overwrite=args.overwrite, cancelled=stop.requested, engine=engine,
            )
        except CxrError as exc:
            return _fail(f"batch: {exc}")
        except KeyboardInterrupt:
            return _fail(f"batch: stopped at once by {stop.name}; the rows written so far are kept in the "
                         ".partial file beside --out: run the same command again to resume",
                         code=stop.exit_status)
    if engine is not None:
        print(f"{PROG} batch: ran on {engine.stats.describe()}", file=sys.stderr)
    if not summary.finished:
        print(f"{PROG} batch: {summary.describe(stopped_by=stop.name)}", file=sys.stderr)
        return stop.exit_status
    print(f"{PROG} batch: {summary.describe()}", file=sys.stderr)
    return 0


# -- helpers ----------------------------------------------------------------------------------
def _threads(given: int | None) -> int | None:
    """``--threads``, else ``CXR_THREADS``, else None (ONNX Runtime's default: all cores)."""
    from viewer.core.process_settings import threads_from_environment

    return given if given is not None else threads_from_environment()


def _fail(message: str, code: int = 1) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return code


def _show(path: Path) -> str:
    from viewer.core.errors import display_name

    return display_name(path)


if __name__ == "__main__":
    sys.exit(main())
