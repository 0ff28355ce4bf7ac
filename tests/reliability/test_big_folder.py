"""Issue 19's 100,000-file folder at the size a test run affords: ``bench/big_folder.py`` makes
it (links to generated images here, so it runs on every clone; ``./run bench --only big``
measures the 100,000 files), and the window and the batch must keep to the issue's targets
in ways that do not depend on the machine's speed:

* the first image is on screen before the scan ends (the order of the window's events);
* the browser holds every image the scan found, and scrolled to its end shows its last row;
* resident memory grows by at most 50 MB per 10,000 images scanned and analysed, measured as
  the difference between two folders (what one image more costs, not the window's own start):
  not met today (about 190 MB here, measured), so a strict expected failure that turns into a
  failure the day it is met, beside a bound at today's cost that catches it getting worse;
* the batch's memory is flat: as high at a quarter of its rows as at the end.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.big import levels, per_10k_mb, scroll_steps, wait_for
from bench.big_folder import Sources, make_big_folder, real_sources, synthetic_sources
from bench.common import family_rss_mib
from tests.conftest import SHARED_DATA
from tests.factories import make_model_pair
from tests.reliability.test_memory import resident
from viewer.core.batch import run_batch
from viewer.core.batch_shard import Shard
from viewer.core.scan import ScannedImage, SkippedFile, scan_folder

MIB = 1 << 20
TARGET_MB_PER_10K = 50  # issue 19
TODAY_MB_PER_10K = 190  # measured here 185-230, 2026-12-07 (docs/benchmarks.md, row 8, for 100,000 files)
WAIT_S = 240  # an upper bound for a loaded machine, not a performance claim


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Sources:
    return synthetic_sources(tmp_path_factory.mktemp("sources"))


def listing(root: Path) -> list[tuple[str, str]]:
    """Every entry under ``root``: its relative path and what it is (a link's target, a file's
    size)."""
    found = []
    for folder, _dirs, files in os.walk(root):
        for name in files:
            path = Path(folder) / name
            what = f"-> {os.readlink(path)}" if path.is_symlink() else f"{path.stat().st_size} bytes"
            found.append((path.relative_to(root).as_posix(), what))
    return sorted(found)


def test_the_folder_is_the_same_for_a_seed_and_the_scan_finds_what_it_holds(tmp_path: Path, sources: Sources) -> None:
    big = make_big_folder(tmp_path / "a", 1500, sources)
    assert listing(big.root) == listing(make_big_folder(tmp_path / "b", 1500, sources).root)
    assert listing(big.root) != listing(make_big_folder(tmp_path / "c", 1500, sources, seed=20).root)
    entries = listing(big.root)
    assert len(entries) == big.entries == 1500 and big.junk == 120
    targets = {str(p.resolve()) for p in sources.pngs + sources.dicoms}
    links = [what[3:] for _name, what in entries if what.startswith("-> ") and not what.endswith(".missing")]
    assert len(links) == big.links and set(links) <= targets  # links, never copies
    assert all(int(what.split()[0]) <= 2048 for _name, what in entries if what.endswith("bytes"))  # junk is tiny
    pacs = [name for name, _ in entries if name.startswith("pacs/") and "junk" not in name]
    assert len(pacs) >= big.dicom_links and all(name.count("/") == 4 for name in pacs)  # patient/study/series

    items = list(scan_folder(big.root))
    images = [item for item in items if isinstance(item, ScannedImage)]
    assert len(images) == big.links + big.cut_pngs  # a cut PNG's header is whole: listed, fails to decode
    assert sum(isinstance(item, SkippedFile) for item in items) == big.junk - big.cut_pngs
    assert big.cut_pngs > 0 and len({image.patient_key for image in images}) > 100  # NIH names: many patients


@pytest.mark.shared_data
def test_the_real_sources_are_the_shared_data() -> None:
    found = real_sources(SHARED_DATA)
    assert found is not None and len(found.pngs) >= 500 and len(found.dicoms) >= 4


# -- the window ---------------------------------------------------------------------------------
def open_and_analyse(window: Any, folder: Path) -> dict[str, Any]:
    """Open ``folder`` in ``window`` and wait for its scan and its analysis: the order of the
    first image on screen and the scan's end, the images found and analysed, and the resident
    MiB then (this process, settled, and its child processes)."""
    events: list[str] = []
    done: list[bool] = []

    def shown(*_args: object) -> None:
        events.append("image shown")

    def scanned(_count: int) -> None:
        events.append("scan done")

    window.image.image_shown.connect(shown)
    window.folder.scan_done.connect(scanned)
    window.folder.analysis_done.connect(lambda: done.append(True))
    try:
        window.open_path(folder)
        wait_for(lambda: bool(done) and "image shown" in events, WAIT_S)
        window.image.wait()
    finally:
        window.image.image_shown.disconnect(shown)
        window.folder.scan_done.disconnect(scanned)
    mib = resident() / MIB + family_rss_mib() - family_rss_mib(children=False)
    return {"events": events, "images": window.browser.model.image_count(), "analysed": len(window.folder.rows),
            "mib": mib}


@pytest.fixture(scope="module")
def window_run(qapp, tmp_path_factory: pytest.TempPathFactory, sources: Sources) -> Iterator[dict[str, Any]]:
    """One window (a real tiny model) opens a small folder, again, then a big one: what each
    showed and cost, and the browser scrolled over the big one."""
    from viewer.ui.main_window import MainWindow
    from viewer.ui.settings import AppSettings

    root = tmp_path_factory.mktemp("big-window")
    small = make_big_folder(root / "small", 300, sources, seed=1)
    big = make_big_folder(root / "big", 1500, sources, seed=2)
    window = MainWindow(AppSettings.at(root / "settings" / "cxr-viewer.ini"), make_model_pair(root / "model"))
    window.resize(1400, 900)
    window.show()
    try:
        wait_for(lambda: window.models.predictor is not None, WAIT_S)
        open_and_analyse(window, small.root)  # the window's first folder: fonts, caches, the first image
        runs = {"small": open_and_analyse(window, small.root), "big": open_and_analyse(window, big.root)}
        runs["found"] = sum(isinstance(item, ScannedImage) for item in scan_folder(big.root))
        runs["scrolled"] = scroll_steps(window.browser.tree, wheel_steps=5, jumps=5)
        yield runs
    finally:
        window.close()
        qapp.processEvents()
        gc.collect()


@pytest.mark.slow
def test_the_first_image_is_on_screen_before_the_scan_ends(window_run: dict[str, Any]) -> None:
    for run in (window_run["small"], window_run["big"]):
        assert run["events"].index("image shown") < run["events"].index("scan done"), run["events"]


@pytest.mark.slow
def test_the_browser_holds_every_image_and_scrolls_to_the_last(window_run: dict[str, Any]) -> None:
    big = window_run["big"]
    assert big["images"] == window_run["found"] == big["analysed"]  # every image in the browser, and analysed
    assert window_run["scrolled"]["wheel_moved"] and window_run["scrolled"]["last_row_shown"]


def memory_per_10k(window_run: dict[str, Any]) -> float:
    """What 1,200 images more cost the window, scanned and analysed, as MB per 10,000: the two
    folders' difference. Resident memory is read after a collection and malloc_trim
    (``test_memory.resident``; the analysis's worker process as it is); repeated, it reads 185 to
    230 MB per 10,000 here: within the bound below, and far from the target."""
    small, big = window_run["small"], window_run["big"]
    return per_10k_mb(big["mib"] - small["mib"], big["images"] - small["images"])


@pytest.mark.slow
def test_the_window_memory_per_image_is_no_worse_than_today(window_run: dict[str, Any]) -> None:
    per_10k = memory_per_10k(window_run)
    assert 0 < per_10k <= 1.5 * TODAY_MB_PER_10K, f"{per_10k:.0f} MB per 10,000 images scanned and analysed"


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="issue 19's target is not met: about 190 MB per 10,000 images scanned and "
                   "analysed in the window here (the browser's rows and the analysis's kept rows); "
                   "docs/benchmarks.md, row 8")
def test_the_window_memory_per_image_meets_the_issue_target(window_run: dict[str, Any]) -> None:
    per_10k = memory_per_10k(window_run)
    assert per_10k <= TARGET_MB_PER_10K, f"{per_10k:.0f} MB per 10,000 images scanned and analysed"


# -- the batch ----------------------------------------------------------------------------------
@pytest.mark.slow
def test_the_batch_memory_is_flat_over_a_big_folder(tmp_path: Path, tiny_model: Path, sources: Sources) -> None:
    big = make_big_folder(tmp_path / "big", 6000, sources, seed=3)
    samples: list[tuple[int, float]] = []

    def progress(done: int, total: int | None, ok: int, errors: int, kept: int) -> None:
        rows = ok + errors
        if rows and (not samples or rows >= samples[-1][0] + 50 or (total and done >= total)):
            samples.append((rows, resident() / MIB))

    summary = run_batch(big.root, tmp_path / "out.csv", tiny_model, threads=1, on_progress=progress,
                        shard=Shard(1, 2))
    assert summary.finished and summary.rows > 2500
    at = levels(samples, 0, summary.rows)
    # Flat: what the rows after the first quarter added (about 2,000 of them) stays within the
    # readings' noise; a leak of each row's prepared input (64 x 64 float32) would be 31 MiB.
    assert at["100"] - at["25"] < 4, {n: f"{mib:.0f}" for n, mib in samples}
