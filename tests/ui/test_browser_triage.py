"""The triage order as the user gets it: the model's findings at the operating point the
findings panel's slider sets, patients and studies by their best image."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt

from tests.ui.browser_helpers import (
    Scripted,
    choose_triage_order,
    nih_pngs,
    open_folder_from_menu,
    script_findings,
    scripted_model,
    shown_names,
)
from tests.ui.conftest import WAIT_MS, wait_for_findings
from viewer.ui.browser import SUMMARY_ROLE
from viewer.viewmodel.browser_summary import Tone, summary_line


def top_rows(browser) -> list[str]:
    return [browser.proxy.index(row, 0).data() for row in range(browser.proxy.rowCount())]


def test_moving_the_operating_point_reorders_patients_by_their_current_flags(
        qtbot, make_window, tmp_path: Path, monkeypatch, screenshot) -> None:
    # Patient 1's Hernia 0.69 is flagged at the card's threshold (0.6) and not once the slider
    # moves one step toward specificity; patient 2's Mass 0.67 (threshold 0.3) stays flagged.
    folder = tmp_path / "nih"
    first, second = nih_pngs(folder, 2)
    window = make_window(scripted_model(tmp_path / "model", {"Hernia": 0.6, "Mass": 0.3}))
    script_findings(qtbot, window, {first.name: Scripted({"Hernia": 0.69}), second.name: Scripted({"Mass": 0.67})})
    with qtbot.waitSignal(window.folder.analysis_done, timeout=WAIT_MS):
        open_folder_from_menu(qtbot, window, folder, monkeypatch)
    browser = window.browser
    choose_triage_order(qtbot, browser)
    assert shown_names(browser) == [first.name, second.name]  # 1.69 before 1.67: both flagged
    assert top_rows(browser)[0].startswith("Patient 1")  # NIH patient 1, named while identity is shown

    # The user moves the operating point one step to the left with the keyboard.
    wait_for_findings(qtbot, window)
    slider = window.findings.sensitivity
    slider.setFocus()
    qtbot.keyClick(slider, Qt.Key.Key_Left)
    assert slider.value() == -1
    flagged = {path.name: browser.model.item_for(path).data(SUMMARY_ROLE).flagged
               for path in (first, second)}
    assert flagged[first.name] == () and flagged[second.name] != ()  # the flags did follow
    # The flagged patient now comes first, its row and its image.
    assert top_rows(browser)[0].startswith("Patient 2"), top_rows(browser)
    assert shown_names(browser) == [second.name, first.name]
    screenshot(window, "more-specific")

    # And back: the order follows the flags both ways.
    qtbot.keyClick(slider, Qt.Key.Key_Right)
    assert top_rows(browser)[0].startswith("Patient 1") and shown_names(browser) == [first.name, second.name]


def test_an_image_that_is_not_a_frontal_chest_sorts_apart_untriaged(
        qtbot, make_window, tmp_path: Path, monkeypatch, screenshot) -> None:
    # Image 1 fails the out-of-distribution check with a strong "flag": it must not lead the
    # triage list, but follow every image the model could triage, saying why.
    folder = tmp_path / "nih"
    paths = nih_pngs(folder, 4)
    window = make_window(scripted_model(tmp_path / "model", {"Mass": 0.3}))
    script_findings(qtbot, window, {
        paths[0].name: Scripted({"Mass": 0.97}, ood=True),
        paths[1].name: Scripted({"Mass": 0.6}),
        paths[2].name: Scripted({"Mass": 0.2}),
        paths[3].name: Scripted({"Mass": 0.1}),
    })
    with qtbot.waitSignal(window.folder.analysis_done, timeout=WAIT_MS):
        open_folder_from_menu(qtbot, window, folder, monkeypatch)
    browser = window.browser
    choose_triage_order(qtbot, browser)
    assert shown_names(browser) == [paths[1].name, paths[2].name, paths[3].name, paths[0].name]
    assert top_rows(browser)[-1].startswith("Patient 1")
    line = summary_line(browser.model.item_for(paths[0]).data(SUMMARY_ROLE))
    assert line.text == "\N{WARNING SIGN} not a frontal chest: not triaged", line
    assert line.tone is Tone.OUT_OF_DISTRIBUTION
    # Flagged only means flagged for triage: not the image whose flags mean nothing.
    browser.flagged_only.setChecked(True)
    assert shown_names(browser) == [paths[1].name]
    browser.flagged_only.setChecked(False)
    screenshot(window, "not-triaged-last")
