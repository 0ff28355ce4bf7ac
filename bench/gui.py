"""Rows 1(iii), 2, 3 and 7: the real window (offscreen), measured from its own signals.

Each section runs in a child process (``python -m bench.gui SECTION ...``): a fresh process
without torch, so the memory row measures the viewer alone, and Qt's offscreen platform works
the same on a server. Times are taken in the slots of the window's events, after a synchronous
``repaint()`` of the canvas, so "on screen" means the pixels have been painted.

* ``ui``: (1iii) open a file -> image on screen -> findings on screen, for an NIH PNG and RG1,
  each repetition on another copy (another path: no cache can answer); (2) click another finding
  in the findings list -> canvas repainted, against a repaint alone.
* ``scan``: (3) a generated folder of 1,000 files (links to real DICOM and NIH PNG files): scan
  rate in the window against ``scan_folder`` alone, time to the first image on screen, and the
  longest gap between the ticks of a 1 ms timer on the GUI thread while the scan runs.
* ``memory``: (7) browse 500 images one after the other (each shown with its findings) and
  read the resident memory after every 100 and its peak.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .common import (
    NO_SHARED,
    ROOT,
    Row,
    Settings,
    link_or_copy,
    make_folder,
    ms,
    nih_images,
    real_dicoms,
    rg1_path,
    rss_mib,
)

TIMEOUT_S = 600


def run_child(section: str, settings: Settings) -> list[Row]:
    """Run ``section`` in a fresh offscreen process; its rows come back as JSON."""
    out = settings.scratch / f"{section}.json"
    command = [sys.executable, "-m", "bench.gui", section, "--model", str(settings.model),
               "--scratch", str(settings.scratch / section), "--out", str(out)]
    if settings.data is not None:
        command += ["--data", str(settings.data)]
    if settings.quick:
        command.append("--quick")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run(command, cwd=ROOT, env=env, timeout=TIMEOUT_S * 2, capture_output=True, text=True)
    if done.returncode != 0 or not out.exists():
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"bench.gui {section} exited {done.returncode}: {tail[0][:200]}")
    return [Row(**row) for row in json.loads(out.read_text())]


# -- in the child ------------------------------------------------------------------------------------
class Gui:
    """The application, one main window with the model, and waiting helpers."""

    def __init__(self, model: Path, scratch: Path) -> None:
        from PySide6.QtWidgets import QApplication

        from viewer.ui.main_window import MainWindow
        from viewer.ui.settings import AppSettings

        self.app = QApplication.instance() or QApplication([])
        scratch.mkdir(parents=True, exist_ok=True)
        self.window = MainWindow(AppSettings.at(scratch / "settings.ini"), model)
        self.window.resize(1400, 900)
        self.window.show()
        self.wait(lambda: self.window.models.decided)
        if self.window.models.predictor is None:
            raise RuntimeError(f"the window could not open the model: {self.window.models.reason}")

    def wait(self, condition: Callable[[], bool], timeout: float = TIMEOUT_S) -> None:
        """Run the event loop until ``condition()`` (checked every millisecond).

        The loop is a ``QEventLoop.exec()``, as the application's own: it lets the workers take
        the GIL while it waits. ``QTest.qWait`` keeps the GIL through its waits, which made the
        workers (and every figure behind them) about half as fast as in the real window.
        """
        from PySide6.QtCore import QEventLoop, Qt, QTimer

        if condition():
            return
        deadline = time.perf_counter() + timeout
        loop, poll = QEventLoop(), QTimer()
        poll.setTimerType(Qt.TimerType.PreciseTimer)
        poll.setInterval(1)
        expired = []

        def check() -> None:
            if condition():
                loop.quit()
            elif time.perf_counter() > deadline:
                expired.append(True)
                loop.quit()

        poll.timeout.connect(check)
        poll.start()
        loop.exec()
        poll.stop()
        if expired:
            raise TimeoutError("the window did not get there in time")

    def close(self) -> None:
        self.window.close()
        self.app.processEvents()


class Ticks:
    """A 1 ms timer on the GUI thread and when it fired: the gaps are how long the event loop
    could not run (a stall the user feels as a frozen window)."""

    def __init__(self) -> None:
        from PySide6.QtCore import Qt, QTimer

        self.times: list[float] = []
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(1)
        self.timer.timeout.connect(lambda: self.times.append(time.perf_counter()))

    def start(self) -> None:
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()

    @property
    def count(self) -> int:
        return len(self.times)

    def longest_gap_ms(self, start: float, end: float) -> float:
        during = [t for t in self.times if start - 0.1 <= t <= end + 0.01]
        return max((b - a) * 1000 for a, b in zip(during, during[1:])) if len(during) > 1 else float("nan")


def _open_timed(gui: Gui, path: Path) -> tuple[float, float]:
    """(ms to the image on screen, ms to its findings on screen) for opening ``path``."""
    window, marks = gui.window, {}

    def shown(_loaded: Any) -> None:
        window.canvas.repaint()
        marks.setdefault("image", time.perf_counter())

    def analysed(_analysed: Any) -> None:
        window.canvas.repaint()
        marks.setdefault("findings", time.perf_counter())

    def failed(*args: Any) -> None:
        marks["failed"] = args

    session = window.image
    connections = [(session.image_shown, shown), (session.findings_shown, analysed),
                   (session.image_failed, failed), (session.findings_unavailable, failed)]
    for signal, slot in connections:
        signal.connect(slot)
    try:
        start = time.perf_counter()
        session.open(path)
        gui.wait(lambda: "findings" in marks or "failed" in marks)
    finally:
        for signal, slot in connections:
            signal.disconnect(slot)
    if "failed" in marks:
        raise RuntimeError(f"{path.name}: {marks['failed']}")
    return (marks["image"] - start) * 1000, (marks["findings"] - start) * 1000


def _plain_read_ms(path: Path, repeats: int) -> float:
    import cv2
    from pydicom.pixels import pixel_array

    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        if path.suffix == ".dcm":
            pixel_array(path)
        else:
            cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _core_predict_ms(model: Path, paths: list[Path]) -> float:
    """The work behind the findings, without the window: load + preprocess + model + OOD."""
    from viewer.core.inference import Predictor

    predictor = Predictor.open(model, cache_size=0)
    predictor.predict(paths[0])
    times = []
    for path in paths:
        start = time.perf_counter()
        predictor.predict(path)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def ui_rows(model: Path, data: Path | None, scratch: Path, quick: bool) -> list[Row]:
    repeats = 3 if quick else 12
    cases = [("RG1_UNCR.dcm 1841x1955", rg1_path())]
    png = nih_images(data, size=1024, limit=1)
    if png:
        cases.insert(0, ("NIH PNG 1024x1024", png[0]))
    gui = Gui(model, scratch)
    rows: list[Row] = []
    if not png:
        rows.append(Row("1iii", "open NIH PNG 1024x1024 -> image / findings on screen", note=NO_SHARED))
    try:
        for name, source in cases:
            copies = [scratch / "open" / f"{i:03d}_{source.name}" for i in range(repeats + 1)]
            for copy in copies:
                link_or_copy(source, copy)
            _open_timed(gui, copies[0])  # warm-up
            timed = [_open_timed(gui, copy) for copy in copies[1:]]
            image_ms = statistics.median(t[0] for t in timed)
            findings_ms = statistics.median(t[1] for t in timed)
            first = all(t[0] < t[1] for t in timed)
            plain = _plain_read_ms(source, repeats)
            core = _core_predict_ms(model, copies[1:])
            rows.append(Row(
                "1iii", f"open {name} -> image on screen", ms(image_ms), f"{ms(plain)} plain read of the file",
                image_ms / plain, "before its findings", first,
                f"image before findings in {sum(t[0] < t[1] for t in timed)}/{len(timed)} opens; "
                f"median of {len(timed)}",
            ))
            rows.append(Row(
                "1iii", f"open {name} -> findings + heatmap on screen", ms(findings_ms),
                f"{ms(core)} Predictor.predict alone (decode+preprocess+model+OOD)", findings_ms / core,
                "after the image", first, "the window adds display, thumbnails, heatmap colouring",
            ))
        rows.append(_heatmap_switch(gui, repeats * 3))
    finally:
        gui.close()
    return rows


def _heatmap_switch(gui: Gui, repeats: int) -> Row:
    from PySide6.QtCore import QPoint, Qt
    from PySide6.QtTest import QTest

    window = gui.window
    labels = list(window.image.analysed.findings.labels)
    viewport = window.findings.list.viewport()
    switch, repaint, wrong = [], [], 0
    for i in range(repeats + 2):
        label = labels[(labels.index(window.image.selected_label) + 1 + i % 3) % len(labels)]
        center: QPoint = window.findings.row_rect(label).center()
        start = time.perf_counter()
        QTest.mouseClick(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, center)
        window.canvas.repaint()
        middle = time.perf_counter()
        window.canvas.repaint()
        end = time.perf_counter()
        wrong += window.canvas.heatmap_label != label
        if i >= 2:  # two warm-up clicks
            switch.append((middle - start) * 1000)
            repaint.append((end - middle) * 1000)
    ours, base = statistics.median(switch), statistics.median(repaint)
    p95 = sorted(switch)[int(0.95 * (len(switch) - 1))]
    note = f"p95 {p95:.1f} ms, max {max(switch):.1f} ms; median of {len(switch)}"
    if wrong:
        note += f"; {wrong} clicks did not show their finding"
    return Row("2", "click another finding -> canvas repainted with its heatmap", ms(ours),
               f"{ms(base)} repaint alone", ours / base, "< 16 ms", ours < 16 and not wrong, note)


def scan_rows(model: Path, data: Path | None, scratch: Path, quick: bool) -> list[Row]:
    from viewer.core.scan import ScannedImage, scan_folder

    count = 60 if quick else 1000
    sources = real_dicoms() + nih_images(data, limit=len(real_dicoms()) * 4)
    folder = scratch / "folder"
    make_folder(folder, sources, count)
    what = f"{count} files ({len(real_dicoms())} real DICOMs and {len(sources) - len(real_dicoms())} NIH PNGs, linked)"

    rounds = 1 if quick else 3
    core_rates, held, running = [], [], []
    for _ in range(rounds):  # in turn: scan_folder alone, the window before the analysis, the window with it
        start = time.perf_counter()
        found = sum(isinstance(item, ScannedImage) for item in scan_folder(folder))
        core_rates.append(found / (time.perf_counter() - start))
        held.append(_window_scan(model, folder, scratch, hold_analysis=True))
        running.append(_window_scan(model, folder, scratch, hold_analysis=False))
    core_rate = statistics.median(core_rates)
    held_rate = statistics.median(count / r["scan_s"] for r in held)
    running_rate = statistics.median(count / r["scan_s"] for r in running)
    first_ms = statistics.median(r["first_ms"] for r in running)
    scan_ms = statistics.median(r["scan_s"] * 1000 for r in running)
    stall = max(r["stall_ms"] for r in running + held)
    ticks = min(r["ticks"] for r in running + held)
    return [
        Row("3", f"folder scan, headers/s, the analysis not yet started: {what}", f"{held_rate:.0f}/s in the window",
            f"{core_rate:.0f}/s scan_folder alone", held_rate / core_rate, ">= 0.5", held_rate / core_rate >= 0.5,
            f"ratio = window / alone; {found} images found; the analysis held until the scan ended; "
            f"median of {rounds}"),
        Row("3", "folder scan, headers/s, with the folder analysis running", f"{running_rate:.0f}/s in the window",
            f"{core_rate:.0f}/s scan_folder alone", running_rate / core_rate, "", None,
            f"ratio = window / alone; the analysis (worker process) starts with the first images found; "
            f"median of {rounds}"),
        Row("3", "folder scan: first image on screen", ms(first_ms), f"{ms(scan_ms)} whole scan", first_ms / scan_ms,
            "< 1 (before the scan ends)", first_ms < scan_ms, "with the analysis running"),
        Row("3", "folder scan: longest event-loop stall (1 ms timer on the GUI thread)", ms(stall), "", None,
            "< 50 ms", stall < 50, f"worst of both kinds of scan; {ticks}+ timer ticks a scan"),
    ]


def _window_scan(model: Path, folder: Path, scratch: Path, *, hold_analysis: bool) -> dict[str, float]:
    """One window scanning ``folder``: the scan's seconds, ms to the first image on screen, the
    longest GUI stall. ``hold_analysis``: the folder analysis starts only when the scan ends
    (the bench holds what the session would give it), so the scan runs alone."""
    from PySide6.QtCore import QTimer

    gui = Gui(model, scratch)
    window, marks = gui.window, {}
    ticks = Ticks()
    session = window.folder
    held: list[Any] = []
    if hold_analysis:
        feed = session._feed_analysis

        def hold(images: list[Any]) -> None:
            if session.scanning:
                held.extend(images)
            else:
                feed(held + list(images))

        session._feed_analysis = hold  # type: ignore[method-assign]
        session.scan_done.connect(lambda _n: feed(list(held)))

    def first_shown(_loaded: Any) -> None:
        window.canvas.repaint()
        marks.setdefault("first", time.perf_counter())

    def begin() -> None:
        marks["start"] = time.perf_counter()
        window.open_path(folder)

    window.image.image_shown.connect(first_shown)
    session.scan_done.connect(lambda n: marks.setdefault("done", time.perf_counter()))
    try:
        ticks.start()
        QTimer.singleShot(5, begin)
        gui.wait(lambda: "done" in marks and "first" in marks)
        ticks.stop()
    finally:
        gui.close()
    t0, done = marks["start"], marks["done"]
    return {"scan_s": done - t0, "first_ms": (marks["first"] - t0) * 1000,
            "stall_ms": ticks.longest_gap_ms(t0, done), "ticks": ticks.count}


def memory_rows(model: Path, data: Path | None, scratch: Path, quick: bool) -> list[Row]:
    count = 30 if quick else 500
    step = 10 if quick else 100
    images = nih_images(data, limit=count)
    if len(images) < count:  # without the NIH sample: distinct links to real DICOMs
        images = make_folder(scratch / "browse", real_dicoms(), count)
        folder, kind = scratch / "browse", "links to real DICOMs"
    else:
        folder, kind = data / "images", "NIH sample PNGs"
    keep = {p.resolve() for p in images}
    gui = Gui(model, scratch)
    window, samples = gui.window, {}
    start_rss = rss_mib()[0]
    try:
        window.open_path(folder)
        gui.wait(lambda: not window.folder.scanning)
        order = [i.path for i in window.browser.visible_images() if i.path.resolve() in keep][:count]
        started = time.perf_counter()
        for n, path in enumerate(order, start=1):
            window.browser.select_path(path)
            gui.wait(lambda p=path: (window.image.analysed is not None and window.image.analysed.path == p)
                     or window.image.path != p)
            if n % step == 0:
                samples[n] = _settled_rss()
        seconds = time.perf_counter() - started
    finally:
        gui.close()
    peak = rss_mib()[1]
    first, last = samples[min(samples)], samples[max(samples)]
    growth = last - first
    series = ", ".join(f"{n}: {v:.0f}" for n, v in sorted(samples.items()))
    return [Row(
        "7", f"viewer memory after browsing {len(order)} images ({kind}, each with its findings)",
        f"peak {peak:.0f} MiB, now {last:.0f} MiB", f"{first:.0f} MiB after the first {min(samples)}", last / first,
        f"bounded: < {first:.0f} + 32 MiB", growth < 32,
        f"RSS (MiB) after n images: {series}; {start_rss:.0f} MiB with the window and model open; "
        f"{len(order) / seconds:.1f} images/s browsed",
    )]


def _settled_rss() -> float:
    """Resident MiB after a collection and ``malloc_trim`` (freed memory given back first, as
    tests/reliability/test_memory.py does), so growth means memory still held."""
    import ctypes

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:  # not glibc: more noise, same meaning
        pass
    return rss_mib()[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gui")
    parser.add_argument("section", choices=("ui", "scan", "memory", "analysis", "compare"))
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--data", type=Path)
    parser.add_argument("--scratch", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    if args.section == "analysis":
        from .gui_analysis import analysis_rows, open_while_analysing_rows

        rows = (analysis_rows(args.model, args.data, args.scratch, args.quick)
                + open_while_analysing_rows(args.model, args.data, args.scratch, args.quick))
    elif args.section == "compare":
        from .gui_compare import compare_rows

        rows = compare_rows(args.model, args.data, args.scratch, args.quick)
    else:
        section = {"ui": ui_rows, "scan": scan_rows, "memory": memory_rows}[args.section]
        rows = section(args.model, args.data, args.scratch, args.quick)
    args.out.write_text(json.dumps([r.to_dict() for r in rows]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
