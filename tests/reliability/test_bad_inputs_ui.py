"""The bad-input corpus in the viewer's window: every file that cannot be shown is listed in the
errors panel with its reason, the good ones are shown and analysed, opening each file directly
(as File > Open File does) shows it or says why not, the GUI keeps processing events all along
(counted with a zero-interval timer, never timed) without doing work that grows faster than
the number of files, and nothing is written into the folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from tests.reliability.corpus import Case, Snapshot, empty_files
from tests.reliability.gui import Awaited, GuiWork, Ticks, open_and_wait
from tests.ui.conftest import WAIT_MS
from viewer.core.errors import display_name

pytestmark = pytest.mark.timeout(600)


def test_the_viewer_lists_every_bad_file_and_stays_usable(qtbot, make_window, tiny_model: Path,
                                                          corpus: tuple[Path, list[Case]]) -> None:
    root, cases = corpus
    before = Snapshot.of(root)
    window = make_window(tiny_model)
    qtbot.waitUntil(lambda: window.models.predictor is not None, timeout=WAIT_MS)
    with Ticks() as ticks, GuiWork(budget=2_000 * len(cases)) as work:
        awaited = Awaited(window.folder.scan_done, window.folder.analysis_done)
        window.open_path(root)
        awaited.wait(WAIT_MS * 5)
    assert ticks.count > 0  # the event loop ran while the workers scanned and analysed
    assert not work.over, f"the GUI thread made more than {work.budget:,} calls for {len(cases)} files"

    errors: dict[str, list[str]] = {}
    for file, reason in window.errors.entries():
        errors.setdefault(file, []).append(reason)
    wrong = []
    for case in cases:
        shown_name = display_name(case.path_text)
        reasons = errors.get(shown_name, [])
        if case.loads:
            row = window.folder.rows.get(case.path(root))
            thumbnail = window.browser.model.item_for(case.path(root))
            thumbnail = thumbnail.data(Qt.ItemDataRole.DecorationRole) if thumbnail is not None else None
            if reasons or row is None or row.findings is None or thumbnail is None:
                wrong.append(f"{case.kind}: should have been analysed; errors {reasons}")
        elif len(reasons) != 1 or not all(f in reasons[0] for f in case.fragments):
            wrong.append(f"{case.kind}: expected one error with {case.fragments}, got {reasons}")
    assert not wrong, "\n".join(wrong)
    assert window.errors.count() == sum(not c.loads for c in cases)
    assert window.errors_button.text() == f"{window.errors.count()} error(s)"

    # Each file opened directly: the good ones are shown, the others say why on the canvas.
    with Ticks() as ticks, GuiWork(budget=5_000 * len(cases)) as work:
        for case in cases:
            outcome, reason = open_and_wait(window, case.path(root))
            assert outcome == ("shown" if case.loads else "failed"), (case.kind, reason)
            if not case.loads:
                assert window.canvas.radiograph is None
                assert all(f in reason for f in case.fragments), (case.kind, reason)
    assert ticks.count > 0 and not work.over

    # ... and the viewer still does its work afterwards.
    good = next(c for c in cases if c.kind.startswith("valid DICOM"))
    assert open_and_wait(window, good.path(root)) == ("shown", "")
    qtbot.waitUntil(lambda: window.image.analysed is not None, timeout=WAIT_MS)
    assert window.canvas.radiograph.path == good.path(root) and window.canvas.heatmap_label
    assert Snapshot.of(root).difference(before) == []


def test_a_folder_of_10000_empty_files_in_the_viewer(qtbot, make_window, tmp_path: Path) -> None:
    """10,000 errors reach the panel without the GUI thread doing work per file that grows with
    the number of files: 200 calls per file is 4x what a linear errors panel needs, 1/50 of
    what one that compares each new row with every listed row needs at this size."""
    n = 10_000
    root = empty_files(tmp_path / "exported", n)
    before = Snapshot.of(root)
    window = make_window(None, "no model in this test")
    with Ticks() as ticks, GuiWork(budget=200 * n) as work:
        awaited = Awaited(window.folder.scan_done)
        window.open_path(root)
        fired = awaited.wait(WAIT_MS * 5)
    assert not work.over, f"the GUI thread made more than {work.budget:,} calls for {n:,} files"
    assert fired == [(0, (0,))] and window.errors.count() == n
    assert window.errors.entries()[-1] == ("09999.dcm", "empty file (0 bytes)")
    assert ticks.count > 0
    assert Snapshot.of(root).difference(before) == []
