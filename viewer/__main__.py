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
    """``cxr-viewer X.Y.Z`` and the bundled model's name (or "no model" and why)."""
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


def batch_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"{PROG} batch",
        description="Run the model on every image under FOLDER and write one CSV row per image "
                    "(readable by cxr-train evaluate --predictions). Nothing is written inside FOLDER.",
        epilog="A text cell (file name, path, error, patient_id) that starts with =, +, -, @, a tab or a "
               "carriage return, or with an apostrophe, is written with an apostrophe before it, so that "
               "a spreadsheet shows it as text instead of running it as a formula; cxr-train evaluate "
               "reads the names back without it.",
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
    return parser


def batch_main(argv: list[str]) -> int:
    """``cxr-viewer batch FOLDER --out results.csv [...]``: exit 0 once the folder is done."""
    args = batch_parser().parse_args(argv)
    from viewer.core.batch import DEFAULT_BATCH_SIZE, TextProgress, run_batch
    from viewer.core.errors import CxrError

    try:
        summary = run_batch(
            args.folder, args.out, args.model, args.include_patient_id,
            threads=_threads(args.threads), batch_size=args.batch_size or DEFAULT_BATCH_SIZE,
            on_progress=TextProgress(sys.stderr), follow_links=args.follow_links,
        )
    except CxrError as exc:
        return _fail(f"batch: {exc}")
    except KeyboardInterrupt:
        return _fail("batch: interrupted; the rows so far are in the .partial file beside --out", code=130)
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
