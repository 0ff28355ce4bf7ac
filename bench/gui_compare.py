"""Row 9: reading against a prior in a linked 1x2 layout (run in ``bench.gui``'s child process).

Two pairs of one patient's studies (RG1 written as four studies of one patient, a year apart:
no shared data needed) are opened once, so that each viewport's image is decoded. Then the
measurement is what the GUI thread does when the user switches between the pairs with both
images of each decoded: each viewport gets its image (``set_image``, the links carry the window
and the view across) and both are repainted. The baseline, in the same run, is one repaint of
one view, the cost of any frame. A linked zoom step (the wheel over the reading viewport, both
repainted) is a second row.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import pydicom
from pydicom.uid import generate_uid

from .common import Row, ms, rg1_path
from .gui import Gui

FRAME_MS = 16.0


def _studies(folder: Path, count: int) -> list[Path]:
    """RG1 as ``count`` studies of one patient, a year apart (the newest first on disk)."""
    source = pydicom.dcmread(rg1_path())
    paths = []
    for i in range(count):
        ds = source.copy()
        ds.PatientID, ds.PatientName = "BENCH-1", "BENCH^PRIOR"
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = generate_uid(), generate_uid(), generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.StudyDate = f"{2024 - i}0301"
        path = folder / f"study_{i}.dcm"
        path.parent.mkdir(parents=True, exist_ok=True)
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def compare_rows(model: Path, _data: Path | None, scratch: Path, quick: bool) -> list[Row]:
    repeats = 5 if quick else 40
    folder = scratch / "compare"
    newest, prior, older, _oldest = _studies(folder, 4)
    gui = Gui(model, scratch)
    try:
        window = gui.window
        window.open_path(folder)
        gui.wait(lambda: not window.folder.scanning and window.browser.current_image() is not None)
        beside = window.comparison.beside

        def shown(current: Path, before: Path) -> bool:
            reading = window.image.loaded
            other = beside[0].session.loaded if beside else None
            return reading is not None and reading.path == current and other is not None and other.path == before

        pairs = []
        for current, before in ((newest, prior), (prior, older)):
            window.browser.select_path(current)
            gui.wait(lambda c=current, b=before: shown(c, b))
            pairs.append((window.image.loaded, beside[0].session.loaded, window.image.scanned, beside[0].image))
        if window.comparison.layout_name != "1x2":
            raise RuntimeError(f"a study with priors hung in {window.comparison.layout_name}, not 1x2")
        reading, other = window.canvas, window.comparison.beside[0].viewport.canvas

        switch, zoom, single = [], [], []
        for i in range(repeats + 2):
            loaded_now, loaded_before, scanned_now, scanned_before = pairs[i % 2]
            start = time.perf_counter()
            reading.set_image(loaded_now.radiograph, loaded_now.renderer, loaded_now.frames, scanned_now)
            other.set_image(loaded_before.radiograph, loaded_before.renderer, loaded_before.frames, scanned_before)
            reading.repaint()
            other.repaint()
            switched = time.perf_counter()
            reading.zoom_by(1.1)  # what a wheel notch does; the link zooms the other
            reading.repaint()
            other.repaint()
            zoomed = time.perf_counter()
            reading.repaint()
            end = time.perf_counter()
            if i >= 2:
                switch.append((switched - start) * 1000)
                zoom.append((zoomed - switched) * 1000)
                single.append((end - zoomed) * 1000)
    finally:
        gui.close()
    base = statistics.median(single)
    rows = []
    for what, times in (("switch to another pair of decoded images -> both viewports repainted", switch),
                        ("zoom step (linked) -> both viewports repainted", zoom)):
        ours = statistics.median(times)
        p95 = sorted(times)[int(0.95 * (len(times) - 1))]
        rows.append(Row("9", f"linked 1x2 (RG1 1841x1955 beside its prior): {what}", ms(ours),
                        f"{ms(base)} one view repainted", ours / base, f"< {FRAME_MS:.0f} ms", ours < FRAME_MS,
                        f"p95 {p95:.1f} ms, max {max(times):.1f} ms; median of {len(times)}"))
    return rows
