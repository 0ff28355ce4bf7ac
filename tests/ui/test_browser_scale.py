"""The browser at archive scale (issue 19's 100,000-file folder): what the tree does once per row
must not run Python.

Qt lays the whole tree out again after every batch the scan inserts, and with rows of two
heights scrolled by pixels it asks every row its height: with the height computed in a Python
``sizeHint``, a browser of 100,000 rows spent seconds of the GUI thread per batch (the window
froze for up to 28 s during the scan of the 100,000-file folder, measured). The heights are
model data (``Qt.SizeHintRole``), read by Qt's own delegate code. Counted here as Python calls
during one layout, not as seconds.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QModelIndex

from viewer.core.radiograph import SourceFormat
from viewer.core.scan import ScannedImage
from viewer.ui.browser import StudyBrowser
from viewer.ui.browser_model import KIND_ROLE
from viewer.ui.browser_rows import ICON_SIZE


def nih_images(count: int) -> list[ScannedImage]:
    """``count`` images as the scan makes them of NIH-style names: two follow-ups a patient."""
    images = []
    for i in range(count):
        patient, follow_up = i // 2 + 1, i % 2
        path = Path(f"/archive/images/{patient:08d}_{follow_up:03d}.png")
        images.append(ScannedImage(
            path=path, relative_path=Path("images") / path.name, format=SourceFormat.PNG,
            patient_key=patient, study_key=i + 1, series_key=i + 1, patient_label=f"NIH patient {patient}",
            patient_id=str(patient), study_label=f"Follow-up {follow_up}", follow_up=follow_up,
        ))
    return images


def python_calls(action) -> int:
    """How many Python functions run (on this thread) while ``action()`` does."""
    calls = 0

    def count(_frame, event, _arg):
        nonlocal calls
        calls += event == "call"

    sys.setprofile(count)
    try:
        action()
    finally:
        sys.setprofile(None)
    return calls


def test_laying_out_a_tree_of_thousands_of_rows_runs_no_python_per_row(qtbot) -> None:
    browser = StudyBrowser()
    qtbot.addWidget(browser)
    browser.resize(400, 800)
    browser.show()
    browser.add_images(nih_images(3000))  # 1,500 patients, 3,000 studies, 3,000 images: 7,500 rows

    def layout() -> None:
        browser.tree.doItemsLayout()  # what every insertion into an open group leads to
        browser.tree.viewport().repaint()  # and the paint after it (Python paints the rows on screen)

    layout()  # the first one also maps the new rows through the filter: once a row, not once a layout
    calls = python_calls(layout)
    assert browser.tree.verticalScrollBar().maximum() > 7500 * 10  # laid out by pixels, every row counted
    assert calls < 500, f"{calls} Python calls in one layout of 7,500 rows"


def test_rows_keep_their_heights_an_image_row_fits_its_thumbnail(qtbot) -> None:
    browser = StudyBrowser()
    qtbot.addWidget(browser)
    browser.resize(400, 800)
    browser.show()
    browser.add_images(nih_images(4))
    tree, proxy = browser.tree, browser.proxy
    patient = proxy.index(0, 0, QModelIndex())
    study = proxy.index(0, 0, patient)
    image = proxy.index(0, 0, study)
    assert [i.data(KIND_ROLE) for i in (patient, study, image)] == ["patient", "study", "image"]
    assert tree.visualRect(image).height() == ICON_SIZE + 6
    line = tree.fontMetrics().height()
    for group in (patient, study):  # one line of text, as the style draws it
        assert line <= tree.visualRect(group).height() < ICON_SIZE


def test_a_batch_of_new_patients_goes_into_the_tree_in_one_insertion(qtbot) -> None:
    # Every insertion makes the sorting proxy and the view walk what they hold (their persistent
    # indexes: every open group's): one insertion per patient, study and image of a batch cost
    # the GUI thread 14 s over the scan of 20,000 files, measured.
    browser = StudyBrowser()
    qtbot.addWidget(browser)
    browser.show()
    images = nih_images(400)
    browser.add_images(images[:200])
    insertions: list[int] = []
    browser.model.rowsInserted.connect(lambda parent, first, last: insertions.append(last - first + 1))
    browser.add_images(images[200:])  # 100 new patients, 200 new studies, 200 new images
    assert insertions == [100]  # the new patients, each with its studies and images inside
    browser.add_images(images[:2] + nih_images(402)[400:])  # known images again, one more patient (2 studies)
    assert insertions == [100, 1]
    assert browser.model.image_count() == 402
    assert len(browser.visible_images()) == 402
    last = browser.proxy.index(browser.proxy.rowCount(QModelIndex()) - 1, 0, QModelIndex())
    assert browser.tree.isExpanded(last) and browser.tree.isExpanded(browser.proxy.index(1, 0, last))  # opened


def test_a_thumbnail_costs_the_browser_the_grey_bytes_it_draws_and_is_its_own(qtbot) -> None:
    # A folder's thumbnails stay in the browser as long as the folder is open: kept as a QPixmap
    # of the 64 px grey picture they were 16 kB each (the pixmap is 32-bit), 160 MB per 10,000
    # images analysed; one grey byte a pixel at the 48 px drawn is 2.3 kB.
    import gc

    import numpy as np
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage

    from viewer.ui.display import grey_qimage

    browser = StudyBrowser()
    qtbot.addWidget(browser)
    browser.resize(400, 300)
    browser.show()
    images = nih_images(2)
    browser.add_images(images)
    grey = np.full((64, 64), 200, np.uint8)
    browser.set_thumbnail(images[0].path, grey_qimage(grey))  # a view of the worker's array
    grey[:] = 0  # the worker's array changes, then goes: the browser's picture is its own
    del grey
    gc.collect()
    stored = browser.model.item_for(images[0].path).data(Qt.ItemDataRole.DecorationRole)
    assert isinstance(stored, QImage) and stored.sizeInBytes() <= ICON_SIZE * ICON_SIZE
    assert stored.size().width() == ICON_SIZE and stored.pixelColor(24, 24).red() == 200

    item = browser.model.item_for(images[0].path)
    rect = browser.tree.visualRect(browser.proxy.mapFromSource(item.index()))
    shot = browser.tree.viewport().grab().toImage()
    middle = rect.topLeft() + type(rect.topLeft())(2 + ICON_SIZE // 2, 3 + ICON_SIZE // 2)
    assert shot.pixelColor(middle).red() == 200  # drawn where the row shows its thumbnail
