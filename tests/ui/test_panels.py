"""Settings (QSettings in a temporary file), recent folders, layout restore, drag and drop,
the DICOM tags search and the browser's triage order and filters."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QMimeData, QPointF, QSettings, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QApplication

from tests.ui.conftest import WAIT_MS, wait_for_image
from tests.ui.images import chest_dicom, chest_png
from viewer.ui.browser import SORT_FOLDER, SORT_TRIAGE
from viewer.ui.settings import (
    KEY_GEOMETRY,
    KEY_RECENT_FOLDERS,
    KEY_STATE,
    KEY_VERSION,
    MAX_RECENT,
    SETTINGS_VERSION,
    AppSettings,
)
from viewer.ui.tags_panel import TagsPanel


def test_settings_version_key_and_reset_of_an_old_layout(tmp_path: Path) -> None:
    path = tmp_path / "s.ini"
    store = QSettings(str(path), QSettings.Format.IniFormat)
    store.setValue(KEY_VERSION, SETTINGS_VERSION - 1)
    store.setValue(KEY_GEOMETRY, b"old-geometry")
    store.setValue(KEY_STATE, b"old-state")
    store.setValue(KEY_RECENT_FOLDERS, [str(tmp_path)])
    store.sync()
    settings = AppSettings.at(path)
    assert settings.window_geometry() is None and settings.window_state() is None
    assert settings.recent_folders() == [tmp_path]  # recent folders survive a layout change
    assert int(QSettings(str(path), QSettings.Format.IniFormat).value(KEY_VERSION)) == SETTINGS_VERSION


def test_recent_folders_most_recent_first_without_duplicates(tmp_path: Path) -> None:
    settings = AppSettings.at(tmp_path / "s.ini")
    folders = [tmp_path / f"f{i}" for i in range(MAX_RECENT + 2)]
    for folder in folders:
        folder.mkdir()
        settings.add_recent_folder(folder)
    settings.add_recent_folder(folders[3])
    recent = settings.recent_folders()
    assert recent[0] == folders[3].resolve() and len(recent) == MAX_RECENT
    assert len(set(recent)) == len(recent)
    folders[-1].rmdir()  # a folder that disappeared is not offered
    assert folders[-1].resolve() not in AppSettings.at(tmp_path / "s.ini").recent_folders()


def test_layout_and_recent_folders_are_restored(qtbot, make_window, settings, tmp_path: Path) -> None:
    chest_png(tmp_path / "imgs" / "a.png")
    window = make_window(None, "no model")
    window.open_path(tmp_path / "imgs")
    wait_for_image(qtbot, window)
    window.tags_dock.hide()
    window.resize(790, 700)  # the offscreen screen is 800 x 800
    QApplication.processEvents()
    size = (window.width(), window.height())
    assert size != (1400, 900)
    window.close()

    again = make_window(None, "no model", store=AppSettings.at(settings.store.fileName()))
    assert not again.tags_dock.isVisible() and again.findings_dock.isVisible()
    assert (again.width(), again.height()) == size
    assert [a.text() for a in again.recent_menu.actions()][0] == str((tmp_path / "imgs").resolve())


def test_dropping_a_folder_opens_it(qtbot, make_window, tmp_path: Path) -> None:
    chest_png(tmp_path / "dropped" / "a.png")
    window = make_window(None, "no model")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(tmp_path / "dropped"))])
    event = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)
    wait_for_image(qtbot, window)
    assert window.canvas.radiograph.path == tmp_path / "dropped" / "a.png"


def test_tags_panel_search(qtbot, tmp_path: Path) -> None:
    from viewer.core.loader import load_radiograph

    rg = load_radiograph(chest_dicom(tmp_path / "a.dcm", window=(2000, 4000)))
    panel = TagsPanel()
    qtbot.addWidget(panel)
    panel.show_header(rg.header)
    everything = panel.visible_rows()
    assert everything > 15

    def shown_names() -> list[str]:
        return [panel.proxy.index(r, 1).data() for r in range(panel.proxy.rowCount())]

    qtbot.keyClicks(panel.search, "window")
    assert set(shown_names()) == {"Window Center", "Window Width"}
    panel.search.clear()
    qtbot.keyClicks(panel.search, "0028,")
    assert "Rows" in shown_names() and "Patient's Name" not in shown_names()
    panel.search.clear()
    qtbot.keyClicks(panel.search, "CHEST PA")  # a value
    assert shown_names() == ["Study Description"]
    panel.search.clear()
    assert panel.visible_rows() == everything


def test_browser_triage_order_filter_and_flagged_only(qtbot, make_window, tiny_model, tmp_path: Path) -> None:
    folder = tmp_path / "imgs"
    for i in range(6):
        chest_png(folder / f"c{i}.png", seed=40 + i, size=96 + 16 * i)
    window = make_window(tiny_model)
    done = []
    window.folder.analysis_done.connect(lambda: done.append(1))
    window.open_path(folder)
    qtbot.waitUntil(lambda: bool(done), timeout=WAIT_MS)
    browser = window.browser
    assert [i.name for i in browser.visible_images()] == [f"c{i}.png" for i in range(6)]

    def score(name: str) -> float:
        f = window.folder.rows[folder / name].findings
        flagged = f.probabilities[f.flags]
        return 1 + flagged.max() if flagged.size else float(f.probabilities.max())

    browser.set_sort_mode(SORT_TRIAGE)
    names = [i.name for i in browser.visible_images()]
    assert names == sorted(names, key=score, reverse=True)
    browser.set_sort_mode(SORT_FOLDER)
    assert [i.name for i in browser.visible_images()] == [f"c{i}.png" for i in range(6)]

    qtbot.keyClicks(browser.filter, "c3")
    assert [i.name for i in browser.visible_images()] == ["c3.png"]
    browser.filter.clear()
    flagged_names = {n for n in names if window.folder.rows[folder / n].findings.flags.any()}
    browser.flagged_only.setChecked(True)
    assert {i.name for i in browser.visible_images()} == flagged_names
    browser.flagged_only.setChecked(False)

    # The flags follow the operating point: the most specific setting flags no more images.
    window.findings.sensitivity.setValue(-window.findings.SENSITIVITY_STEPS)
    browser.flagged_only.setChecked(True)
    assert {i.name for i in browser.visible_images()} <= flagged_names
    # A filter on a finding name finds the images flagged with it.
    browser.flagged_only.setChecked(False)
    window.findings.sensitivity.setValue(0)
    some = next(iter(flagged_names), None)
    if some is not None:
        f = window.folder.rows[folder / some].findings
        label = f.labels[int(np.argmax(np.where(f.flags, f.probabilities, -1)))]
        browser.filter.setText(label.lower())
        assert some in {i.name for i in browser.visible_images()}


def test_browser_batches_count_images_and_leave_closed_groups_closed(qtbot, tmp_path: Path) -> None:
    from viewer.core.scan import scan_folder
    from viewer.ui.browser import StudyBrowser

    folder = tmp_path / "scan"
    folder.mkdir()
    for i in range(5):
        chest_png(folder / f"00000{i % 2 + 1:03d}_{i:03d}.png")
    images = sorted(scan_folder(folder), key=lambda image: image.name)
    browser = StudyBrowser()
    qtbot.addWidget(browser)
    browser.add_images(images[:2])
    first = browser.proxy.index(0, 0)
    browser.tree.collapse(first)  # the user closes the first patient
    browser.add_images(images[2:])
    browser.add_images(images[:1])  # a repeat changes nothing
    labels = sorted(browser.model.item(r).text() for r in range(browser.model.rowCount()))
    groups = {image.patient_key for image in images}
    assert len(labels) == len(groups) and browser.model.image_count() == 5
    counts = sorted(sum(image.patient_key == key for image in images) for key in groups)
    assert sorted(int(label.split("(")[1].split()[0]) for label in labels) == counts
    assert not browser.tree.isExpanded(browser.proxy.index(0, 0))  # still closed
    assert browser.tree.isExpanded(browser.proxy.index(1, 0))  # the new patient opened
