"""The study browser shows a patient's name and ID only while Show Patient Identity is on, as the
canvas does: screenshots of the window, and anyone looking over the reader's shoulder, see a
pseudonymous patient number, age and sex until the reader asks for the identity."""

from __future__ import annotations

from pathlib import Path

from tests.ui.conftest import WAIT_MS
from tests.ui.images import chest_dicom, chest_png

NAME, PATIENT_ID = "QUORVATH^ZENDRIC", "QZ-5518-0042"


def _browser_texts(window) -> list[str]:
    """Every row's text and tooltip, as the tree shows them (groups expanded)."""
    model, texts = window.browser.tree.model(), []

    def walk(parent) -> None:
        for row in range(model.rowCount(parent)):
            index = model.index(row, 0, parent)
            texts.append(str(model.data(index) or ""))
            texts.append(str(model.data(index, 3) or ""))  # ToolTipRole
            walk(index)

    from PySide6.QtCore import QModelIndex

    walk(QModelIndex())
    return texts


def test_the_browser_shows_identity_only_behind_the_toggle(qtbot, make_window, tiny_model: Path,
                                                         tmp_path: Path, screenshot) -> None:
    folder = tmp_path / "export"
    chest_dicom(folder / "IM000001.dcm", seed=1, patient_name=NAME, patient_id=PATIENT_ID)
    chest_png(folder / "nih" / "00000001_000.png", seed=2)
    window = make_window(tiny_model)
    done: list[int] = []
    window.folder.scan_done.connect(done.append)
    window.open_path(folder)
    qtbot.waitUntil(lambda: bool(done), timeout=WAIT_MS)
    hidden = " | ".join(_browser_texts(window))
    assert "QUORVATH" not in hidden.upper() and "ZENDRIC" not in hidden.upper() and PATIENT_ID not in hidden
    assert "NIH patient 1" not in hidden and "Patient 1" in hidden and "Patient 2" in hidden
    screenshot(window, "identity-hidden")

    window.act_show_identity.trigger()  # the reader asks for it
    shown = " | ".join(_browser_texts(window))
    assert "QUORVATH ZENDRIC" in shown.upper() and PATIENT_ID in shown and "NIH patient 1" in shown
    screenshot(window, "identity-shown")

    window.act_show_identity.trigger()
    again = " | ".join(_browser_texts(window))
    assert "ZENDRIC" not in again.upper() and PATIENT_ID not in again and "Patient 1" in again
