"""The study browser: patients -> studies -> series -> images, with thumbnails, triage sort and a filter.

The tree grows while the scan streams. Thumbnails and each image's findings arrive later from
the folder analysis; the triage order puts the images the model flags most strongly first
(``viewer.viewmodel.browser_order``), and takes new results at a pause rather than under the
user's pointer (``viewer.viewmodel.live_order``). A line says what the filter hides, with a
button that shows everything again (``viewer.viewmodel.browser_filter``).

This module is the widget: the filter, the order, and what is selected and opened. The rows,
filter and sort are ``browser_model.py``, the tree's keys and the row kept in place across a
re-sort ``browser_tree.py``, an image row's painting ``browser_rows.py``. Patient labels may be
identifying: they are shown here and nowhere else.
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QEvent, QModelIndex, QObject, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QImage, QStandardItem
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from viewer.core.scan import ScannedImage
from viewer.viewmodel.browser_filter import filter_status
from viewer.viewmodel.browser_order import SORT_FOLDER, SORT_LABELS, SORT_TRIAGE, is_sort_mode
from viewer.viewmodel.browser_summary import ImageSummary
from viewer.viewmodel.live_order import LiveOrder

from .browser_model import (
    IMAGE_ROLE,
    KIND_ROLE,
    SUMMARY_ROLE,
    StudyFilterProxy,
    StudyTreeModel,
)
from .browser_rows import ICON_SIZE, ImageRowDelegate, group_row_size
from .browser_tree import BrowserTree, KeptInPlace, next_image
from .plain_text import PlainLabel

__all__ = ["SORT_FOLDER", "SORT_TRIAGE", "SUMMARY_ROLE", "StudyBrowser"]

# Wide enough for an instance row under its patient, study and series: the thumbnail and
# 'Image 12 · PA · 2024-01-31 10:22' (the long sort label used to hold the dock this wide).
MIN_WIDTH = 320
STATUS_DELAY_MS = 100  # rows arrive in bursts: the count of shown rows is redone once per burst


class StudyBrowser(QWidget):
    """Filterable, sortable tree of the open folder. Events: ``image_activated(ScannedImage)``,
    ``sort_mode_changed(str)`` (a ``browser_order`` sort mode: what a setting keeps)."""

    image_activated = Signal(object)
    sort_mode_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("studyBrowser")
        self.setMinimumWidth(MIN_WIDTH)
        self.model = StudyTreeModel()
        self.proxy = StudyFilterProxy()
        self.proxy.setSourceModel(self.model)
        self.proxy.sort(0, Qt.SortOrder.AscendingOrder)

        self.filter = QLineEdit()
        self.filter.setObjectName("browserFilter")
        self.filter.setPlaceholderText("Filter: name, patient, label, flag\N{HORIZONTAL ELLIPSIS}  (label:  flag:)")
        self.filter.setToolTip("Text finds names, patients, studies, series, the dataset's labels and the "
                               "model's flags; each row says what it matched.\nlabel:NAME finds the dataset's "
                               "(ground-truth) labels only; flag:NAME the model's flags at the operating point "
                               "only.")
        self.filter.setClearButtonEnabled(True)
        self.filter.textChanged.connect(self._on_filter)
        self.flagged_only = QCheckBox("Flagged only")
        self.flagged_only.toggled.connect(self._on_flagged_only)
        # What the filter hides, and the one click that shows everything again: a filter typed
        # for the last folder is still there when the next one opens.
        self.filter_status = PlainLabel()
        self.filter_status.setObjectName("browserFilterStatus")
        self.clear_filter_button = QPushButton("Show all")
        self.clear_filter_button.setObjectName("browserShowAll")
        self.clear_filter_button.setToolTip("Clear the filter and show every image")
        self.clear_filter_button.clicked.connect(self.clear_filter)
        self._status_row = QWidget()
        status_layout = QHBoxLayout(self._status_row)
        status_layout.setContentsMargins(0, 0, 0, 0)
        status_layout.addWidget(self.filter_status, 1)
        status_layout.addWidget(self.clear_filter_button)
        self._status_row.hide()
        self._status_timer = QTimer(self)
        self._status_timer.setSingleShot(True)
        self._status_timer.setInterval(STATUS_DELAY_MS)
        self._status_timer.timeout.connect(self._update_filter_status)
        self.sort_box = QComboBox()
        self.sort_box.setObjectName("browserSort")
        for mode, label in SORT_LABELS.items():
            self.sort_box.addItem(label, mode)
        self.sort_box.setToolTip("Order of the images: as in the folder, or for triage: flagged images "
                                 "first by their highest flagged probability, then the others by their "
                                 "highest probability, then images that are not a frontal chest")
        # it may shrink (its text elided) rather than widen the dock for the button beside it
        self.sort_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.sort_box.setMinimumContentsLength(8)
        self.sort_box.currentIndexChanged.connect(self._on_sort_box)
        # Results arriving do not move the rows under the user; the new triage order is taken
        # at a pause (viewmodel.live_order), or at once with this button. It is there in triage
        # order and enabled when results are waiting: showing it then would move the rows.
        self.live_order = LiveOrder()
        self.resort_button = QPushButton("Re-sort")
        self.resort_button.setObjectName("browserResort")
        self.resort_button.setToolTip("Re-sort now: the triage order with the newest results (the list "
                                      "waits for a pause, and while the pointer is on it)")
        self.resort_button.clicked.connect(lambda: self._apply_order())
        self.resort_button.hide()
        self._resort_timer = QTimer(self)
        self._resort_timer.setSingleShot(True)
        self._resort_timer.timeout.connect(self._on_resort_due)

        self.tree = BrowserTree()
        self.tree.setObjectName("browserTree")
        self.tree.setModel(self.proxy)
        self.tree.setIconSize(QSize(ICON_SIZE, ICON_SIZE))
        self.tree.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.setUniformRowHeights(False)
        # by pixels, so a re-sort can keep the selected row exactly where it was on screen
        self.tree.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.tree.setIndentation(12)
        self.tree.setHeaderHidden(True)
        self.tree.setItemDelegate(ImageRowDelegate(self.tree))
        self.model.group_row_size = group_row_size(self.tree)
        self.tree.selectionModel().currentChanged.connect(self._on_current_changed)
        # A click on the current row opens it again (after another file was opened directly).
        self.tree.clicked.connect(lambda index: self._on_current_changed(index, QModelIndex()))
        self.tree.installEventFilter(self)  # the pointer on the list: its rows or its scroll bar
        self.tree.image_step.connect(self.step)
        self._active: Path | None = None  # the image last opened from here, shown or not
        self._restoring = False  # selecting the open image's row again opens nothing
        # The open image's row may come into view later too (a flag the filter looks for
        # arrives): selected from the event loop, never inside the proxy's own insertion.
        self._reselect_timer = QTimer(self)
        self._reselect_timer.setSingleShot(True)
        self._reselect_timer.setInterval(0)
        self._reselect_timer.timeout.connect(self._reselect_active)
        self.proxy.rowsInserted.connect(lambda *_args: self._reselect_timer.start())
        # Rows the filter hides reach the proxy's signals not at all: count on the model's.
        for signal in (self.model.rowsInserted, self.model.rowsRemoved, self.model.modelReset,
                       self.model.dataChanged):
            signal.connect(self._schedule_filter_status)

        options = QHBoxLayout()
        options.addWidget(self.flagged_only)
        options.addWidget(self.sort_box, 1)
        options.addWidget(self.resort_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.filter)
        layout.addLayout(options)
        layout.addWidget(self._status_row)
        layout.addWidget(self.tree, 1)

    # -- content ------------------------------------------------------------------------------
    def set_identity_shown(self, on: bool) -> None:
        """Patient rows name the patient (on) or show a pseudonymous number, age and sex (off)."""
        self.model.set_identity_shown(on)
        self._update_filter_status()

    def clear(self) -> None:
        self.model.clear_all()
        self._active = None
        self._apply_order()  # nothing is waiting for a re-sort in an empty list
        self._update_filter_status()

    def add_images(self, images: list[ScannedImage]) -> None:
        # new patients and studies open, so their images show; groups the user closed stay
        # closed (and the view is not walked whole for every batch of a long scan)
        for group in self.model.add_images(images):
            index = self.proxy.mapFromSource(group.index())
            if index.isValid():
                self.tree.expand(index)

    def set_thumbnail(self, path: Path, thumbnail: QImage) -> None:
        self.model.set_thumbnail(path, thumbnail)

    def set_summary(self, path: Path, summary: ImageSummary) -> None:
        self.set_summaries([(path, summary)])

    def set_summaries(self, summaries: list[tuple[Path, ImageSummary]], *, reorder_now: bool = False) -> None:
        """Several images' summaries at once. Results arriving reorder the list at a pause
        (never under the pointer); ``reorder_now``: the user changed what the order means (the
        operating point), so it follows at once. Either way the selected row keeps its place."""
        at_once = reorder_now and self.sort_mode() == SORT_TRIAGE
        changed = self.model.set_summaries(summaries, announce=not at_once)
        if self.sort_mode() != SORT_TRIAGE or not self.proxy.order_differs(changed):
            if at_once:
                self.model.announce(changed)
            return
        self.live_order.keys_changed()
        if at_once:
            self._apply_order(changed)  # the rows announced once: changed and placed
        else:
            self._schedule_order()

    # -- order ----------------------------------------------------------------------------------
    def sort_mode(self) -> str:
        """The order the user chose: ``SORT_FOLDER`` or ``SORT_TRIAGE``."""
        return str(self.sort_box.currentData())

    def order_pending(self) -> bool:
        """New results have changed the triage order, and the list has not taken it yet."""
        return self.live_order.stale

    def set_sort_mode(self, mode: str) -> bool:
        """Show the images in ``mode``'s order (emits ``sort_mode_changed`` when it changes);
        False, and nothing changes, when ``mode`` is not a sort mode (an old setting)."""
        if not is_sort_mode(mode):
            return False
        self.sort_box.setCurrentIndex(self.sort_box.findData(mode))
        return True

    # -- navigation ---------------------------------------------------------------------------
    def visible_images(self) -> list[ScannedImage]:
        """Images in the order the tree shows them (after filter and sort)."""
        return [index.data(IMAGE_ROLE) for index in self._image_indexes()]

    def series_members(self, image: ScannedImage) -> list[ScannedImage]:
        """The images of ``image``'s series found so far (empty for an image without a series)."""
        return self.model.series_members(image)

    def patient_images(self, image: ScannedImage) -> list[ScannedImage]:
        """Every image of ``image``'s patient found so far, whatever the filter shows (priors)."""
        return self.model.patient_images(image)

    def row_text(self, path: Path) -> list[str]:
        """The lines the image's row shows (empty when the filter hides it): its name, its
        summary, and while a filter is on, what it matched."""
        item = self.model.item_for(path)
        index = self.proxy.mapFromSource(item.index()) if item is not None else QModelIndex()
        if not index.isValid():
            return []
        name, line, matched = ImageRowDelegate.lines(index)
        return [name, line.text] + ([matched] if matched is not None else [])

    def image_after(self, image: ScannedImage) -> ScannedImage | None:
        """The image after ``image`` in the order shown (what Down opens next); None at the end,
        or when the filter hides ``image``'s row."""
        item = self.model.item_for(image.path)
        index = self.proxy.mapFromSource(item.index()) if item is not None else QModelIndex()
        if not index.isValid():
            return None
        following = next_image(self.proxy, index, 1)
        return following.data(IMAGE_ROLE) if following.isValid() else None

    def current_image(self) -> ScannedImage | None:
        index = self.tree.currentIndex()
        return index.siblingAtColumn(0).data(IMAGE_ROLE) if index.isValid() else None

    def select_path(self, path: Path) -> bool:
        """Open the image at ``path`` (emits ``image_activated``) and select its row; False when
        the filter hides the row: the image opens all the same, and its row is selected once the
        filter shows it. False, and nothing opens, for a path not in the folder."""
        item = self.model.item_for(path)
        if item is None:
            return False
        index = self.proxy.mapFromSource(item.index())
        if not index.isValid():
            self._active = path
            self.image_activated.emit(item.data(IMAGE_ROLE))
            return False
        self.tree.setCurrentIndex(index)
        self.tree.scrollTo(index)
        return True

    def clear_filter(self) -> None:
        """Show every image: no filter text, not only the flagged ones."""
        self.filter.clear()
        self.flagged_only.setChecked(False)

    def step(self, delta: int) -> ScannedImage | None:
        """Select the next (+1) or previous (-1) shown image after the current row, whatever
        the rows between (headers are passed over, folded groups opened); returns the image
        selected, the current one at either end."""
        current = self.tree.currentIndex().siblingAtColumn(0)
        target = next_image(self.proxy, current, delta)
        if not target.isValid():
            return current.data(IMAGE_ROLE) if current.isValid() else None
        self.tree.setCurrentIndex(target)
        self.tree.scrollTo(target)  # opens the folded groups above it
        image: ScannedImage = target.data(IMAGE_ROLE)
        return image

    def _image_indexes(self) -> list[QModelIndex]:
        found: list[QModelIndex] = []

        def walk(parent: QModelIndex) -> None:
            for row in range(self.proxy.rowCount(parent)):
                index = self.proxy.index(row, 0, parent)
                if index.data(KIND_ROLE) == "image":
                    found.append(index)
                else:
                    walk(index)

        walk(QModelIndex())
        return found

    # -- slots --------------------------------------------------------------------------------
    def _on_current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        image = current.siblingAtColumn(0).data(IMAGE_ROLE) if current.isValid() else None
        if image is not None and not self._restoring:
            self._active = image.path
            self.image_activated.emit(image)

    def _on_filter(self, text: str) -> None:
        self.proxy.set_text(text)
        self._after_filter_change()

    def _on_flagged_only(self, on: bool) -> None:
        self.proxy.set_flagged_only(on)
        self._after_filter_change()

    def _after_filter_change(self) -> None:
        self.tree.expandAll()
        self._reselect_active()
        self._update_filter_status()

    def _reselect_active(self) -> None:
        """The open image's row, hidden by a filter and shown again, is selected again (its
        image is on screen already: nothing is opened)."""
        if self.tree.currentIndex().isValid() or self._active is None:
            return
        item = self.model.item_for(self._active)
        index = self.proxy.mapFromSource(item.index()) if item is not None else QModelIndex()
        if index.isValid():
            self._restoring = True
            try:
                self.tree.setCurrentIndex(index)
            finally:
                self._restoring = False
            self.tree.scrollTo(index)

    def _schedule_filter_status(self, *_args: object) -> None:
        if self._status_row.isVisibleTo(self) or self.filter.text().strip() or self.flagged_only.isChecked():
            self._status_timer.start()

    def _update_filter_status(self) -> None:
        """'0 of 5 shown: filter 'hernia'' with the Show all button, while anything is filtered."""
        self._status_timer.stop()
        text = filter_status(len(self._image_indexes()), self.model.image_count(), self.filter.text(),
                             self.flagged_only.isChecked())
        self.filter_status.setText(text or "")
        self._status_row.setVisible(text is not None)

    def _on_sort_box(self, _index: int) -> None:
        mode = self.sort_mode()
        with self._anchored():
            self.proxy.set_mode(mode)
        self.live_order.applied(time.monotonic())
        self._show_order_state()
        self.sort_mode_changed.emit(mode)

    # -- the order while results arrive ---------------------------------------------------------
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.tree:
            if event.type() == QEvent.Type.Enter:
                self.live_order.pointer_entered()
                self._schedule_order()
            elif event.type() == QEvent.Type.Leave:
                self.live_order.pointer_left(time.monotonic())
                self._schedule_order()
        return super().eventFilter(watched, event)

    def _schedule_order(self) -> None:
        due = self.live_order.due_in(time.monotonic())
        if due is None:
            self._resort_timer.stop()
        else:
            self._resort_timer.start(max(0, round(due * 1000)))
        self._show_order_state()

    def _on_resort_due(self) -> None:
        due = self.live_order.due_in(time.monotonic())
        if due is not None and due > 0:
            self._resort_timer.start(max(1, round(due * 1000)))
        elif due is not None:
            self._apply_order()

    def _apply_order(self, changed_too: list[QStandardItem] | None = None) -> None:
        """Take the triage order as the keys are now, the selected row kept where it is."""
        self._resort_timer.stop()
        if self.sort_mode() == SORT_TRIAGE:
            with self._anchored():
                self.proxy.take_order(changed_too)
        self.live_order.applied(time.monotonic())
        self._show_order_state()

    def _show_order_state(self) -> None:
        self.resort_button.setVisible(self.sort_mode() == SORT_TRIAGE)
        self.resort_button.setEnabled(self.live_order.stale)

    def _anchored(self) -> KeptInPlace:
        return KeptInPlace(self.tree)
