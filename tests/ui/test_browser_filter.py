"""The browser's filter as the user types it: what it hides says so, and a filter kept from
the last folder never leaves the new one blank."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt

from tests.ui.browser_helpers import (
    Scripted,
    nih_pngs,
    open_folder_from_menu,
    script_findings,
    scripted_model,
    shown_names,
)
from tests.ui.conftest import WAIT_MS, wait_for_image


def test_a_filter_kept_from_the_last_folder_still_opens_the_first_image_and_says_what_it_hides(
        qtbot, make_window, tmp_path: Path, monkeypatch, screenshot) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    nih_pngs(first, 2)
    new_images = nih_pngs(second, 5)
    window = make_window(None, "no model")
    browser = window.browser
    open_folder_from_menu(qtbot, window, first, monkeypatch)
    wait_for_image(qtbot, window)

    qtbot.keyClicks(browser.filter, "hernia")  # nothing here is called that
    assert shown_names(browser) == []
    open_folder_from_menu(qtbot, window, second, monkeypatch)

    # The new folder's first image opens although the filter hides every row...
    qtbot.waitUntil(lambda: window.canvas.radiograph is not None
                    and window.canvas.radiograph.path == new_images[0], timeout=WAIT_MS)
    assert shown_names(browser) == []
    # ...and the browser says why it is empty, with the way out one click away.
    qtbot.waitUntil(lambda: browser.filter_status.text() == "0 of 5 shown: filter 'hernia'", timeout=WAIT_MS)
    assert browser.filter_status.isVisible()
    assert browser.clear_filter_button.isVisible()
    screenshot(window, "filter-hides-the-new-folder")

    qtbot.mouseClick(browser.clear_filter_button, Qt.MouseButton.LeftButton)
    assert browser.filter.text() == ""
    assert shown_names(browser) == [p.name for p in new_images]
    assert not browser.filter_status.isVisible()
    # The image on screen is the row selected once the filter shows it.
    assert browser.current_image() is not None and browser.current_image().path == new_images[0]
    wait_for_image(qtbot, window)
    screenshot(window, "filter-cleared")


def retype(qtbot, line_edit, text: str) -> None:
    """Select what the filter holds (Ctrl+A) and type ``text`` over it."""
    line_edit.setFocus()
    qtbot.keyClick(line_edit, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(line_edit, text)


def test_the_filter_tells_ground_truth_from_model_flags(qtbot, make_window, tmp_path: Path, monkeypatch,
                                                        screenshot) -> None:
    # Image 1: NIH label Cardiomegaly, and the model flags Hernia at 0.08 (threshold 0.05).
    # Image 2: NIH label Hernia, not flagged. Image 3: No Finding, nothing flagged.
    folder = tmp_path / "nih"
    paths = nih_pngs(folder, 3, labels={0: "Cardiomegaly", 1: "Hernia", 2: "No Finding"})
    window = make_window(scripted_model(tmp_path / "model", {"Hernia": 0.05}))
    script_findings(qtbot, window, {paths[0].name: Scripted({"Hernia": 0.08})})
    with qtbot.waitSignal(window.folder.analysis_done, timeout=WAIT_MS):
        open_folder_from_menu(qtbot, window, folder, monkeypatch)
    browser = window.browser
    names = [p.name for p in paths]

    retype(qtbot, browser.filter, "label:hernia")  # the dataset's ground truth only
    assert shown_names(browser) == [names[1]]
    retype(qtbot, browser.filter, "flag:hernia")  # the model's flags at the operating point only
    assert shown_names(browser) == [names[0]]
    retype(qtbot, browser.filter, "label:no finding")
    assert shown_names(browser) == [names[2]]
    retype(qtbot, browser.filter, "LABEL: Cardiomegaly")
    assert shown_names(browser) == [names[0]]

    # Plain text finds both, and each row says which matched.
    retype(qtbot, browser.filter, "hernia")
    assert shown_names(browser) == names[:2]
    assert browser.row_text(paths[0])[-1] == "matches: flag Hernia 0.08"
    assert browser.row_text(paths[1])[-1] == "matches: label Hernia"
    screenshot(window, "plain-text-says-what-matched")
    retype(qtbot, browser.filter, "flag:hernia")
    assert browser.row_text(paths[0])[-1] == "matches: flag Hernia 0.08"
