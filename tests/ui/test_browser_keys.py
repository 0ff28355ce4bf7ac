"""The browser from the keyboard: Up/Down from image to image over the header rows (opening
folded groups on the way), Left/Right fold and open as a tree does, PageUp/PageDown too."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QModelIndex, QPoint, Qt

from tests.ui.browser_helpers import click_row, dicom_instance, open_folder_from_menu, proxy_index
from tests.ui.conftest import WAIT_MS, wait_for_image
from viewer.ui.browser_model import KIND_ROLE


def two_patients(root: Path) -> list[Path]:
    """DOE: series 1 (two instances) and series 2 (one); ROE: series 1 (two). In tree order."""
    order = []
    for patient, study, series, instances in (("DOE", "1.1", 1, 2), ("DOE", "1.1", 2, 1), ("ROE", "2.1", 1, 2)):
        for instance in range(1, instances + 1):
            order.append(dicom_instance(
                root / patient / f"S{series}I{instance}.dcm", patient=patient, study_uid=study,
                series_uid=f"{study}.{series}", series=series, description=f"CHEST {series}", instance=instance,
                view="PA", acquired=("20240131", "102200"), seed=len(order)))
    return order


def press(qtbot, window, key: Qt.Key) -> None:
    """A key on the browser's tree; waits until the row it leads to is on the canvas."""
    tree = window.browser.tree
    qtbot.keyClick(tree, key)
    image = window.browser.current_image()
    if image is not None:
        qtbot.waitUntil(lambda: window.canvas.radiograph is not None and window.canvas.radiograph.path == image.path,
                        timeout=WAIT_MS)


def current(window) -> QModelIndex:
    return window.browser.tree.currentIndex()


def test_arrow_keys_go_from_image_to_image_and_fold_as_a_tree(
        qtbot, make_window, tmp_path: Path, monkeypatch, screenshot) -> None:
    images = two_patients(tmp_path / "export")
    window = make_window(None, "no model")
    open_folder_from_menu(qtbot, window, tmp_path / "export", monkeypatch)
    wait_for_image(qtbot, window)
    browser, tree = window.browser, window.browser.tree

    # The user folds ROE away (its arrow), then starts at DOE's first image.
    roe = browser.proxy.index(1, 0)
    assert roe.data().startswith("Patient 2")  # ROE, named only while identity is shown
    rect = tree.visualRect(roe)
    qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton,
                     pos=QPoint(rect.left() - tree.indentation() // 2, rect.center().y()))
    assert not tree.isExpanded(roe)
    click_row(qtbot, browser, proxy_index(browser, images[0]))
    assert browser.current_image().path == images[0]
    tree.setFocus()

    # Down: every image in turn, never a patient, study or series row; ROE opens on the way.
    for expected in images[1:]:
        press(qtbot, window, Qt.Key.Key_Down)
        assert current(window).data(KIND_ROLE) == "image", current(window).data()
        assert browser.current_image().path == expected
    assert tree.isExpanded(roe)
    screenshot(window, "down-into-a-folded-patient")
    press(qtbot, window, Qt.Key.Key_Down)  # the last image: Down stays there
    assert browser.current_image().path == images[-1]

    # Up: back over ROE's series, study and patient rows to DOE's series 2 image.
    press(qtbot, window, Qt.Key.Key_Up)
    press(qtbot, window, Qt.Key.Key_Up)
    assert browser.current_image().path == images[2]

    # Left and Right as a tree: to the series row, fold it, open it, into it again.
    series = proxy_index(browser, images[2]).parent()
    press(qtbot, window, Qt.Key.Key_Left)
    assert current(window) == series
    press(qtbot, window, Qt.Key.Key_Left)
    assert not tree.isExpanded(series)
    press(qtbot, window, Qt.Key.Key_Right)
    assert tree.isExpanded(series)
    press(qtbot, window, Qt.Key.Key_Right)
    assert browser.current_image().path == images[2]
    # From a folded header, Down opens it and goes to its first image.
    press(qtbot, window, Qt.Key.Key_Left)
    press(qtbot, window, Qt.Key.Key_Left)
    assert current(window) == series and not tree.isExpanded(series)
    press(qtbot, window, Qt.Key.Key_Down)
    assert browser.current_image().path == images[2] and tree.isExpanded(series)

    # PageDown / PageUp: the next and the previous image.
    press(qtbot, window, Qt.Key.Key_PageDown)
    assert browser.current_image().path == images[3]
    press(qtbot, window, Qt.Key.Key_PageUp)
    press(qtbot, window, Qt.Key.Key_PageUp)
    assert browser.current_image().path == images[1]
    screenshot(window, "keys")
