"""The PyInstaller bundle: size on disk and start-up to the first frame, against baselines run
in the same loop (the targets in docs/design.md: at most 350 MiB on disk, at most 3 s to the first frame).

Rows, each a fresh process in a fresh HOME (so the demo study is assembled and the settings are
new, as on a first start), interleaved round by round so machine noise hits them alike:

* ``python -c "import PySide6.QtWidgets"`` from the venv: the baseline;
* a bare PySide6 window's first frame from the venv (QApplication, one QWidget, shown, painted);
* the source install, ``cxr-viewer --demo --screenshot``: the same work, not frozen;
* the bundle, ``--version``: the frozen interpreter and the card read, no Qt;
* the bundle, ``--demo --screenshot``, warm and with the bundle's files evicted from the page
  cache first (``posix_fadvise(DONTNEED)``; no root needed, other processes unaffected).

"First frame" is taken when the screenshot file appears: the viewer saves it once the image and
its findings are on screen, so it is an upper bound on the first frame showing the image. The
process exit time is reported beside it.

    python bench/bench_bundle.py [--dist DIST] [--runs 5] [--model M.onnx]

Without ``--dist`` the bundle is built first (``pyinstaller viewer.spec`` into a temporary
folder) and the build time is reported too. Without ``--model`` the bundle's demo model is used;
if the bundle has none, pass a stand-in (e.g. a random-weight DenseNet121 pair exported by the
trainer) so the figure includes loading and running a model of the real size.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APP = "cxr-viewer"
EXE = APP + (".exe" if sys.platform == "win32" else "")
TARGET_MIB, TARGET_SECONDS = 350, 3.0
GROUPS = (  # (label, path prefixes inside _internal)
    ("Qt + PySide6 (ICU 38 MB of it)", ("PySide6", "shiboken6", "libQt6", "libicu", "libpyside6", "libshiboken6")),
    ("OpenCV (FFmpeg, OpenBLAS stubbed)", ("cv2", "opencv_python_headless.libs", "libopenblasp", "libavif", "libaom",
                                 "libgfortran-83", "libquadmath-22")),
    ("ONNX Runtime", ("onnxruntime",)),
    ("numpy (+ its OpenBLAS)", ("numpy", "libscipy_openblas", "libgfortran-04", "libquadmath-96")),
    ("Python", ("libpython", "python3", "base_library.zip")),
    ("pydicom + decoders", ("pydicom", "_libjpeg", "_openjpeg", "rle", "pylibjpeg")),
    ("demo study (2 DICOMs)", ("data_store",)),
    ("models + icons", ("resources",)),
)


def disk_usage(path: Path) -> int:
    if path.is_symlink() or not path.exists():
        return 0
    if path.is_file():
        stat = path.stat()
        return getattr(stat, "st_blocks", 0) * 512 or stat.st_size
    return sum(disk_usage(p) for p in path.iterdir())


def size_table(app: Path) -> list[tuple[str, float]]:
    internal = app / "_internal"
    by_group: dict[str, int] = defaultdict(int)
    for entry in internal.iterdir():
        label = next((g for g, prefixes in GROUPS if entry.name.startswith(prefixes)), "other (system libs, metadata)")
        by_group[label] += disk_usage(entry)
    by_group["the executable"] += disk_usage(app / EXE)
    return sorted(((k, v / 2**20) for k, v in by_group.items()), key=lambda kv: -kv[1])


def evict(folder: Path) -> None:
    """Drop the folder's files from the page cache (clean pages only; affects nobody else)."""
    if not hasattr(os, "posix_fadvise"):
        return
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def timed(command: list[str], env: dict[str, str], cwd: Path, screenshot: Path | None) -> tuple[float, float, str]:
    """(seconds until ``screenshot`` appears (or exit), seconds until exit, stdout) of one process."""
    out_file = cwd / "stdout.txt"
    start = time.perf_counter()
    with open(out_file, "wb") as out:
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=subprocess.PIPE)
        first = None
        while process.poll() is None:
            if first is None and screenshot is not None and screenshot.exists():
                first = time.perf_counter() - start
            time.sleep(0.002)
    end = time.perf_counter() - start
    err = process.stderr.read().decode(errors="replace") if process.stderr else ""
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({process.returncode}):\n{err[-2000:]}")
    if screenshot is not None and not screenshot.exists():
        raise SystemExit(f"{' '.join(command)} wrote no screenshot:\n{err[-2000:]}")
    return (first if first is not None else end), end, out_file.read_text(errors="replace")


def build(dist: Path) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "PyInstaller", "--noconfirm", "--distpath", str(dist),
                    "--workpath", str(dist.parent / "build"), str(ROOT / "viewer.spec")],
                   cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


BARE_WINDOW = ("import sys; from PySide6.QtWidgets import QApplication, QLabel; app = QApplication(sys.argv); "
               "w = QLabel('first frame'); w.resize(1600, 1000); w.show(); app.processEvents(); "
               "w.grab().save(sys.argv[1])")
# The source install with a spy on the window's signals: when the image, then its findings, were
# shown (seconds since the interpreter started). It relies on MainWindow.image.image_shown and
# findings_shown; if those change, the row says so instead of a number.
SPY = """
import sys, time
T0 = time.perf_counter()
from pathlib import Path
import viewer.ui.app as app
marks = {}
class Spy(app.MainWindow):
    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.image.image_shown.connect(lambda *_: marks.setdefault('image', time.perf_counter() - T0))
        self.image.findings_shown.connect(lambda *_: marks.setdefault('findings', time.perf_counter() - T0))
app.MainWindow = Spy
model = Path(sys.argv[2]) if len(sys.argv) > 2 else None
code = app.run_gui(None, model, True, Path(sys.argv[1]))
print('SPY', marks.get('image', -1), marks.get('findings', -1))
sys.exit(code)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dist", type=Path, help="a built dist/ folder holding cxr-viewer/ (default: build one)")
    parser.add_argument("--runs", type=int, default=5, help="rounds (each row runs once per round)")
    parser.add_argument("--model", type=Path, help="classifier to pass with --model (default: the bundled demo model)")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="bench-bundle-"))
    try:
        build_seconds = None
        dist = args.dist
        if dist is None:
            dist = scratch / "dist"
            build_seconds = build(dist)
        app = dist / APP
        if not (app / EXE).is_file():
            raise SystemExit(f"no {APP}/{EXE} in {dist}")
        model_args = ["--model", str(args.model.resolve())] if args.model else []
        bundled_model = app / "_internal" / "resources" / "models" / "demo.onnx"
        # The source rows run the same model as the bundle, whatever the source tree holds.
        source_model = args.model.resolve() if args.model else bundled_model if bundled_model.is_file() else None
        source_model_args = ["--model", str(source_model)] if source_model else []
        if not model_args and not bundled_model.is_file():
            print("note: the bundle has no demo model and no --model was given: the viewer starts without "
                  "findings, so model loading and inference are not in these figures\n")

        venv_bin = Path(sys.executable).parent
        source_cli = shutil.which(APP, path=str(venv_bin))
        exe = str(app / EXE)
        # label, command (the screenshot path is appended), takes a screenshot, evict the bundle first
        rows: list[tuple[str, list[str], bool, bool]] = [
            ("venv: python -c 'import PySide6.QtWidgets'", [sys.executable, "-c", "import PySide6.QtWidgets"],
             False, False),
            ("venv: bare PySide6 window", [sys.executable, "-c", BARE_WINDOW], True, False),
            ("source: --demo (signal spy)", [sys.executable, "-c", SPY], True, False),
        ]
        if source_cli:
            rows.append(("source: cxr-viewer --demo --screenshot",
                         [source_cli, "--demo", *source_model_args, "--screenshot"], True, False))
        rows += [
            ("bundle: --version", [exe, "--version"], False, False),
            ("bundle: --demo --screenshot", [exe, "--demo", *model_args, "--screenshot"], True, False),
            ("bundle: same, its files evicted", [exe, "--demo", *model_args, "--screenshot"], True, True),
        ]
        base_env = {k: v for k, v in os.environ.items()
                    if k not in ("PYTHONPATH", "DISPLAY", "WAYLAND_DISPLAY", "LD_LIBRARY_PATH")}
        base_env["QT_QPA_PLATFORM"] = "offscreen"
        results: dict[str, list[tuple[float, float]]] = defaultdict(list)
        spy: list[tuple[float, float]] = []
        for round_ in range(args.runs + 1):  # round 0 warms the page cache and is not counted
            for index, (label, command, screenshot, cold) in enumerate(rows):
                home = scratch / f"home-{round_}-{index}"
                home.mkdir()
                env = dict(base_env, HOME=str(home), XDG_CACHE_HOME=str(home / "cache"),
                           XDG_CONFIG_HOME=str(home / "config"), PYTHONPATH=str(ROOT))
                shot = home / "first-frame.png" if screenshot else None
                full = command + ([str(shot)] if shot else [])
                if command[2:3] == [SPY] and source_model:
                    full.append(str(source_model))
                if cold:
                    evict(app)
                first, end, stdout = timed(full, env, home, shot)
                if round_:
                    results[label].append((first, end))
                    if command[2:3] == [SPY]:
                        marks = next((line.split()[1:] for line in stdout.splitlines() if line.startswith("SPY")), None)
                        if marks:
                            spy.append((float(marks[0]), float(marks[1])))
                shutil.rmtree(home, ignore_errors=True)

        def med(values: list[float]) -> str:
            return f"{statistics.median(values):6.2f} ({min(values):5.2f})"

        source_label = "source: cxr-viewer --demo --screenshot"
        print(f"Start-up in seconds, median (min) of {args.runs} fresh processes, each in a new HOME; "
              f"{os.cpu_count()} cores, QT_QPA_PLATFORM=offscreen. 'screenshot' = the image and its findings are "
              "on screen (an upper bound on the first frame).")
        print(f"{'':40} {'screenshot':>14} {'exit':>14} {'exit vs source':>15}")
        for label, *_ in rows:
            firsts = [t[0] for t in results[label]]
            ends = [t[1] for t in results[label]]
            ratio = (f"{statistics.median(ends) / statistics.median(t[1] for t in results[source_label]):14.2f}x"
                     if source_label in results and label.startswith("bundle: --demo") else "")
            print(f"{label:40} {med(firsts) if rows[[r[0] for r in rows].index(label)][2] else '':>14} "
                  f"{med(ends):>14} {ratio:>15}")
        valid = [m for m in spy if m[0] >= 0]
        if valid:
            print(f"{'  of which, in the source run:':40} image shown {med([m[0] for m in valid])}, "
                  f"findings shown {med([m[1] for m in valid if m[1] >= 0] or [float('nan')])}")
        else:
            print("  (the signal spy found no image_shown/findings_shown signals: MainWindow changed)")
        total = disk_usage(app) / 2**20
        print(f"\nBundle {app}: {total:.0f} MiB on disk (target {TARGET_MIB}), "
              f"first frame target {TARGET_SECONDS:.0f} s"
              + (f"; built in {build_seconds:.0f} s" if build_seconds is not None else ""))
        for label, mib in size_table(app):
            print(f"  {label:40} {mib:7.1f} MiB")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
