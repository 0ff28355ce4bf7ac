"""The browser's filter as the user types it: what it hides says so, and a filter kept from
the last folder never leaves the new one blank."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt

from tests.ui.browser_helpers import nih_pngs, open_folder_from_menu, shown_names
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
