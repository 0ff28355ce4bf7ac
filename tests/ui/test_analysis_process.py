"""The folder analysis as the user meets it on a folder of many images: it runs in a worker
process (so the window stays quick), survives that process being killed, gives way to the image
the user opens, and the image after the one on screen is prepared ahead.

Oracles: ``Predictor.predict`` in the test's process for the findings; the process table for
the worker (a child of this process running multiprocessing's spawn).
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from tests.factories import make_model_pair
from tests.ui.browser_helpers import click_row, nih_pngs, open_folder_from_menu, proxy_index
from tests.ui.conftest import WAIT_MS, wait_for_findings
from viewer.core.analysis_pool import PROCESS_FROM
from viewer.core.inference import Predictor
from viewer.core.resources import demo_model_path

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
COUNT = PROCESS_FROM + 8


def analysis_workers() -> list[int]:
    """This process's children that are multiprocessing workers."""
    pids = []
    for task in Path("/proc/self/task").iterdir():
        try:
            pids += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    workers = []
    for pid in pids:
        try:
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                workers.append(pid)
        except OSError:
            continue
    return workers


def test_a_folder_of_many_images_is_analysed_in_a_worker_with_the_findings_predict_gives(
        qtbot, make_window, tmp_path: Path, monkeypatch) -> None:
    paths = nih_pngs(tmp_path / "folder", COUNT)
    model = make_model_pair(tmp_path / "model")
    window = make_window(model)
    seen: set[int] = set()
    window.folder.rows_analysed.connect(lambda _rows: seen.update(analysis_workers()))
    with qtbot.waitSignal(window.folder.analysis_done, timeout=4 * WAIT_MS):
        open_folder_from_menu(qtbot, window, tmp_path / "folder", monkeypatch)
    assert seen, "no worker process ran while the analysis did"
    here = Predictor.open(model, 1)
    for path in paths:
        findings = window.folder.findings_for(path)
        assert findings is not None, path.name
        np.testing.assert_allclose(findings.probabilities, here.predict(path).probabilities, atol=1e-5)
    window.close()
    qtbot.waitUntil(lambda: not set(analysis_workers()) & seen, timeout=WAIT_MS)


def test_a_worker_killed_mid_analysis_is_started_again_and_every_image_gets_its_findings(
        qtbot, make_window, tmp_path: Path, monkeypatch) -> None:
    paths = nih_pngs(tmp_path / "folder", COUNT)
    window = make_window(demo_model_path())
    killed: list[int] = []

    def kill_the_worker(_rows) -> None:
        if not killed:
            for pid in analysis_workers():
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

    window.folder.rows_analysed.connect(kill_the_worker)
    with qtbot.waitSignal(window.folder.analysis_done, timeout=8 * WAIT_MS):
        open_folder_from_menu(qtbot, window, tmp_path / "folder", monkeypatch)
    assert killed, "the test never saw the worker"
    missing = [p.name for p in paths if window.folder.findings_for(p) is None]
    assert not missing, f"no findings after the worker was killed: {missing}"
    assert window.errors.count() == 0, "an image lost with the worker was reported as an error"


def test_the_image_the_user_opens_makes_the_analysis_give_way_until_its_findings_show(
        qtbot, make_window, tmp_path: Path, monkeypatch) -> None:
    paths = nih_pngs(tmp_path / "folder", COUNT)
    window = make_window(demo_model_path())
    waits: list[tuple[bool, bool]] = []  # (waiting, the analysis giving way) as each change lands
    window.image.waiting_for_model.connect(lambda on: waits.append((on, window.folder.giving_way)))
    open_folder_from_menu(qtbot, window, tmp_path / "folder", monkeypatch)
    wait_for_findings(qtbot, window)
    qtbot.waitUntil(lambda: window.folder.analysing and bool(analysis_workers()), timeout=WAIT_MS)
    last = paths[-1]
    assert window.folder.findings_for(last) is None, "the analysis got to the last image first: a bigger folder"
    waits.clear()

    click_row(qtbot, window.browser, proxy_index(window.browser, last))
    assert waits[:1] == [(True, True)], "opening an image not yet analysed did not pause the analysis"
    qtbot.waitUntil(lambda: window.image.analysed is not None and window.image.analysed.path == last,
                    timeout=WAIT_MS)
    assert waits[-1] == (False, False) and not window.folder.giving_way
    with qtbot.waitSignal(window.folder.analysis_done, timeout=8 * WAIT_MS):
        pass
    assert all(window.folder.findings_for(p) is not None for p in paths)


def test_the_next_image_is_prepared_ahead_and_shown_with_its_findings_at_once(
        qtbot, make_window, tmp_path: Path, monkeypatch) -> None:
    paths = nih_pngs(tmp_path / "folder", 4)
    window = make_window(make_model_pair(tmp_path / "model"))
    open_folder_from_menu(qtbot, window, tmp_path / "folder", monkeypatch)
    browser = window.browser
    click_row(qtbot, browser, proxy_index(browser, paths[1]))
    qtbot.waitUntil(lambda: window.image.analysed is not None and window.image.analysed.path == paths[1],
                    timeout=WAIT_MS)
    following = browser.visible_images()[browser.visible_images().index(browser.current_image()) + 1].path
    qtbot.waitUntil(lambda: window.image.prepared_ahead() == following, timeout=WAIT_MS)

    browser.tree.setFocus()
    qtbot.keyClick(browser.tree, Qt.Key.Key_Down)
    # no waiting: the image and its findings were there already
    assert window.image.loaded is not None and window.image.loaded.path == following
    assert window.image.analysed is not None and window.image.analysed.path == following
    assert window.canvas.radiograph is not None and window.canvas.radiograph.path == following
