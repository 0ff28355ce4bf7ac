"""Rows 4w and 1iv: the folder analysis in the real window (offscreen), run by ``bench.gui``.

* ``analysis`` (4w): a folder of real images (NIH PNGs and chest DICOMs, linked) analysed by
  ``cxr-viewer batch`` (``run_batch``) and by the window with the user idle, in turn, on their
  own: images/s of each, and the longest gap between the ticks of a 1 ms timer on the GUI
  thread while the window analyses. The window's time runs from opening the folder to the
  analysis's end (the scan, starting the worker process and the first image shown included);
  the batch's from its call to its return (the scan, opening the model and the CSV included).
* ``open while analysing`` (1iv): while the window analyses a folder, the user opens images
  the analysis has not reached (a click on the browser's row); the time to the findings and
  heatmap on screen against ``Predictor.predict`` alone on the same files. Then the next image
  in the browser's order (a step down), which the window prepares ahead while the user looks.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from .common import NO_SHARED, Row, make_folder, ms, nih_images, real_dicoms
from .gui import Gui, Ticks, _core_predict_ms


def _folder(data: Path | None, scratch: Path, count: int) -> Path | None:
    """``count`` links: mostly NIH PNGs, a quarter chest DICOMs (as row 4's folder)."""
    nih = nih_images(data, limit=count)
    if not nih:
        return None
    chest = [p for p in real_dicoms() if p.name.startswith("RG")]
    sources = nih[: count - count // 4] + chest
    folder = scratch / "analysed"
    if not folder.exists():
        make_folder(folder, sources, count, per_subfolder=count)
    return folder


def analysis_rows(model: Path, data: Path | None, scratch: Path, quick: bool) -> list[Row]:
    from viewer.core.batch import run_batch

    count = 40 if quick else 240
    folder = _folder(data, scratch, count)
    if folder is None:
        return [Row("4w", "folder analysis in the window against cxr-viewer batch", note=NO_SHARED)]
    batch_rates, window_rates, stalls, ticks_seen = [], [], [], []
    for round_ in range(1 if quick else 2):
        started = time.perf_counter()
        summary = run_batch(folder, scratch / f"batch{round_}.csv", model)
        batch_rates.append(summary.ok / (time.perf_counter() - started))
        rate, stall, ticks = _window_analysis(model, folder, scratch, count)
        window_rates.append(rate)
        stalls.append(stall)
        ticks_seen.append(ticks)
    batch, window = statistics.median(batch_rates), statistics.median(window_rates)
    stall = max(stalls)
    rounds = f"{len(batch_rates)} round(s), each side on its own, in turn"
    return [
        Row("4w", f"folder analysis in the window, user idle, {count} images (NIH PNGs + chest DICOMs)",
            f"{window:.1f} images/s", f"{batch:.1f} images/s cxr-viewer batch (run_batch) on the same folder",
            window / batch, ">= 0.8", window / batch >= 0.8,
            f"ratio = window / batch; {rounds}; window: open folder -> analysis done, worker start included; "
            f"per round: window {', '.join(f'{r:.1f}' for r in window_rates)}, "
            f"batch {', '.join(f'{r:.1f}' for r in batch_rates)} images/s"),
        Row("4w", "folder analysis: longest event-loop stall (1 ms timer on the GUI thread)", ms(stall), "", None,
            "< 50 ms", stall < 50, f"worst of the rounds; {min(ticks_seen)}+ timer ticks a round"),
    ]


def _window_analysis(model: Path, folder: Path, scratch: Path, count: int) -> tuple[float, float, int]:
    """(images/s, longest GUI stall in ms, ticks) of one window analysing ``folder``."""
    gui = Gui(model, scratch)
    window, marks = gui.window, {}
    ticker = Ticks()
    window.folder.analysis_done.connect(lambda: marks.setdefault("done", time.perf_counter()))
    try:
        ticker.start()
        marks["start"] = time.perf_counter()
        window.open_path(folder)
        gui.wait(lambda: "done" in marks)
        ticker.stop()
        analysed = len(window.folder.rows)
    finally:
        gui.close()
    if analysed != count:
        raise RuntimeError(f"the window analysed {analysed} of {count} images")
    seconds = marks["done"] - marks["start"]
    return count / seconds, ticker.longest_gap_ms(marks["start"], marks["done"]), ticker.count


def open_while_analysing_rows(model: Path, data: Path | None, scratch: Path, quick: bool) -> list[Row]:
    count = 40 if quick else 240
    opens = 3 if quick else 10
    folder = _folder(data, scratch, count)
    if folder is None:
        return [Row("1iv", "open an image while the folder analysis runs", note=NO_SHARED)]
    gui = Gui(model, scratch)
    window = gui.window
    cold: list[float] = []
    ahead: list[float] = []
    opened: list[Path] = []
    running_at_open: list[bool] = []
    try:
        window.open_path(folder)
        gui.wait(lambda: not window.folder.scanning and len(window.folder.rows) >= 16)
        order = [image.path for image in window.browser.visible_images()]
        # from the end of the folder, where the analysis gets last; two apart, so that the one
        # after each (prepared ahead) is never the next one opened cold
        candidates = order[::-1][2::3]
        for path in candidates:
            if len(cold) >= opens:
                break
            if window.folder.findings_for(path) is not None:
                continue
            running_at_open.append(window.folder.analysing)
            cold.append(_click_timed(gui, lambda p=path: window.browser.select_path(p), path))
            opened.append(path)
            # the user looks at the image a moment; meanwhile the next one is prepared
            gui.wait(lambda: window.image.prepared_ahead() is not None, timeout=30)
            nxt = window.image.prepared_ahead()
            start = time.perf_counter()
            window.browser.step(1)
            current = window.browser.current_image()
            if nxt is not None and current is not None and current.path == nxt:
                ahead.append(_findings_timed(gui, nxt, start))
    finally:
        gui.close()
    core = _core_predict_ms(model, opened)
    cold_ms, ahead_ms = statistics.median(cold), statistics.median(ahead) if ahead else float("nan")
    note = (f"median of {len(cold)} opens, {sum(running_at_open)} of them while the analysis ran; "
            "opened as a click on the browser row does (select_path)")
    return [
        Row("1iv", "open an image not yet analysed while the folder analysis runs -> findings + heatmap on screen",
            ms(cold_ms), f"{ms(core)} Predictor.predict alone (decode+preprocess+model+OOD)", cold_ms / core,
            "<= 1.5", cold_ms / core <= 1.5, note),
        Row("1iv", "then the next image in the browser (prepared ahead) -> findings + heatmap on screen",
            ms(ahead_ms), f"{ms(core)} Predictor.predict alone", ahead_ms / core, "prepared ahead (< 1)",
            ahead_ms / core < 1, f"median of {len(ahead)} steps (Down), after the opened image's findings"),
    ]


def _click_timed(gui: Gui, click: Any, path: Path) -> float:
    """ms from ``click()`` to ``path``'s findings and heatmap on screen."""
    start = time.perf_counter()
    click()
    return _findings_timed(gui, path, start)


def _findings_timed(gui: Gui, path: Path, start: float | None = None) -> float:
    window, marks = gui.window, {}

    def shown(analysed: Any) -> None:
        if analysed.path == path:
            window.canvas.repaint()
            marks.setdefault("findings", time.perf_counter())

    window.image.findings_shown.connect(shown)
    try:
        begin = time.perf_counter() if start is None else start
        if window.image.analysed is not None and window.image.analysed.path == path:
            window.canvas.repaint()
            marks["findings"] = time.perf_counter()
        gui.wait(lambda: "findings" in marks)
    finally:
        window.image.findings_shown.disconnect(shown)
    return (marks["findings"] - begin) * 1000
