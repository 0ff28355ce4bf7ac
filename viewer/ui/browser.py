"""The study browser: patients -> studies -> images, with thumbnails, triage sort and a filter.

The tree grows while the scan streams. Thumbnails and each image's highest flagged probability
arrive later from the folder analysis; the "Highest flagged probability" order puts the images
the model flags most strongly first (flagged before unflagged, unanalysed last), for triage.
Patient labels may be identifying: they are shown here and nowhere else.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import (
    QModelIndex,
    QPersistentModelIndex,
    QRegularExpression,
    QSize,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPixmap, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLineEdit,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from viewer.core.scan import ScannedImage
from viewer.viewmodel.browser_summary import (
    UNANALYSED,
    ImageSummary,
    Tone,
    group_score,
    summary_line,
    triage_before,
)

KIND_ROLE = Qt.ItemDataRole.UserRole + 10
IMAGE_ROLE = Qt.ItemDataRole.UserRole + 11
ORDER_ROLE = Qt.ItemDataRole.UserRole + 12
TRIAGE_ROLE = Qt.ItemDataRole.UserRole + 13
SEARCH_ROLE = Qt.ItemDataRole.UserRole + 14
FLAGGED_ROLE = Qt.ItemDataRole.UserRole + 15
SUMMARY_ROLE = Qt.ItemDataRole.UserRole + 16  # the image's ImageSummary, once analysed

SORT_FOLDER = "Folder order"
SORT_TRIAGE = "Highest flagged probability"
ICON_SIZE = 48
TONE_COLOURS = {  # the colour of an image's summary line
    Tone.PENDING: QColor(140, 140, 140),
    Tone.NO_MODEL: QColor(140, 140, 140),
    Tone.ERROR: QColor(150, 150, 150),
    Tone.FLAGGED: QColor(220, 60, 50),
    Tone.CLEAR: QColor(110, 150, 110),
    Tone.OUT_OF_DISTRIBUTION: QColor(200, 130, 0),
}


class StudyTreeModel(QStandardItemModel):
    """Patients, studies and images as rows; images carry their ``ScannedImage``."""

    def __init__(self) -> None:
        super().__init__(0, 1)
        self.setHorizontalHeaderLabels(["Image"])
        self._patients: dict[int, QStandardItem] = {}
        self._studies: dict[int, QStandardItem] = {}
        self._images: dict[Path, QStandardItem] = {}
        self._counts: dict[int, int] = {}  # images under each group row, by id() of its item
        self._order = 0

    def clear_all(self) -> None:
        self.removeRows(0, self.rowCount())
        self._patients.clear()
        self._studies.clear()
        self._images.clear()
        self._counts.clear()
        self._order = 0

    def image_count(self) -> int:
        return len(self._images)

    def add_images(self, images: list[ScannedImage]) -> list[QStandardItem]:
        """Add a batch of scanned images under their patients and studies (images already
        present are skipped); returns the patient and study rows the batch created.

        A scan delivers thousands of images: each study's new images go in with one
        ``appendRows`` and each touched group's label is set once, so the sorting proxy and the
        view see one insertion per study rather than one per image and one relabel per image.
        """
        created: list[QStandardItem] = []
        new_rows: dict[int, tuple[QStandardItem, list[QStandardItem]]] = {}
        touched: dict[int, QStandardItem] = {}
        for image in images:
            if image.path in self._images:
                continue
            patient = self._patients.get(image.patient_key)
            if patient is None:
                patient = self._group_item(image.patient_label, "patient", image.patient_key)
                self._patients[image.patient_key] = patient
                self.appendRow(patient)
                created.append(patient)
            study = self._studies.get(image.study_key)
            if study is None:
                study = self._group_item(image.study_label, "study", image.study_key)
                self._studies[image.study_key] = study
                patient.appendRow(study)
                created.append(study)
            item = self._image_item(image)
            new_rows.setdefault(id(study), (study, []))[1].append(item)
            self._images[image.path] = item
            for group in (patient, study):
                self._counts[id(group)] = self._counts.get(id(group), 0) + 1
                touched[id(group)] = group
        for study, items in new_rows.values():
            study.appendRows(items)
        for group in touched.values():
            self._label_group(group)
        return created

    def _image_item(self, image: ScannedImage) -> QStandardItem:
        item = QStandardItem(_image_text(image))
        item.setEditable(False)
        item.setData("image", KIND_ROLE)
        item.setData(image, IMAGE_ROLE)
        item.setData(self._order, ORDER_ROLE)
        item.setData(UNANALYSED, TRIAGE_ROLE)
        item.setData(_search_text(image), SEARCH_ROLE)
        item.setToolTip(image.display_path)
        self._order += 1
        return item

    def set_thumbnail(self, path: Path, thumbnail: QImage) -> None:
        item = self._images.get(path)
        if item is not None:
            item.setData(QPixmap.fromImage(thumbnail), Qt.ItemDataRole.DecorationRole)

    def set_summary(self, path: Path, summary: ImageSummary) -> None:
        """Record an image's findings; its patient and study take the highest score below them."""
        item = self._images.get(path)
        if item is None:
            return
        score = summary.triage_score
        flags = " ".join(x for x, _ in summary.flagged)
        item.setData(summary, SUMMARY_ROLE)
        item.setData(bool(summary.flagged), FLAGGED_ROLE)
        item.setData(_search_text(item.data(IMAGE_ROLE)) + " " + flags.lower(), SEARCH_ROLE)
        item.setData(score, TRIAGE_ROLE)
        if summary.flagged:
            item.setToolTip(item.data(IMAGE_ROLE).display_path + "\nflagged: " + summary.flagged_text)
        parent = item.parent()
        while parent is not None:
            parent.setData(group_score(parent.data(TRIAGE_ROLE), score), TRIAGE_ROLE)
            if summary.flagged:
                parent.setData(True, FLAGGED_ROLE)
            parent = parent.parent()

    def item_for(self, path: Path) -> QStandardItem | None:
        return self._images.get(path)

    def _group_item(self, text: str, kind: str, key: int) -> QStandardItem:
        item = QStandardItem(text)
        item.setEditable(False)
        item.setData(kind, KIND_ROLE)
        item.setData(key, ORDER_ROLE)
        item.setData(UNANALYSED, TRIAGE_ROLE)
        item.setData(text.lower(), SEARCH_ROLE)
        item.setData(text, Qt.ItemDataRole.UserRole)
        font = item.font()
        font.setBold(kind == "patient")
        item.setFont(font)
        return item

    def _label_group(self, item: QStandardItem) -> None:
        base = item.data(Qt.ItemDataRole.UserRole)
        count = self._counts.get(id(item), 0)
        item.setText(f"{base}  ({count} image{'s' if count != 1 else ''})")


def _image_text(image: ScannedImage) -> str:
    extras = [x for x in (image.view_position, image.modality) if x]
    return image.name + (f"  [{' '.join(extras)}]" if extras else "")


def _search_text(image: ScannedImage) -> str:
    parts = [image.name, image.display_path, image.view_position or "", image.modality or ""]
    if image.labels is not None:
        parts.extend(image.labels or ("no finding",))
    return " ".join(parts).lower()


class StudyFilterProxy(QSortFilterProxyModel):
    """Text filter over names, labels and flags (a group's match shows its images), a
    flagged-only switch, and the two orders."""

    def __init__(self) -> None:
        super().__init__()
        self.setRecursiveFilteringEnabled(True)
        self.setDynamicSortFilter(True)
        self.flagged_only = False
        self.mode = SORT_FOLDER
        self._needle = ""

    def set_text(self, text: str) -> None:
        self._needle = text.strip().lower()
        self.setFilterRegularExpression(QRegularExpression(QRegularExpression.escape(self._needle)))

    def set_flagged_only(self, on: bool) -> None:
        if hasattr(self, "beginFilterChange"):  # Qt >= 6.9; invalidateFilter() is deprecated there
            self.beginFilterChange()
            self.flagged_only = on
            self.endFilterChange()
        else:
            self.flagged_only = on
            self.invalidateFilter()

    def set_mode(self, mode: str) -> None:
        self.mode = mode
        self.invalidate()
        self.sort(0, Qt.SortOrder.AscendingOrder)

    def filterAcceptsRow(self, source_row: int, source_parent: QModelIndex | QPersistentModelIndex) -> bool:  # noqa: N802
        model = self.sourceModel()
        index = model.index(source_row, 0, source_parent)
        kind = index.data(KIND_ROLE)
        if kind != "image":
            # A group is shown when one of its images is (recursive filtering) or it matches.
            return bool(self._needle) and not self.flagged_only and self._needle in (index.data(SEARCH_ROLE) or "")
        if self.flagged_only and not index.data(FLAGGED_ROLE):
            return False
        if not self._needle:
            return True
        probe = index
        while probe.isValid():  # the image, its study or its patient matches
            if self._needle in (probe.data(SEARCH_ROLE) or ""):
                return True
            probe = probe.parent()
        return False

    def lessThan(self, left: QModelIndex | QPersistentModelIndex, right: QModelIndex | QPersistentModelIndex) -> bool:  # noqa: N802
        order, other_order = left.data(ORDER_ROLE) or 0, right.data(ORDER_ROLE) or 0
        if self.mode == SORT_TRIAGE:
            return triage_before(left.data(TRIAGE_ROLE), order, right.data(TRIAGE_ROLE), other_order)
        return order < other_order


class StudyBrowser(QWidget):
    """Filterable, sortable tree of the open folder. Event: ``image_activated(ScannedImage)``."""

    image_activated = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("studyBrowser")
        self.model = StudyTreeModel()
        self.proxy = StudyFilterProxy()
        self.proxy.setSourceModel(self.model)
        self.proxy.sort(0, Qt.SortOrder.AscendingOrder)

        self.filter = QLineEdit()
        self.filter.setObjectName("browserFilter")
        self.filter.setPlaceholderText("Filter: name, patient, label, finding\N{HORIZONTAL ELLIPSIS}")
        self.filter.setClearButtonEnabled(True)
        self.filter.textChanged.connect(self._on_filter)
        self.flagged_only = QCheckBox("Flagged only")
        self.flagged_only.toggled.connect(self._on_flagged_only)
        self.sort_mode = QComboBox()
        self.sort_mode.setObjectName("browserSort")
        self.sort_mode.addItems([SORT_FOLDER, SORT_TRIAGE])
        self.sort_mode.setToolTip("Order of the images: as in the folder, or by the highest flagged "
                                  "probability (triage)")
        self.sort_mode.currentTextChanged.connect(self._on_sort_mode)

        self.tree = QTreeView()
        self.tree.setObjectName("browserTree")
        self.tree.setModel(self.proxy)
        self.tree.setIconSize(QSize(ICON_SIZE, ICON_SIZE))
        self.tree.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.setUniformRowHeights(False)
        self.tree.setIndentation(12)
        self.tree.setHeaderHidden(True)
        self.tree.setItemDelegate(ImageRowDelegate(self.tree))
        self.tree.selectionModel().currentChanged.connect(self._on_current_changed)
        # A click on the current row opens it again (after another file was opened directly).
        self.tree.clicked.connect(lambda index: self._on_current_changed(index, QModelIndex()))

        options = QHBoxLayout()
        options.addWidget(self.flagged_only)
        options.addWidget(self.sort_mode, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.filter)
        layout.addLayout(options)
        layout.addWidget(self.tree, 1)

    # -- content ------------------------------------------------------------------------------
    def clear(self) -> None:
        self.model.clear_all()

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
        self.model.set_summary(path, summary)

    # -- navigation ---------------------------------------------------------------------------
    def visible_images(self) -> list[ScannedImage]:
        """Images in the order the tree shows them (after filter and sort)."""
        return [index.data(IMAGE_ROLE) for index in self._image_indexes()]

    def current_image(self) -> ScannedImage | None:
        index = self.tree.currentIndex()
        return index.siblingAtColumn(0).data(IMAGE_ROLE) if index.isValid() else None

    def select_path(self, path: Path) -> bool:
        """Make the image at ``path`` current (emits ``image_activated``); False if not shown."""
        item = self.model.item_for(path)
        if item is None:
            return False
        index = self.proxy.mapFromSource(item.index())
        if not index.isValid():
            return False
        self.tree.setCurrentIndex(index)
        self.tree.scrollTo(index)
        return True

    def step(self, delta: int) -> ScannedImage | None:
        """Select the next (+1) or previous (-1) shown image; returns it."""
        indexes = self._image_indexes()
        if not indexes:
            return None
        current = self.tree.currentIndex().siblingAtColumn(0)
        rows = [QPersistentModelIndex(i) for i in indexes]
        try:
            position = rows.index(QPersistentModelIndex(current)) + delta
        except ValueError:
            position = 0 if delta > 0 else len(indexes) - 1
        position = min(len(indexes) - 1, max(0, position))
        self.tree.setCurrentIndex(indexes[position])
        self.tree.scrollTo(indexes[position])
        return indexes[position].data(IMAGE_ROLE)

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
        if image is not None:
            self.image_activated.emit(image)

    def _on_filter(self, text: str) -> None:
        self.proxy.set_text(text)
        self.tree.expandAll()

    def _on_flagged_only(self, on: bool) -> None:
        self.proxy.set_flagged_only(on)
        self.tree.expandAll()

    def _on_sort_mode(self, mode: str) -> None:
        self.proxy.set_mode(mode)


class ImageRowDelegate(QStyledItemDelegate):
    """Image rows: thumbnail, file name, and the top flagged finding (red) or its absence."""

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:  # noqa: N802
        size = super().sizeHint(option, index)
        if index.data(KIND_ROLE) == "image":
            return QSize(size.width(), ICON_SIZE + 6)
        return size

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> None:
        if index.data(KIND_ROLE) != "image":
            super().paint(painter, option, index)
            return
        painter.save()
        rect = option.rect
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        if selected:
            painter.fillRect(rect, option.palette.highlight())
        thumb = index.data(Qt.ItemDataRole.DecorationRole)
        box = rect.adjusted(2, 3, 0, 0)
        box.setSize(QSize(ICON_SIZE, ICON_SIZE))
        if isinstance(thumb, QPixmap):
            painter.drawPixmap(box, thumb)
        else:
            painter.fillRect(box, QColor(40, 40, 40))
        text_left = box.right() + 8
        text_rect = rect.adjusted(text_left - rect.left(), 4, -4, -4)
        colour = option.palette.highlightedText().color() if selected else option.palette.text().color()
        font = QFont(option.font)
        painter.setFont(font)
        painter.setPen(colour)
        metrics = painter.fontMetrics()
        name = metrics.elidedText(index.data(Qt.ItemDataRole.DisplayRole) or "", Qt.TextElideMode.ElideMiddle,
                                  text_rect.width())
        painter.drawText(text_rect, Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft, name)
        summary: ImageSummary | None = index.data(SUMMARY_ROLE)
        line = summary_line(summary)
        small = QFont(option.font)
        small.setBold(line.bold)
        painter.setFont(small)
        painter.setPen(colour if selected else TONE_COLOURS[line.tone])
        text = painter.fontMetrics().elidedText(line.text, Qt.TextElideMode.ElideRight, text_rect.width())
        painter.drawText(text_rect, Qt.AlignmentFlag.AlignBottom | Qt.AlignmentFlag.AlignLeft, text)
        painter.restore()
