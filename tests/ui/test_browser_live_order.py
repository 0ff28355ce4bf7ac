"""The triage order while a folder is being analysed: results arrive under the user's pointer
and selection, and the list must not move under them; it takes its order at a pause."""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import QPoint, Qt

from tests.ui.browser_helpers import (
    Scripted,
    choose_triage_order,
    click_row,
    nih_pngs,
    open_folder_from_menu,
    proxy_index,
    script_findings,
    scripted_model,
    shown_names,
)
from tests.ui.conftest import WAIT_MS
from viewer.ui.browser import SUMMARY_ROLE
from viewer.ui.browser_model import IMAGE_ROLE

COUNT = 12  # taller than the browser: the list scrolls


def test_results_arriving_do_not_move_the_rows_under_the_pointer_and_the_order_comes_at_a_pause(
        qtbot, make_window, tmp_path: Path, monkeypatch, screenshot) -> None:
    folder = tmp_path / "nih"
    paths = nih_pngs(folder, COUNT)
    # Every image flagged, the last strongest: the triage order is the folder's, reversed.
    table = {p.name: Scripted({"Mass": 0.35 + 0.05 * i}) for i, p in enumerate(paths)}
    gate = threading.Event()  # the model answers when the test opens the gate
    window = make_window(scripted_model(tmp_path / "model", {"Mass": 0.3}))
    try:
        script_findings(qtbot, window, table, gate)
        open_folder_from_menu(qtbot, window, folder, monkeypatch)
        browser, tree = window.browser, window.browser.tree
        choose_triage_order(qtbot, browser)
        assert shown_names(browser) == [p.name for p in paths]  # nothing analysed yet

        # The user selects image 3 and rests the pointer on image 6's row.
        click_row(qtbot, browser, proxy_index(browser, paths[2]))
        qtbot.waitUntil(lambda: window.image.path == paths[2], timeout=WAIT_MS)
        pointer = tree.visualRect(proxy_index(browser, paths[5])).center()
        qtbot.mouseMove(tree.viewport(), pointer)
        selected_top = tree.visualRect(tree.currentIndex()).top()
        assert tree.indexAt(pointer).data(IMAGE_ROLE).path == paths[5]
        tree_place = (tree.mapTo(window, QPoint(0, 0)), tree.width())

        # Every result arrives while the pointer is there.
        with qtbot.waitSignal(window.folder.analysis_done, timeout=WAIT_MS):
            gate.set()
        assert all(browser.model.item_for(p).data(SUMMARY_ROLE) is not None for p in paths)
        assert browser.current_image().path == paths[2]
        assert tree.visualRect(tree.currentIndex()).top() == selected_top  # the selection stayed put
        assert tree.indexAt(pointer).data(IMAGE_ROLE).path == paths[5]  # so did the row under the pointer
        assert (tree.mapTo(window, QPoint(0, 0)), tree.width()) == tree_place  # and the list itself
        assert browser.order_pending() and browser.resort_button.isEnabled()  # the user can ask for it
        screenshot(window, "results-arrived-under-the-pointer")

        # A click where the pointer rests selects the row the user sees there.
        qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=pointer)
        assert browser.current_image().path == paths[5]
        selected_top = tree.visualRect(tree.currentIndex()).top()

        # The pointer leaves the list: at the pause, the list takes the triage order, and the
        # selected row keeps its place on screen.
        qtbot.mouseMove(window.canvas, QPoint(window.canvas.width() // 2, window.canvas.height() // 2))
        qtbot.waitUntil(lambda: shown_names(browser) == [p.name for p in reversed(paths)], timeout=WAIT_MS)
        assert browser.current_image().path == paths[5]
        assert tree.visualRect(tree.currentIndex()).top() == selected_top
        assert tree.viewport().rect().contains(tree.visualRect(tree.currentIndex()))
        assert not browser.order_pending() and not browser.resort_button.isEnabled()
        screenshot(window, "sorted-at-the-pause")
    finally:
        gate.set()  # never leave a worker waiting
