"""The DICOM tags panel: every header element as a tree (sequences nested), with search.

Header values are the file's, so they are shown as plain text: a row shows a value elided past
``plain_text.ELIDE_AT`` characters, its tooltip the whole value.
"""

from __future__ import annotations

from pydicom.dataset import Dataset
from PySide6.QtCore import QAbstractItemModel, QModelIndex, QPersistentModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QAbstractItemView, QLineEdit, QSizePolicy, QTreeView, QVBoxLayout, QWidget

from ..core.dicom_values import HeaderRow, header_rows
from ..core.identity import IDENTIFYING_TAGS
from .plain_text import MESSAGE_ELIDE_AT, PlainLabel, elide, tooltip

COLUMNS = ("Tag", "Name", "VR", "Value")
HIDDEN = "(hidden: View > Show Patient Identity)"


class _AnyColumnFilter(QSortFilterProxyModel):
    """Keeps a row when any column matches, and keeps the children of a matching sequence."""

    def filterAcceptsRow(self, source_row: int, source_parent: QModelIndex | QPersistentModelIndex) -> bool:
        pattern = self.filterRegularExpression()
        if not pattern.pattern():
            return True
        model = self.sourceModel()
        index = source_parent
        while index.isValid():  # a match on an enclosing sequence shows its whole content
            if self._row_matches(model, index.row(), index.parent()):
                return True
            index = index.parent()
        return self._row_matches(model, source_row, source_parent)

    def _row_matches(self, model: QAbstractItemModel, row: int, parent: QModelIndex | QPersistentModelIndex) -> bool:
        pattern = self.filterRegularExpression()
        for column in range(model.columnCount(parent)):
            text = model.data(model.index(row, column, parent)) or ""
            if pattern.match(str(text)).hasMatch():
                return True
        return False


class TagsPanel(QWidget):
    """Shows the header of the current DICOM image; a search box filters tags, names and values."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("tagsPanel")
        self.search = QLineEdit()
        self.search.setObjectName("tagSearch")
        self.search.setPlaceholderText("Search tags, names, values (e.g. 0028, Window, CHEST)")
        self.search.setClearButtonEnabled(True)
        self.source = QStandardItemModel(0, len(COLUMNS))
        self.source.setHorizontalHeaderLabels(list(COLUMNS))
        self.proxy = _AnyColumnFilter()
        self.proxy.setSourceModel(self.source)
        self.proxy.setRecursiveFilteringEnabled(True)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.tree = QTreeView()
        self.tree.setObjectName("tagTree")
        self.tree.setModel(self.proxy)
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        self.tree.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.tree.setIndentation(8)
        self.tree.setColumnWidth(0, 92)
        self.tree.setColumnWidth(1, 140)
        self.tree.setColumnHidden(2, True)  # the VR is in each row's tooltip: room for values
        self.note = PlainLabel(limit=MESSAGE_ELIDE_AT)  # a load error starts with the file's path
        self.note.setObjectName("tagsNote")
        self.note.setWordWrap(True)
        # its wrapped lines get their height in a short dock: the tree gives way, not the note
        self.note.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        self.tree.setMinimumHeight(0)
        self.search.textChanged.connect(self._on_search)
        self._dataset: Dataset | None = None
        self._identity_shown = False  # the patient's identification only while the reader asks

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.search)
        layout.addWidget(self.note)
        layout.addWidget(self.tree, 1)
        self.show_header(None, "No image open.")

    def show_header(self, dataset: Dataset | None, note: str | None = None) -> None:
        """Show ``dataset`` (a pydicom Dataset), or only ``note`` when there is none. The
        patient's identifying values are masked unless ``set_identity_shown(True)``."""
        self._dataset = dataset
        self.source.removeRows(0, self.source.rowCount())
        if dataset is not None:  # element by element: an unreadable one is listed as such
            self._add_rows(self.source.invisibleRootItem(), header_rows(dataset))
        self.note.setText(note or "")
        self.note.setVisible(bool(note))
        self._on_search(self.search.text())

    def set_identity_shown(self, on: bool) -> None:
        """Show the patient's name, ID, birth date and other identifiers (on) or mask them."""
        if on != self._identity_shown:
            self._identity_shown = on
            self.show_header(self._dataset, self.note.full_text() or None)

    def visible_rows(self) -> int:
        """Top-level rows that pass the search (for tests and the status line)."""
        return self.proxy.rowCount()

    def _add_rows(self, parent: QStandardItem, rows: list[HeaderRow]) -> None:
        for row in rows:
            masked = row.number in IDENTIFYING_TAGS and not self._identity_shown
            items = _row(row.tag, row.name, row.vr, HIDDEN if masked and row.value else row.value)
            parent.appendRow(items)
            for i, children in enumerate(row.items, start=1):
                item_row = _row("", f"Item {i}", "", "")
                items[0].appendRow(item_row)
                self._add_rows(item_row[0], list(children))

    def _on_search(self, text: str) -> None:
        from PySide6.QtCore import QRegularExpression

        self.proxy.setFilterRegularExpression(
            QRegularExpression(QRegularExpression.escape(text.strip()),
                               QRegularExpression.PatternOption.CaseInsensitiveOption)
        )
        if text.strip():
            self.tree.expandAll()


def _row(*texts: str) -> list[QStandardItem]:
    """The items of one element: each shows its text elided; the tooltip of each holds the
    element's tag, name, VR and whole value."""
    tag, name, vr, value = texts
    tip = tooltip(f"{tag} {name}" + (f" [{vr}]" if vr else "") + (f"\n{value}" if value else ""))
    items = []
    for text in texts:
        item = QStandardItem(elide(text))
        item.setEditable(False)
        item.setToolTip(tip)
        items.append(item)
    return items
