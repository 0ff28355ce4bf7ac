"""Row 8: the 100,000-file folder of issue 19, in the real window (offscreen) and in the batch.

``bench/big_folder.py`` writes the folder: links to the shared data's NIH PNGs and DICOMs (or to
generated ones without it) in PACS-export and NIH-download layouts, with 8% junk. Two child
processes measure it, each fresh, so their resident memory is theirs alone:

* ``window``: the main window with the model opens the folder. (8a) when the first image is on
  screen against when the scan ends; (8b) the browser filled, scrolled: a wheel step, and the
  scroll bar dragged anywhere, each followed by a synchronous repaint of the tree, against one
  frame (16.7 ms); (8c) resident memory of the window's process and its child processes
  (settled: a collection and ``malloc_trim`` first) per 10,000 images scanned, and per 10,000
  analysed, the analysis being measured over its first ``analyse`` images after the scan (the
  whole folder would take an hour at the batch's speed), extrapolated.
* ``batch``: ``run_batch`` (what ``cxr-viewer batch`` runs) over the same folder, scoring one
  shard of it (``--shard``: the scan still lists and reads all of it; the shard bounds the
  time), its resident memory read as the rows are written: (8d) at 25% of the rows against
  100%, and the peak.

The folder analysis runs meanwhile in the window, as it does for a user: the scroll steps are
timed while it works.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .big_folder import BigFolder, make_big_folder, sources_for
from .common import ROOT, SHARED, Row, Settings, family_rss_mib, ms

COUNT = 100_000
QUICK_COUNT = 2_000
FRAME_MS = 1000 / 60
TARGET_MB_PER_10K = 50
MIB_PER_MB = 1e6 / (1 << 20)  # the target is in MB (10^6 bytes); RSS is read in MiB
TIMEOUT_S = 3600
IN_FLIGHT = 32  # rows the batch decodes ahead of the model, at most (two batches of 8, the decode workers)


def rows(settings: Settings) -> list[Row]:
    count = QUICK_COUNT if settings.quick else COUNT
    shared = settings.data.parent if settings.data is not None else (SHARED if SHARED.is_dir() else None)
    sources = sources_for(shared, settings.scratch)
    started = time.perf_counter()
    big = make_big_folder(settings.scratch / "big" / "folder", count, sources)
    made_s = time.perf_counter() - started
    window = _run_child("window", big.root, settings, ["--analyse", str(200 if settings.quick else 3000)])
    shards = 4 if settings.quick else 25
    batch = _run_child("batch", big.root, settings, ["--shard", f"1/{shards}"])
    what = f"{big.entries:,} files: {big.links:,} {sources.what}, {big.junk:,} junk"
    return window_rows(window, big, what, made_s) + [batch_row(batch, big, shards)]


def _run_child(kind: str, folder: Path, settings: Settings, extra: list[str]) -> dict[str, Any]:
    out = settings.scratch / f"big-{kind}.json"
    command = [sys.executable, "-m", "bench.big", kind, str(folder), "--model", str(settings.model),
               "--scratch", str(settings.scratch / f"big-{kind}"), "--out", str(out), *extra]
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run(command, cwd=ROOT, env=env, timeout=TIMEOUT_S, capture_output=True, text=True)
    if done.returncode != 0 or not out.exists():
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"bench.big {kind} exited {done.returncode}: {tail[0][:200]}")
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def per_10k_mb(growth_mib: float, images: int) -> float:
    """Resident growth in MiB over ``images`` as MB per 10,000 images."""
    return growth_mib / MIB_PER_MB * 10_000 / max(1, images)


def window_rows(m: dict[str, Any], big: BigFolder, what: str, made_s: float) -> list[Row]:
    first, scan = m["first_s"], m["scan_s"]
    scanned_images = m["images"] - m["images_early"]
    scanned = per_10k_mb(m["rss_scanned"] - m["rss_early"], scanned_images)
    analysed = per_10k_mb(m["rss_analysed"] - m["rss_before_analysis"], m["analysed"])
    wheel, jump = m["wheel_ms"], m["jump_ms"]
    rows_shown = f"{m['tree_rows']:,} rows ({m['images']:,} images)"
    last = "the last row shown at the bottom" if m["last_row_shown"] else "the LAST ROW NOT SHOWN at the bottom"
    whole = m["rss_open"] + (scanned + analysed) * MIB_PER_MB * m["images"] / 10_000
    return [
        Row("8", f"100k folder: first image on screen ({what})", f"{first:.2f} s", f"{scan:.1f} s whole scan",
            first / scan, "< 1 (before the scan ends)", first < scan,
            f"{m['images']:,} images found ({m['images'] / scan:.0f}/s in the window, the analysis running); "
            f"longest GUI stall during the scan {m['stall_ms']:.0f} ms; folder written in {made_s:.0f} s"),
        _scroll_row("browser scrolled by the wheel (3 rows a step; top, middle, bottom) + repaint", wheel,
                    m["repaint_ms"], rows_shown, last),
        _scroll_row("browser scroll bar dragged anywhere + repaint", jump, m["repaint_ms"], rows_shown, last),
        Row("8", f"RSS growth per 10,000 images scanned in the window ({scanned_images:,} images after the "
            "first fifth of the files)",
            f"{scanned:.1f} MB", f"{m['rss_early']:.0f} MiB a fifth into the scan", None,
            f"<= {TARGET_MB_PER_10K} MB", scanned <= TARGET_MB_PER_10K,
            f"window + child processes, settled: {m['rss_open']:.0f} MiB open, {m['rss_early']:.0f} at a fifth, "
            f"{m['rss_scanned']:.0f} at the end; {m['analysed_at_scan_end'] - m['analysed_early']:,} images "
            "analysed meanwhile, counted in"),
        Row("8", f"RSS growth per 10,000 images analysed (extrapolated from {m['analysed']:,} after the scan)",
            f"{analysed:.1f} MB", f"{m['rss_before_analysis']:.0f} MiB after the scan", None,
            f"<= {TARGET_MB_PER_10K} MB", analysed <= TARGET_MB_PER_10K,
            f"{m['rss_before_analysis']:.0f} -> {m['rss_analysed']:.0f} MiB over {m['analysed']:,} images in "
            f"{m['analysis_s']:.0f} s ({m['analysed'] / max(m['analysis_s'], 1e-9):.1f} images/s); child processes "
            f"{m['children_rss']:.0f} MiB"),
        Row("8", "RSS growth per 10,000 images scanned and analysed (the two above)", f"{scanned + analysed:.1f} MB",
            "", None, f"<= {TARGET_MB_PER_10K} MB", scanned + analysed <= TARGET_MB_PER_10K,
            f"the {m['images']:,}-image folder analysed whole: about {whole:,.0f} MiB"),
    ]


def _scroll_row(what: str, times: list[float], repaint_ms: float, rows_shown: str, last: str) -> Row:
    median, worst = statistics.median(times), max(times)
    p95 = sorted(times)[int(0.95 * (len(times) - 1))]
    return Row("8", f"{what}, over {rows_shown}", ms(median), f"{FRAME_MS:.1f} ms one frame (60 Hz)",
               median / FRAME_MS, "< 1 frame, worst step too", worst < FRAME_MS and "NOT" not in last,
               f"p95 {p95:.1f} ms, worst {worst:.1f} ms over {len(times)} steps; a repaint alone {repaint_ms:.1f} ms; "
               f"{last}; the folder analysis running")


def batch_row(m: dict[str, Any], big: BigFolder, shards: int) -> Row:
    at = m["rss_at"]  # percent of the rows -> MiB
    runs = [p for p in m["phases"] if p["last"] - p["first"] >= 200]  # long enough to have levels
    growth = max((p["at"]["100"] - p["at"]["25"] for p in runs), default=at["100"] - at["25"])
    words = {"nih": "NIH PNGs", "pacs": "DICOMs"}
    each = "; ".join(
        f"{words.get(p['kind'], p['kind'])} (rows {p['first']:,}-{p['last']:,}): "
        + ", ".join(f"{q}%: {p['at'][q]:.0f}" for q in ("25", "50", "75", "100"))
        # a shard's row stands for ``shards`` files of the scan, which keeps each new patient's,
        # study's and series' pseudonymous number to the end
        + f" ({per_10k_mb(p['at']['100'] - p['at']['25'], (p['last'] - p['first']) * 3 // 4 * shards):+.1f} MB "
        "per 10,000 files scanned)"
        for p in runs)
    return Row("8", f"cxr-viewer batch memory over the {big.entries:,}-file folder (shard 1/{shards}: "
               f"{m['rows']:,} rows scored, every file scanned)",
               f"{growth:+.0f} MiB", f"{at['25']:.0f} MiB at 25% of the rows", None,
               "flat: < 16 MiB from 25% to 100% of each kind's rows", growth < 16,
               f"settled RSS (MiB) at % of each kind's rows, each the median of the readings over the tenth of "
               f"its rows before ({len(m['samples'])} readings, one every 25 rows): {each}; peak {m['peak']:.0f} MiB; "
               f"{m['rows'] / m['seconds']:.1f} rows/s; {m['scan_files']:,} files")


# -- in the children ---------------------------------------------------------------------------
def settled_rss() -> float:
    """Resident MiB of this process and its children after a collection and ``malloc_trim``
    here (freed memory given back first), so growth means memory still held."""
    import ctypes

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:  # not glibc: more noise, same meaning
        pass
    return family_rss_mib()


def wait_for(condition: Callable[[], bool], timeout: float) -> None:
    """Run the Qt event loop until ``condition()`` (polled every 5 ms). A ``QEventLoop``, as the
    application's own: ``QTest.qWait`` keeps the GIL through its waits and slows the workers."""
    from PySide6.QtCore import QEventLoop, QTimer

    if condition():
        return
    deadline = time.perf_counter() + timeout
    loop, poll = QEventLoop(), QTimer()
    poll.setInterval(5)
    poll.timeout.connect(lambda: loop.quit() if condition() or time.perf_counter() > deadline else None)
    poll.start()
    loop.exec()
    poll.stop()
    if not condition():
        raise TimeoutError("the window did not get there in time")


def measure_window(folder: Path, model: Path, scratch: Path, analyse: int, analyse_s: float) -> dict[str, Any]:
    from PySide6.QtCore import Qt, QTimer
    from PySide6.QtWidgets import QApplication

    from viewer.ui.main_window import MainWindow
    from viewer.ui.settings import AppSettings

    app = QApplication.instance() or QApplication([])
    scratch.mkdir(parents=True, exist_ok=True)
    window = MainWindow(AppSettings.at(scratch / "settings.ini"), model)
    window.resize(1400, 900)
    window.show()
    wait_for(lambda: window.models.decided, 120)
    if window.models.predictor is None:
        raise RuntimeError(f"the window could not open the model: {window.models.reason}")
    marks: dict[str, float] = {}
    ticks: list[float] = []
    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.setInterval(1)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))

    def shown(_loaded: object) -> None:
        window.canvas.repaint()
        marks.setdefault("first", time.perf_counter())

    window.image.image_shown.connect(shown)
    window.folder.scan_done.connect(lambda _n: marks.setdefault("done", time.perf_counter()))
    early: dict[str, float] = {}

    def progressed(task: str, done: int, total: int) -> None:
        # A settled reading once a fifth of the files is read: from there on, what the scan
        # adds per image (the window's first image and first folder are paid before).
        if task == "Scanning" and total and done >= total / 5 and not early:
            early["begin"] = time.perf_counter()
            early.update(rss=settled_rss(), images=window.browser.model.image_count(),
                         analysed=len(window.folder.rows), end=time.perf_counter())

    window.folder.progressed.connect(progressed)
    result: dict[str, Any] = {"rss_open": settled_rss()}
    timer.start()
    start = time.perf_counter()
    window.open_path(folder)
    wait_for(lambda: "done" in marks and "first" in marks, TIMEOUT_S)
    timer.stop()
    during = [t for t in ticks if start <= t <= marks["done"]]
    gaps = [(b - a) * 1000 for a, b in zip(during, during[1:], strict=False)
            if not (early and a <= early["end"] and b >= early["begin"])]  # not the reading's own pause
    images = window.browser.model.image_count()
    result.update(
        first_s=marks["first"] - start, scan_s=marks["done"] - start, stall_ms=max(gaps, default=0.0),
        images=images, analysed_at_scan_end=len(window.folder.rows), rss_scanned=settled_rss(),
        rss_early=early.get("rss", result["rss_open"]), images_early=int(early.get("images", 0)),
        analysed_early=int(early.get("analysed", 0)),
    )
    result.update(scroll_steps(window.browser.tree))
    app.processEvents()
    analysed0, rss0, t0 = len(window.folder.rows), settled_rss(), time.perf_counter()
    wait_for(lambda: len(window.folder.rows) >= analysed0 + analyse or time.perf_counter() - t0 > analyse_s
             or not window.folder.scanning and window.folder._analysis is None, analyse_s + 60)
    analysed1, seconds = len(window.folder.rows), time.perf_counter() - t0
    result.update(rss_before_analysis=rss0, rss_analysed=settled_rss(), analysed=analysed1 - analysed0,
                  analysis_s=seconds, children_rss=family_rss_mib() - family_rss_mib(children=False))
    window.close()
    app.processEvents()
    return result


def scroll_steps(tree: Any, wheel_steps: int = 120, jumps: int = 60, seed: int = 19) -> dict[str, Any]:
    """Time scrolling ``tree`` (a filled ``QTreeView``): wheel steps down from the top, the
    middle and near the bottom (a third each: finding the rows at a pixel offset walks the rows
    above it), then the scroll bar moved to random places, each followed by a synchronous
    repaint of the view (what the user sees), against a repaint alone; and whether the last row
    shows at the bottom."""
    from PySide6.QtCore import QModelIndex, QPoint, QPointF, Qt
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    viewport, bar = tree.viewport(), tree.verticalScrollBar()
    QApplication.processEvents()
    viewport.repaint()
    centre = QPointF(viewport.rect().center())
    wheel, jump, repaint = [], [], []
    starts = (0, bar.maximum() // 2, bar.maximum() * 9 // 10)
    for step in range(wheel_steps):
        if step % max(1, wheel_steps // len(starts)) == 0:
            bar.setValue(starts[min(len(starts) - 1, step // max(1, wheel_steps // len(starts)))])
            viewport.repaint()
        event = QWheelEvent(centre, QPointF(viewport.mapToGlobal(centre.toPoint())), QPoint(0, 0), QPoint(0, -120),
                            Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase,
                            False)
        begin = time.perf_counter()
        QApplication.sendEvent(viewport, event)
        viewport.repaint()
        wheel.append((time.perf_counter() - begin) * 1000)
        begin = time.perf_counter()
        viewport.repaint()
        repaint.append((time.perf_counter() - begin) * 1000)
    places = random.Random(seed)
    for _ in range(jumps):
        value = places.randint(0, bar.maximum())
        begin = time.perf_counter()
        bar.setValue(value)
        viewport.repaint()
        jump.append((time.perf_counter() - begin) * 1000)
    bar.setValue(bar.maximum())
    viewport.repaint()
    model, last = tree.model(), QModelIndex()
    while model.rowCount(last) > 0:  # the last row of the tree, every group open
        last = model.index(model.rowCount(last) - 1, 0, last)
    rect = tree.visualRect(last)
    return {"wheel_ms": wheel, "jump_ms": jump, "repaint_ms": statistics.median(repaint),
            "tree_rows": _shown_rows(tree), "wheel_moved": bar.value() > 0,
            "last_row_shown": last.isValid() and viewport.rect().contains(rect)}


def _shown_rows(tree: Any) -> int:
    from PySide6.QtCore import QModelIndex

    model, count, stack = tree.model(), 0, [QModelIndex()]
    while stack:
        parent = stack.pop()
        rows = model.rowCount(parent)
        count += rows
        stack.extend(model.index(r, 0, parent) for r in range(rows) if model.hasChildren(model.index(r, 0, parent)))
    return count


def measure_batch(folder: Path, model: Path, scratch: Path, shard: str) -> dict[str, Any]:
    from viewer.core.batch import run_batch
    from viewer.core.batch_shard import parse_shard

    scratch.mkdir(parents=True, exist_ok=True)
    samples: list[tuple[int, float]] = []  # (rows written, settled MiB)
    files: list[int] = [0]
    every = 25  # rows between two readings

    def progress(done: int, total: int | None, ok: int, errors: int, kept: int) -> None:
        rows = ok + errors
        if rows and (not samples or rows >= samples[-1][0] + every or (total and done >= total)):
            samples.append((rows, settled_rss()))
        files[0] = total or done

    summary = run_batch(folder, scratch / "big.csv", model, threads=2, on_progress=progress,
                        shard=parse_shard(shard), overwrite=True)
    with open("/proc/self/status") as handle:
        peak = next(int(line.split()[1]) / 1024 for line in handle if line.startswith("VmHWM:"))
    return {"rows": summary.rows, "seconds": summary.seconds, "rss_at": levels(samples, 0, summary.rows),
            "phases": phases(samples, scratch / "big.csv"), "peak": peak, "scan_files": files[0], "samples": samples}


def phases(samples: list[tuple[int, float]], csv_path: Path) -> list[dict[str, Any]]:
    """The runs of rows of one kind (the folder's ``nih/`` PNGs, then its ``pacs/`` DICOMs, in
    the scan's order) and the resident levels within each: the images in flight differ (a
    1955 x 1841 DICOM decoded is 20 MB), which moves the level once, where the kind changes."""
    import csv

    with open(csv_path, newline="", encoding="utf-8") as handle:
        kinds = [row["path"].split("/", 1)[0] for row in csv.DictReader(handle)]
    found, first = [], 0
    for row in range(1, len(kinds) + 1):
        if row == len(kinds) or kinds[row] != kinds[first]:
            # the last rows of a kind are written while the next kind's images are decoded ahead
            end = row if row == len(kinds) else max(first + 1, row - IN_FLIGHT)
            found.append({"kind": kinds[first], "first": first, "last": end, "at": levels(samples, first, end)})
            first = row
    return found


def levels(samples: list[tuple[int, float]], first: int, last: int) -> dict[str, float]:
    """The resident level at 25, 50, 75 and 100% of the rows from ``first`` to ``last``: the
    median of the readings of the tenth of those rows before each. One reading alone depends on
    what is in flight then (the decoded images waiting for the model)."""
    found = {}
    for percent in (25, 50, 75, 100):
        high = first + (last - first) * percent / 100
        low = first + (last - first) * (percent - 10) / 100
        near = [mib for n, mib in samples if low <= n <= high] or [min(samples, key=lambda s: abs(s[0] - high))[1]]
        found[str(percent)] = statistics.median(near)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.big")
    parser.add_argument("kind", choices=("window", "batch"))
    parser.add_argument("folder", type=Path)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--scratch", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--analyse", type=int, default=3000, help="window: images analysed after the scan, at most")
    parser.add_argument("--analyse-seconds", type=float, default=300, help="window: ... or this long")
    parser.add_argument("--shard", default="1/25", help="batch: the shard scored")
    args = parser.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from viewer.core.process_settings import configure_process

    configure_process()
    if args.kind == "window":
        result = measure_window(args.folder, args.model, args.scratch, args.analyse, args.analyse_seconds)
    else:
        result = measure_batch(args.folder, args.model, args.scratch, args.shard)
    args.out.write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
