"""Compare with prior, PA + lateral, hanging layouts and linked views, through keys and the mouse.

The NIH sample's patient 1 has three follow-ups (00000001_000/_001/_002); generated DICOM
studies of one patient are told apart only by their StudyDate, and stored on disk in the other
order. Findings are checked against ``Predictor.predict`` on each file, the independent path.
"""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid
from PySide6.QtCore import QPointF, Qt

from tests.conftest import shared_path
from tests.ui.browser_helpers import click_row, proxy_index
from tests.ui.canvas_helpers import activate, drag, open_folder, wait_for_path, wheel
from tests.ui.conftest import WAIT_MS
from tests.ui.images import chest_dicom
from viewer.core.inference import Predictor
from viewer.ui.image_session import LATERAL_REFUSED
from viewer.ui.main_window import MainWindow
from viewer.viewmodel.view_link import fit_zoom, link_window

ALT = Qt.KeyboardModifier.AltModifier


def nih_patient_one(folder: Path) -> Path:
    """Links to patient 1's three NIH follow-ups and another patient's image."""
    images = shared_path("nih-sample", "images")
    folder.mkdir(parents=True)
    for name in ("00000001_000.png", "00000001_001.png", "00000001_002.png", "00000002_000.png"):
        (folder / name).symlink_to(images / name)
    return folder


def open_nih_patient_one(qtbot, make_window, model: Path, tmp_path: Path, name: str) -> tuple[MainWindow, Path]:
    """A window on patient 1's follow-ups, ``name`` opened by a click on its row."""
    folder = nih_patient_one(tmp_path / "nih")
    window = make_window(model)
    open_folder(qtbot, window, folder)
    open_image(qtbot, window, folder / name)
    return window, folder


def dicom_study(path: Path, *, patient: str, study_date: str, view: str = "PA", study_uid: str | None = None,
                seed: int = 0, size: int = 96, instance: int = 1) -> Path:
    chest_dicom(path, seed=seed, size=size, patient_name=f"{patient}^TEST", patient_id=f"ID-{patient}",
                study_uid=study_uid or generate_uid())
    ds = pydicom.dcmread(path)
    ds.StudyDate, ds.StudyTime = study_date, "101500"
    ds.ViewPosition = view
    ds.InstanceNumber = instance
    ds.save_as(path, enforce_file_format=True)
    return path


def real_copy(path: Path, *, patient: str, study_uid: str, view: str, instance: int) -> Path:
    """A copy of a real radiograph (pydicom-data's RG1, a PA chest CR) tagged as ``view`` of a
    study: none of the real files is a lateral, so a lateral is a tagged copy."""
    source = get_testdata_file("RG1_UNCR.dcm")
    if source is None:
        pytest.skip("pydicom-data's RG1_UNCR.dcm is not installed")
    ds = pydicom.dcmread(source)
    ds.PatientID, ds.PatientName, ds.StudyInstanceUID = f"ID-{patient}", f"{patient}^TEST", study_uid
    ds.SeriesInstanceUID, ds.SOPInstanceUID = generate_uid(), generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.ViewPosition, ds.InstanceNumber, ds.SeriesNumber = view, instance, instance
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def open_image(qtbot, window: MainWindow, path: Path) -> None:
    """Click the image's row in the browser and wait until it is on the reading canvas."""
    click_row(qtbot, window.browser, proxy_index(window.browser, path))
    wait_for_path(qtbot, window, path)


def press(qtbot, window: MainWindow, key: Qt.Key, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    activate(qtbot, window)
    qtbot.keyClick(window.canvas, key, modifiers)


def beside_canvas(window: MainWindow):
    return window.comparison.beside[0].viewport.canvas


def wait_for_both(qtbot, window: MainWindow, beside: Path) -> None:
    canvas = beside_canvas(window)
    qtbot.waitUntil(lambda: canvas.radiograph is not None and canvas.radiograph.path == beside, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: window.image.analysed is not None
                    and window.comparison.beside[0].session.analysed is not None
                    and bool(window.comparison_panel.changes), timeout=WAIT_MS)


def expected_rows(model: Path, before: Path, now: Path) -> dict[str, tuple[str, str]]:
    predictor = Predictor(model)
    a, b = predictor.predict(before), predictor.predict(now)
    return {label: (f"{a.probability(label):.2f}", f"{b.probability(label):.2f}") for label in a.labels}


def relative_zoom(canvas) -> float:
    rg = canvas.radiograph
    return canvas.view.zoom / fit_zoom(canvas.view, (rg.width, rg.height), (canvas.width(), canvas.height()))


def centre_fraction(canvas) -> tuple[float, float]:
    rg = canvas.radiograph
    return canvas.view.center[0] / rg.width, canvas.view.center[1] / rg.height


def test_compare_puts_the_prior_follow_up_beside_with_the_change_of_each_finding(
        qtbot, make_window, tiny_model, tmp_path) -> None:
    window, folder = open_nih_patient_one(qtbot, make_window, tiny_model, tmp_path, "00000001_001.png")
    press(qtbot, window, Qt.Key.Key_1, ALT)  # one image: remembered for images with priors
    assert window.comparison.layout_name == "1x1" and not window.comparison_dock.isVisible()

    press(qtbot, window, Qt.Key.Key_C)  # View > Compare with Prior
    assert window.comparison.layout_name == "1x2" and window.layout_actions["1x2"].isChecked()
    wait_for_both(qtbot, window, folder / "00000001_000.png")
    assert window.comparison_dock.isVisible()
    assert window.comparison.beside[0].viewport.title.text().startswith("Prior")
    rows = {row[0]: row for row in window.comparison_panel.row_texts()}
    expected = expected_rows(tiny_model, folder / "00000001_000.png", folder / "00000001_001.png")
    assert {label: (row[1], row[2]) for label, row in rows.items()} == expected
    for change in window.comparison_panel.changes:  # the change column follows from the two values
        assert rows[change.label][3] == change.change_text


def test_zoom_pan_and_window_are_each_linked_both_ways_until_unlinked(
        qtbot, make_window, tiny_model, tmp_path) -> None:
    window, folder = open_nih_patient_one(qtbot, make_window, tiny_model, tmp_path, "00000001_001.png")
    press(qtbot, window, Qt.Key.Key_C)
    wait_for_both(qtbot, window, folder / "00000001_000.png")
    reading, other = window.canvas, beside_canvas(window)
    middle = QPointF(reading.width() / 2, reading.height() / 2)

    wheel(reading, middle + QPointF(-60, 40), 3)  # the wheel zooms (in the default mouse layout)
    assert relative_zoom(reading) > 1.2
    assert relative_zoom(other) == pytest.approx(relative_zoom(reading))
    assert centre_fraction(other) == pytest.approx(centre_fraction(reading))

    press(qtbot, window, Qt.Key.Key_P)  # pan: the image moves under the mouse
    drag(qtbot, reading, middle, middle + QPointF(90, -50))
    assert centre_fraction(other) == pytest.approx(centre_fraction(reading))

    press(qtbot, window, Qt.Key.Key_W)  # window/level
    default = other.window
    drag(qtbot, reading, middle, middle + QPointF(70, 45))
    assert other.window != default
    assert other.window == link_window(reading.window, reading.renderer.default_window, other.renderer.default_window)

    drag(qtbot, other, middle, middle + QPointF(-30, 20))  # the link works from either side
    assert reading.window == link_window(other.window, other.renderer.default_window, reading.renderer.default_window)

    press(qtbot, window, Qt.Key.Key_L)  # unlink
    assert not window.act_link_views.isChecked()
    kept_window, kept_centre = other.window, centre_fraction(other)
    drag(qtbot, reading, middle, middle + QPointF(-80, -30))
    wheel(reading, middle, 2)
    assert other.window == kept_window and centre_fraction(other) == pytest.approx(kept_centre)


def test_the_selected_findings_heatmap_is_shown_on_both(qtbot, make_window, tiny_model, tmp_path) -> None:
    window, folder = open_nih_patient_one(qtbot, make_window, tiny_model, tmp_path, "00000001_002.png")
    press(qtbot, window, Qt.Key.Key_C)
    wait_for_both(qtbot, window, folder / "00000001_001.png")
    label = window.findings.model.rows()[-1].label  # the last row: not the finding shown first
    assert window.canvas.heatmap_label != label
    panel = window.findings
    panel.list.scrollTo(panel.model.index(panel.model.row_of(label)))
    qtbot.mouseClick(panel.list.viewport(), Qt.MouseButton.LeftButton, pos=panel.row_rect(label).center())
    assert window.canvas.heatmap_label == label
    assert beside_canvas(window).heatmap_label == label


def test_dicom_studies_are_ordered_by_study_date_not_by_file(qtbot, make_window, tiny_model, tmp_path) -> None:
    folder = tmp_path / "pacs"
    newer = dicom_study(folder / "a-first-on-disk.dcm", patient="SMITH", study_date="20240301", seed=1)
    older = dicom_study(folder / "b-second-on-disk.dcm", patient="SMITH", study_date="20190301", seed=2)
    dicom_study(folder / "c-other-patient.dcm", patient="JONES", study_date="20200101", seed=3)
    window = make_window(tiny_model)
    open_folder(qtbot, window, folder)
    # the scan's first image is shown as soon as it is found; its prior, found after it, hangs beside it
    wait_for_path(qtbot, window, newer)
    qtbot.waitUntil(lambda: window.comparison.beside and window.comparison.beside[0].image is not None
                    and window.comparison.beside[0].image.path == older, timeout=WAIT_MS)
    assert window.comparison.layout_name == "1x2"
    press(qtbot, window, Qt.Key.Key_1, ALT)
    press(qtbot, window, Qt.Key.Key_C)
    wait_for_both(qtbot, window, older)
    assert window.comparison.beside[0].viewport.title.text().startswith("Prior")
    assert {row[0]: (row[1], row[2]) for row in window.comparison_panel.row_texts()} == expected_rows(
        tiny_model, older, newer)

    # the earliest study has no prior: Compare takes the next one and says so
    messages: list[str] = []
    window.comparison.status_message.connect(messages.append)
    open_image(qtbot, window, older)
    press(qtbot, window, Qt.Key.Key_C)
    wait_for_both(qtbot, window, newer)
    assert window.comparison.beside[0].viewport.title.text().startswith("Later")
    assert any("compared with the next one" in message for message in messages)

    # a patient with one study: nothing to compare with, and the window says so
    open_image(qtbot, window, folder / "c-other-patient.dcm")
    assert window.comparison.layout_name == "1x1"
    press(qtbot, window, Qt.Key.Key_C)
    assert window.comparison.layout_name == "1x1"
    assert "No other study of this patient" in messages[-1]


def test_pa_and_lateral_hang_side_by_side_and_the_lateral_gets_no_findings(
        qtbot, make_window, tiny_model, tmp_path) -> None:
    folder = tmp_path / "pa-lat"
    study = generate_uid()
    pa = real_copy(folder / "pa.dcm", patient="LEE", study_uid=study, view="PA", instance=1)
    lateral = real_copy(folder / "lat.dcm", patient="LEE", study_uid=study, view="LL", instance=2)
    window = make_window(tiny_model)
    open_folder(qtbot, window, folder)
    open_image(qtbot, window, pa)
    qtbot.waitUntil(lambda: window.comparison.layout_name == "1x2", timeout=WAIT_MS)
    beside = window.comparison.beside[0]
    canvas = beside.viewport.canvas
    qtbot.waitUntil(lambda: canvas.radiograph is not None and canvas.radiograph.path == lateral, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: beside.unavailable is not None, timeout=WAIT_MS)
    assert beside.unavailable == LATERAL_REFUSED and beside.session.analysed is None
    assert beside.viewport.title.text().startswith("Lateral")
    assert "lateral view" in window.comparison_panel.heading.text()
    # the browser sets it apart as not a frontal chest, whatever the folder analysis computed
    qtbot.waitUntil(lambda: not window.folder.analysing, timeout=WAIT_MS)
    assert "not a frontal chest" in window.browser.row_text(lateral)[1]
    assert "not a frontal chest" not in window.browser.row_text(pa)[1]

    # the lateral in the reading viewport: the findings panel says why there are none
    open_image(qtbot, window, lateral)
    qtbot.waitUntil(lambda: window.findings.message.text() == LATERAL_REFUSED, timeout=WAIT_MS)
    assert window.image.analysed is None
    assert window.comparison.beside[0].image is not None and window.comparison.beside[0].image.path == pa


def test_the_layout_chosen_for_a_situation_is_remembered(qtbot, make_window, tiny_model, tmp_path, settings) -> None:
    folder = tmp_path / "pacs"
    first = dicom_study(folder / "1.dcm", patient="SMITH", study_date="20240301", seed=1)
    dicom_study(folder / "2.dcm", patient="SMITH", study_date="20190301", seed=2)
    alone = dicom_study(folder / "3.dcm", patient="JONES", study_date="20200101", seed=3)
    window = make_window(tiny_model)
    open_folder(qtbot, window, folder)
    open_image(qtbot, window, first)
    assert window.comparison.layout_name == "1x2"  # a study with priors hangs beside its prior
    press(qtbot, window, Qt.Key.Key_4, ALT)
    assert window.comparison.layout_name == "2x2" and len(window.viewport_grid.shown()) == 4
    open_image(qtbot, window, alone)
    assert window.comparison.layout_name == "1x1"  # one image: its own layout
    open_image(qtbot, window, first)
    assert window.comparison.layout_name == "2x2"
    window.close()

    again = make_window(tiny_model, store=settings)
    open_folder(qtbot, again, folder)
    open_image(qtbot, again, first)
    assert again.comparison.layout_name == "2x2"


def test_four_viewports_each_have_their_findings_in_the_comparison_panel(
        qtbot, make_window, tiny_model, tmp_path) -> None:
    folder = tmp_path / "pacs"
    now = dicom_study(folder / "1.dcm", patient="SMITH", study_date="20240301", seed=1)
    prior = dicom_study(folder / "2.dcm", patient="SMITH", study_date="20220301", seed=2)
    oldest = dicom_study(folder / "3.dcm", patient="SMITH", study_date="20190301", seed=3)
    window = make_window(tiny_model)
    open_folder(qtbot, window, folder)
    open_image(qtbot, window, now)
    press(qtbot, window, Qt.Key.Key_4, ALT)
    beside = window.comparison.beside
    qtbot.waitUntil(lambda: [b.image.path if b.image else None for b in beside[:3]] == [prior, oldest, None],
                    timeout=WAIT_MS)
    qtbot.waitUntil(lambda: beside[1].session.analysed is not None and window.comparison_panel.changes
                    and window.comparison_panel.table.columnCount() == 5, timeout=WAIT_MS)
    assert beside[2].viewport.canvas.radiograph is None  # no fourth image of this patient
    headers = [window.comparison_panel.table.horizontalHeaderItem(c).text() for c in range(5)]
    assert headers == ["Finding", "Before", "Now", "Change", "View 3"]
    assert "View 3: Prior" in window.comparison_panel.heading.text()
    expected_oldest = Predictor(tiny_model).predict(oldest)
    rows = window.comparison_panel.row_texts()
    assert {row[0]: row[4] for row in rows} == {
        label: f"{expected_oldest.probability(label):.2f}" for label in expected_oldest.labels}
