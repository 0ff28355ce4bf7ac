"""A PACS export in the browser: series rows (number, description, image count) that expand to
their instances (number, view, acquisition time), and the text the canvas draws for the image."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QModelIndex, QPoint, Qt

from tests.ui.browser_helpers import click_row, dicom_instance, open_folder_from_menu
from tests.ui.conftest import WAIT_MS, wait_for_image


def pacs_export(root: Path) -> dict[tuple[int, int], Path]:
    """One patient, one study, series 1 (PA, three instances written out of order) and
    series 2 (lateral, two): the files are IM000001... as a PACS names them."""
    made: dict[tuple[int, int], Path] = {}
    layout = [(1, "CHEST PA", "PA", 3), (1, "CHEST PA", "PA", 1), (2, "CHEST LAT", "LL", 1),
              (1, "CHEST PA", "PA", 2), (2, "CHEST LAT", "LL", 2)]
    for n, (series, description, view, instance) in enumerate(layout, start=1):
        made[(series, instance)] = dicom_instance(
            root / "DOE_JOHN" / f"IM{n:06d}", patient="DOE", study_uid="1.2.3.4", series_uid=f"1.2.3.4.{series}",
            series=series, description=description, instance=instance, view=view,
            acquired=("20240131", f"10{20 + instance:02d}05.250000"), seed=n)
    return made


def children(browser, parent: QModelIndex) -> list[QModelIndex]:
    return [browser.proxy.index(row, 0, parent) for row in range(browser.proxy.rowCount(parent))]


def click_arrow(qtbot, tree, index: QModelIndex) -> None:
    """Click the row's expand arrow, left of its text."""
    rect = tree.visualRect(index)
    qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton,
                     pos=QPoint(rect.left() - tree.indentation() // 2, rect.center().y()))


def test_a_pacs_export_shows_series_rows_that_expand_to_their_instances(
        qtbot, make_window, tmp_path: Path, monkeypatch, screenshot) -> None:
    made = pacs_export(tmp_path / "export")
    window = make_window(None, "no model")
    open_folder_from_menu(qtbot, window, tmp_path / "export", monkeypatch)
    wait_for_image(qtbot, window)
    browser, tree = window.browser, window.browser.tree
    (patient,) = children(browser, QModelIndex())
    (study,) = children(browser, patient)
    series = children(browser, study)
    assert [s.data() for s in series] == ["Series 1 \N{MIDDLE DOT} CHEST PA \N{MIDDLE DOT} 3 images",
                                          "Series 2 \N{MIDDLE DOT} CHEST LAT \N{MIDDLE DOT} 2 images"]
    assert [i.data() for i in children(browser, series[0])] == [
        f"Image {n} \N{MIDDLE DOT} PA \N{MIDDLE DOT} 2024-01-31 10:2{n}" for n in (1, 2, 3)]
    assert [i.data() for i in children(browser, series[1])] == [
        f"Image {n} \N{MIDDLE DOT} LL \N{MIDDLE DOT} 2024-01-31 10:2{n}" for n in (1, 2)]
    assert all(tree.isExpanded(s) for s in series)

    # Its arrow folds a series away and opens it again, as a tree does.
    click_arrow(qtbot, tree, series[1])
    assert not tree.isExpanded(series[1])
    screenshot(window, "series-2-folded")
    click_arrow(qtbot, tree, series[1])
    assert tree.isExpanded(series[1])

    # Clicking an instance opens it; the image session has the text the canvas draws for it.
    second = children(browser, series[0])[1]
    click_row(qtbot, browser, second)
    qtbot.waitUntil(lambda: window.canvas.radiograph is not None
                    and window.canvas.radiograph.path == made[(1, 2)], timeout=WAIT_MS)
    assert window.image.series_caption == (
        "Series 1 CHEST PA \N{MIDDLE DOT} image 2 of 3 \N{MIDDLE DOT} 2024-01-31 10:22")
    # ... and the canvas draws it in its corner, so the image on screen is told apart too
    assert window.image.series_caption in window.canvas.annotations().top_left
    screenshot(window, "series-rows")


def test_the_series_caption_carries_no_patient_identity(qtbot, make_window, tmp_path: Path, monkeypatch) -> None:
    # A series description that holds the patient's name (a careless PACS): the caption the
    # canvas draws (and an export may carry) leaves the name out.
    path = dicom_instance(tmp_path / "export" / "IM000001", patient="DOE", study_uid="1.2.3", series_uid="1.2.3.1",
                          series=3, description="DOE TEST CHEST", instance=1, view="PA", acquired=None)
    window = make_window(None, "no model")
    open_folder_from_menu(qtbot, window, tmp_path / "export", monkeypatch)
    qtbot.waitUntil(lambda: window.image.scanned is not None and window.image.scanned.path == path, timeout=WAIT_MS)
    caption = window.image.series_caption
    assert caption is not None and caption.startswith("Series 3") and caption.endswith("image 1 of 1")
    assert "DOE" not in caption and "TEST" not in caption, caption
