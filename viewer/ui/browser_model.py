"""The study browser's data: patients -> studies -> series -> images as a Qt item model,
filtered and sorted.

``StudyTreeModel`` holds the rows as the scan streams them in: a DICOM image under its series
row (number, description, count; ``viewer.viewmodel.series_text``), any other image directly
under its study, with each image's thumbnail and summary once analysed (a patient's, study's
or series' triage key is its best image's, recomputed when any of them changes);
``StudyFilterProxy`` filters by text and flags and sorts in folder or triage order (the order's
rules are ``viewer.viewmodel.browser_order``). The widget is ``browser.py``. Patient labels may
be identifying: they are shown in the browser and nowhere else. Names, patient and study labels
come from the folder and its headers: a row shows them as plain text elided past
``plain_text.ELIDE_AT`` characters, its tooltip (escaped) in full.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QSize, QSortFilterProxyModel, Qt
from PySide6.QtGui import QImage, QStandardItem, QStandardItemModel

from viewer.core.patient_tree import image_order, series_order
from viewer.core.scan import ScannedImage
from viewer.viewmodel.browser_filter import Field, group_matches, image_facts, match_row, parse_query
from viewer.viewmodel.browser_order import (
    PENDING,
    SORT_FOLDER,
    SORT_TRIAGE,
    TriageKey,
    group_key,
    triage_before,
    triage_key,
)
from viewer.viewmodel.browser_summary import ImageSummary
from viewer.viewmodel.series_text import (
    has_series_row,
    image_row_text,
    patient_title,
    series_row_text,
    series_title,
)

from .plain_text import elide, tooltip

KIND_ROLE = Qt.ItemDataRole.UserRole + 10  # "patient", "study", "series" or "image"
IMAGE_ROLE = Qt.ItemDataRole.UserRole + 11
ORDER_ROLE = Qt.ItemDataRole.UserRole + 12  # (folder order among its siblings (a tuple), row id): one read sorts
TRIAGE_ROLE = Qt.ItemDataRole.UserRole + 13  # a browser_order.TriageKey
SEARCH_ROLE = Qt.ItemDataRole.UserRole + 14  # an image's browser_filter.RowFacts; a group's text
FLAGGED_ROLE = Qt.ItemDataRole.UserRole + 15
SUMMARY_ROLE = Qt.ItemDataRole.UserRole + 16  # the image's ImageSummary, once analysed
ROW_ID_ROLE = Qt.ItemDataRole.UserRole + 17  # a number of its own for every row, for the shown order
SERIES_ROLE = Qt.ItemDataRole.UserRole + 18  # a series row's (number, description)
PATIENT_IMAGE_ROLE = Qt.ItemDataRole.UserRole + 19  # a patient row's first image: its title either way
GROUP_KINDS = ("patient", "study", "series")
ICON_SIZE = 48  # an image row's thumbnail
IMAGE_ROW_SIZE = QSize(ICON_SIZE * 4, ICON_SIZE + 6)  # its width does not matter: the one column spans the view

class StudyTreeModel(QStandardItemModel):
    """Patients, studies, series and images as rows; images carry their ``ScannedImage``.

    The series row is the tree's level for a series (``KIND_ROLE`` "series", its number and
    description in ``SERIES_ROLE``, its images as its rows): what shows a series shows it.
    """

    def __init__(self) -> None:
        super().__init__(0, 1)
        self.setHorizontalHeaderLabels(["Image"])
        # Every row's size is data (Qt.SizeHintRole), which Qt's delegate reads without Python:
        # a view lays out all its rows after every insertion. The view sets the group rows' size
        # from its style (browser_rows.group_row_size); until then the style measures each.
        self.group_row_size = QSize()
        self._identity_shown = False  # patient rows name the patient only while the reader asks
        self._patients: dict[int, QStandardItem] = {}
        self._studies: dict[int, QStandardItem] = {}
        self._series: dict[int, QStandardItem] = {}
        self._images: dict[Path, QStandardItem] = {}
        self._counts: dict[int, int] = {}  # images under each group row, by id() of its item
        self._order = 0
        self._row_ids = 0

    def clear_all(self) -> None:
        self.removeRows(0, self.rowCount())
        self._patients.clear()
        self._studies.clear()
        self._series.clear()
        self._images.clear()
        self._counts.clear()
        self._order = 0

    def image_count(self) -> int:
        return len(self._images)

    def triage_keys(self) -> dict[int, TriageKey]:
        """Every row's current triage key, by its ``ROW_ID_ROLE``: the order to show."""
        return {item.data(ROW_ID_ROLE): item.data(TRIAGE_ROLE) for item in self._all_items()}

    def keys_changed_since(self, shown: dict[int, TriageKey]) -> list[QStandardItem]:
        """The rows whose triage key is not the one in ``shown`` (by ``ROW_ID_ROLE``)."""
        return [item for item in self._all_items()
                if shown.get(item.data(ROW_ID_ROLE), PENDING) != item.data(TRIAGE_ROLE)]

    def _all_items(self) -> list[QStandardItem]:
        return [*self._patients.values(), *self._studies.values(), *self._series.values(), *self._images.values()]

    def _set_order(self, item: QStandardItem, order: tuple[object, ...]) -> None:
        """The row's folder order and a number of its own (what the shown triage order is kept by)."""
        self._row_ids += 1
        item.setData(self._row_ids, ROW_ID_ROLE)
        item.setData((order, self._row_ids), ORDER_ROLE)

    def series_members(self, image: ScannedImage) -> list[ScannedImage]:
        """The images of ``image``'s series found so far (empty for an image without a series)."""
        item = self._images.get(image.path)
        series = item.parent() if item is not None else None
        if series is None or series.data(KIND_ROLE) != "series":
            return []
        return [series.child(row).data(IMAGE_ROLE) for row in range(series.rowCount())]

    def patient_images(self, image: ScannedImage) -> list[ScannedImage]:
        """Every image found so far of ``image``'s patient (its studies, series and images)."""
        patient = self._patients.get(image.patient_key)
        found: list[ScannedImage] = []
        pending = [patient] if patient is not None else []
        while pending:
            item = pending.pop()
            if item.data(KIND_ROLE) == "image":
                found.append(item.data(IMAGE_ROLE))
            pending.extend(item.child(row) for row in range(item.rowCount()))
        return found

    def add_images(self, images: list[ScannedImage]) -> list[QStandardItem]:
        """Add a batch of scanned images under their patients, studies and series (images
        already present are skipped); returns the group rows the batch created.

        A scan delivers thousands of images, and every insertion makes the sorting proxy and
        the view walk what they hold (the persistent index of every open group): a new group is
        filled before it goes in, and each group already in the tree gets its new rows in one
        ``appendRows``, so a batch of new patients is one insertion. A group is labelled once
        a batch.
        """
        created: list[QStandardItem] = []
        # rows for groups already in the tree, by id() of the group (None: the top level)
        new_rows: dict[int, tuple[QStandardItem, list[QStandardItem]]] = {}
        touched: dict[int, QStandardItem] = {}
        root = self.invisibleRootItem()

        def attach(parent: QStandardItem, row: QStandardItem) -> None:
            if parent is root or parent.model() is not None:  # in the tree: with the batch's others
                new_rows.setdefault(id(parent), (parent, []))[1].append(row)
            else:  # a group of this batch, not in the tree yet: no one is told
                parent.appendRow(row)

        for image in images:
            if image.path in self._images:
                continue
            patient = self._patients.get(image.patient_key)
            if patient is None:
                patient = self._group_item(patient_title(image, self._identity_shown), "patient", (image.patient_key,))
                patient.setData(image, PATIENT_IMAGE_ROLE)
                self._patients[image.patient_key] = patient
                attach(root, patient)
                created.append(patient)
            study = self._studies.get(image.study_key)
            if study is None:
                study = self._group_item(image.study_label, "study", (image.study_key,))
                self._studies[image.study_key] = study
                attach(patient, study)
                created.append(study)
            groups = [patient, study]
            if has_series_row(image):
                series = self._series.get(image.series_key)
                if series is None:
                    series = self._series_item(image)
                    self._series[image.series_key] = series
                    attach(study, series)
                    created.append(series)
                groups.append(series)
            item = self._image_item(image)
            attach(groups[-1], item)
            self._images[image.path] = item
            for group in groups:
                self._counts[id(group)] = self._counts.get(id(group), 0) + 1
                touched[id(group)] = group
        for group in touched.values():  # the new ones labelled before they go in
            self._label_group(group)
        for parent, rows in new_rows.values():
            parent.appendRows(rows)
        return created

    def _image_item(self, image: ScannedImage) -> QStandardItem:
        item = QStandardItem(elide(image_row_text(image)))
        item.setEditable(False)
        item.setData("image", KIND_ROLE)
        item.setData(image, IMAGE_ROLE)
        # a series' images by instance number; other images (no number) as the folder lists them
        number_first, number, _ = image_order(image)
        self._set_order(item, (number_first, number, self._order))
        item.setData(PENDING, TRIAGE_ROLE)
        item.setData(IMAGE_ROW_SIZE, Qt.ItemDataRole.SizeHintRole)
        item.setData(image_facts(image), SEARCH_ROLE)
        item.setToolTip(tooltip(image.display_path))
        self._order += 1
        return item

    def set_thumbnail(self, path: Path, thumbnail: QImage) -> None:
        """Keep the browser's own copy of an image's thumbnail, at the size a row draws it and
        in its format (grey: a byte a pixel), whatever ``thumbnail`` views: a folder's thousands
        of thumbnails stay as long as it is open (a QPixmap of a grey picture is 32-bit)."""
        item = self._images.get(path)
        if item is not None:
            small = thumbnail.scaled(ICON_SIZE, ICON_SIZE, Qt.AspectRatioMode.KeepAspectRatio,
                                     Qt.TransformationMode.SmoothTransformation)
            if small.format() != thumbnail.format():
                small = small.convertToFormat(thumbnail.format())
            # a copy of its own, just its pixels: the scaled image holds twice its bytes (and
            # when ``thumbnail`` has the size already, it is the same picture, of the worker's)
            small = small.copy()
            item.setData(small, Qt.ItemDataRole.DecorationRole)

    def set_summary(self, path: Path, summary: ImageSummary) -> None:
        """Record an image's findings (see ``set_summaries``)."""
        self.set_summaries([(path, summary)])

    def set_summaries(self, summaries: list[tuple[Path, ImageSummary]], *,
                      announce: bool = True) -> list[QStandardItem]:
        """Record images' findings; then every patient, study and series above them takes its
        best image's key again, from all its images as they are now (a moved operating point
        takes flags away as well as adding them). Each group is recomputed once per call.

        The items change quietly and the rows that changed are announced afterwards, one
        ``dataChanged`` per run of neighbouring rows (``announce``): five roles of ten thousand
        images, announced one by one, kept the sorting proxy busy for seconds. Returns the rows
        that changed; ``announce=False`` leaves announcing them to the caller."""
        changed: list[QStandardItem] = []
        touched: dict[int, QStandardItem] = {}
        blocked = self.blockSignals(True)
        try:
            for path, summary in summaries:
                item = self._images.get(path)
                if item is None:
                    continue
                image: ScannedImage = item.data(IMAGE_ROLE)
                item.setData(summary, SUMMARY_ROLE)
                item.setData(summary.flagged_for_triage, FLAGGED_ROLE)
                item.setData(image_facts(image, summary), SEARCH_ROLE)
                item.setData(triage_key(summary), TRIAGE_ROLE)
                text = image.display_path + ("\nflagged: " + summary.flagged_text if summary.flagged else "")
                item.setToolTip(tooltip(text))
                changed.append(item)
                parent = item.parent()
                while parent is not None:
                    touched[id(parent)] = parent
                    parent = parent.parent()
            # the deepest groups first: a patient's key is its studies' keys, computed just before
            for group in sorted(touched.values(), key=_depth, reverse=True):
                key = group_key(group.child(row).data(TRIAGE_ROLE) for row in range(group.rowCount()))
                if key != group.data(TRIAGE_ROLE):
                    group.setData(key, TRIAGE_ROLE)
                    changed.append(group)
        finally:
            self.blockSignals(blocked)
        if announce:
            self.announce(changed)
        return changed

    def announce(self, items: list[QStandardItem]) -> None:
        """Say that these rows changed: one ``dataChanged`` for each run of neighbouring rows
        of one parent, so a proxy re-filters and re-places them once."""
        rows: dict[int, tuple[QModelIndex, list[int]]] = {}
        for item in items:
            parent = item.parent()
            parent_index = parent.index() if parent is not None else QModelIndex()
            rows.setdefault(id(parent), (parent_index, []))[1].append(item.row())
        for parent_index, numbers in rows.values():
            numbers.sort()
            start = previous = numbers[0]
            for number in numbers[1:] + [None]:
                if number is not None and number <= previous + 1:
                    previous = number
                    continue
                self.dataChanged.emit(self.index(start, 0, parent_index), self.index(previous, 0, parent_index))
                if number is not None:
                    start = previous = number

    def item_for(self, path: Path) -> QStandardItem | None:
        return self._images.get(path)

    def _series_item(self, image: ScannedImage) -> QStandardItem:
        item = self._group_item(series_title(image.series_number, image.series_description), "series",
                                series_order(image.series_number, image.series_key))
        item.setData((image.series_number, image.series_description), SERIES_ROLE)
        return item

    def set_identity_shown(self, on: bool) -> None:
        """Name the patients (header names and IDs, NIH patient numbers) or show their
        pseudonymous numbers, age and sex; the filter matches what is shown."""
        self._identity_shown = on
        for patient in self._patients.values():
            title = patient_title(patient.data(PATIENT_IMAGE_ROLE), on)
            patient.setData(title, SEARCH_ROLE)
            patient.setData(title, Qt.ItemDataRole.UserRole)
            patient.setToolTip(tooltip(title) if elide(title) != title else "")
            self._label_group(patient)

    def _group_item(self, text: str, kind: str, order: tuple[object, ...]) -> QStandardItem:
        shown = elide(text)
        item = QStandardItem(shown)
        if shown != text:
            item.setToolTip(tooltip(text))
        item.setEditable(False)
        item.setData(kind, KIND_ROLE)
        self._set_order(item, order)
        item.setData(PENDING, TRIAGE_ROLE)
        item.setData(text, SEARCH_ROLE)
        item.setData(text, Qt.ItemDataRole.UserRole)
        if self.group_row_size.isValid():
            item.setData(self.group_row_size, Qt.ItemDataRole.SizeHintRole)
        font = item.font()
        font.setBold(kind == "patient")
        item.setFont(font)
        return item

    def _label_group(self, item: QStandardItem) -> None:
        count = self._counts.get(id(item), 0)
        if item.data(KIND_ROLE) == "series":
            number, description = item.data(SERIES_ROLE)
            item.setText(series_row_text(number, elide(description), count))
            return
        base = item.data(Qt.ItemDataRole.UserRole)
        item.setText(f"{elide(base)}  ({count} image{'s' if count != 1 else ''})")


def _depth(item: QStandardItem) -> int:
    depth, parent = 0, item.parent()
    while parent is not None:
        depth, parent = depth + 1, parent.parent()
    return depth


class StudyFilterProxy(QSortFilterProxyModel):
    """The filter (``viewer.viewmodel.browser_filter``: plain text over names, dataset labels,
    flags and group rows, whose match shows their images; ``label:`` and ``flag:``), a
    flagged-only switch, and the two orders. ``match_reasons`` says why a shown row matched.

    The triage order shown is the one taken last (``take_order``), not the keys as they change:
    results arriving change the model's keys many times a second, and the widget decides when
    the rows may move (``viewer.viewmodel.live_order``). Rows added since sort as not analysed.
    """

    def __init__(self) -> None:
        super().__init__()
        self.setRecursiveFilteringEnabled(True)
        self.setDynamicSortFilter(True)
        self.flagged_only = False
        self.mode = SORT_FOLDER
        self.query = parse_query("")
        self._shown_keys: dict[int, TriageKey] = {}

    def order_differs(self, items: list[QStandardItem]) -> bool:
        """Whether any of these rows' keys is not the one the shown order was taken with."""
        return any(self._shown_keys.get(item.data(ROW_ID_ROLE), PENDING) != item.data(TRIAGE_ROLE) for item in items)

    def take_order(self, changed_too: list[QStandardItem] | None = None) -> None:
        """Sort by the model's keys as they are now: only the rows whose key changed are placed
        again (a pause's worth of results moves a few rows, not a re-sort of the folder).
        ``changed_too``: rows changed but not announced yet, announced with them."""
        model = self.sourceModel()
        if not isinstance(model, StudyTreeModel):
            return
        moved = model.keys_changed_since(self._shown_keys)
        for item in moved:
            self._shown_keys[item.data(ROW_ID_ROLE)] = item.data(TRIAGE_ROLE)
        if changed_too:
            moved = list({id(item): item for item in [*moved, *changed_too]}.values())
        model.announce(moved)

    def set_text(self, text: str) -> None:
        query = parse_query(text)
        if query != self.query:
            self._change_filter(lambda: setattr(self, "query", query))

    def set_flagged_only(self, on: bool) -> None:
        self._change_filter(lambda: setattr(self, "flagged_only", on))

    def _change_filter(self, change: Callable[[], None]) -> None:
        if hasattr(self, "beginFilterChange"):  # Qt >= 6.9; invalidateFilter() is deprecated there
            self.beginFilterChange()
            change()
            self.endFilterChange()
        else:
            change()
            self.invalidateFilter()

    def match_reasons(self, index: QModelIndex | QPersistentModelIndex) -> tuple[str, ...]:
        """Why the shown image row at ``index`` matches the filter ('label Hernia', 'flag Hernia
        0.08', 'name', or 'study' when its study's row matched); empty without a filter."""
        source = self.mapToSource(self.index(index.row(), 0, index.parent()))
        if not self.query.active or source.data(KIND_ROLE) != "image":
            return ()
        reasons = match_row(self.query, source.data(SEARCH_ROLE))
        if reasons:
            return reasons
        probe = source.parent()
        while probe.isValid():
            if group_matches(self.query, probe.data(SEARCH_ROLE) or ""):
                return (str(probe.data(KIND_ROLE)),)
            probe = probe.parent()
        return ()

    def set_mode(self, mode: str) -> None:
        self.mode = mode
        model = self.sourceModel()
        self._shown_keys = model.triage_keys() if isinstance(model, StudyTreeModel) else {}
        self.invalidate()
        self.sort(0, Qt.SortOrder.AscendingOrder)

    def filterAcceptsRow(self, source_row: int, source_parent: QModelIndex | QPersistentModelIndex) -> bool:
        model = self.sourceModel()
        index = model.index(source_row, 0, source_parent)
        kind = index.data(KIND_ROLE)
        query = self.query
        if kind != "image":
            # A group is shown when one of its images is (recursive filtering) or it matches.
            return not self.flagged_only and group_matches(query, index.data(SEARCH_ROLE) or "")
        if self.flagged_only and not index.data(FLAGGED_ROLE):
            return False
        if not query.active or match_row(query, index.data(SEARCH_ROLE)):
            return True
        if query.field is not Field.ANY:
            return False
        probe = index.parent()
        while probe.isValid():  # its series, study or patient matches
            if group_matches(query, probe.data(SEARCH_ROLE) or ""):
                return True
            probe = probe.parent()
        return False

    def lessThan(self, left: QModelIndex | QPersistentModelIndex, right: QModelIndex | QPersistentModelIndex) -> bool:
        # called n log n times a sort: two reads of the model each, the rest in Python
        (order, row_id), (other_order, other_id) = left.data(ORDER_ROLE), right.data(ORDER_ROLE)
        if self.mode == SORT_TRIAGE:
            return triage_before(self._shown_keys.get(row_id), order, self._shown_keys.get(other_id), other_order)
        return bool(order < other_order)
