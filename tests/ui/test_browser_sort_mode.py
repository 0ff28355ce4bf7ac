"""The browser's sort mode as a setting sees it: read, set, and told when the user changes it."""

from __future__ import annotations

from PySide6.QtCore import Qt

from viewer.ui.browser import StudyBrowser
from viewer.viewmodel.browser_order import SORT_FOLDER, SORT_LABELS, SORT_TRIAGE


def test_the_sort_mode_is_read_set_and_announced(qtbot) -> None:
    browser = StudyBrowser()
    qtbot.addWidget(browser)
    browser.show()
    announced: list[str] = []
    browser.sort_mode_changed.connect(announced.append)
    assert browser.sort_mode() == SORT_FOLDER

    # The user picks the other order with the keyboard: the setting is told.
    browser.sort_box.setFocus()
    qtbot.keyClick(browser.sort_box, Qt.Key.Key_Down)
    assert browser.sort_mode() == SORT_TRIAGE and announced == [SORT_TRIAGE]
    assert browser.sort_box.currentText() == SORT_LABELS[SORT_TRIAGE]
    assert browser.proxy.mode == SORT_TRIAGE

    # A stored setting restores it; a value from an old settings file changes nothing.
    assert browser.set_sort_mode(SORT_FOLDER) and browser.sort_mode() == SORT_FOLDER
    assert announced == [SORT_TRIAGE, SORT_FOLDER]
    assert not browser.set_sort_mode("Triage order") and browser.sort_mode() == SORT_FOLDER  # a label, not a mode
    assert not browser.set_sort_mode("") and announced == [SORT_TRIAGE, SORT_FOLDER]
