"""The DICOM tags panel: every header element as a tree (sequences nested), with search.

Header values are the file's, so they are shown as plain text: a row shows a value elided past
``plain_text.ELIDE_AT`` characters, its tooltip the whole value.
"""

from __future__ import annotations

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from PySide6.QtCore import QAbstractItemModel, QModelIndex, QPersistentModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QAbstractItemView, QLineEdit, QTreeView, QVBoxLayout, QWidget

from .plain_text import MESSAGE_ELIDE_AT, PlainLabel, elide, tooltip

MAX_SEQUENCE_ITEMS = 50  # a sequence with thousands of items (rare) shows its first ones
COLUMNS = ("Tag", "Name", "VR", "Value")


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
        self.search.textChanged.connect(self._on_search)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.search)
        layout.addWidget(self.note)
        layout.addWidget(self.tree, 1)
        self.show_header(None, "No image open.")

    def show_header(self, dataset: Dataset | None, note: str | None = None) -> None:
        """Show ``dataset`` (a pydicom Dataset), or only ``note`` when there is none."""
        self.source.removeRows(0, self.source.rowCount())
        if dataset is not None:
            root = self.source.invisibleRootItem()
            try:
                for element in dataset:
                    self._add_element(root, element)
            except Exception as exc:  # a damaged header still shows what could be read
                root.appendRow(_row("", "(the rest of the header could not be read)", "", str(exc)))
        self.note.setText(note or "")
        self.note.setVisible(bool(note))
        self._on_search(self.search.text())

    def visible_rows(self) -> int:
        """Top-level rows that pass the search (for tests and the status line)."""
        return self.proxy.rowCount()

    def _add_element(self, parent: QStandardItem, element: DataElement) -> None:
        tag = f"({element.tag.group:04X},{element.tag.element:04X})"
        name = element.name if element.name else element.keyword or "Private tag"
        vr = str(element.VR)
        if vr == "SQ":
            items = list(element.value or [])
            row = _row(tag, name, vr, f"{len(items)} item(s)")
            parent.appendRow(row)
            for i, item in enumerate(items[:MAX_SEQUENCE_ITEMS], start=1):
                item_row = _row("", f"Item {i}", "", "")
                row[0].appendRow(item_row)
                for child in item:
                    self._add_element(item_row[0], child)
            return
        parent.appendRow(_row(tag, name, vr, _value_text(element)))

    def _on_search(self, text: str) -> None:
        from PySide6.QtCore import QRegularExpression

        self.proxy.setFilterRegularExpression(
            QRegularExpression(QRegularExpression.escape(text.strip()),
                               QRegularExpression.PatternOption.CaseInsensitiveOption)
        )
        if text.strip():
            self.tree.expandAll()


def _value_text(element: DataElement) -> str:
    if element.VR in ("OB", "OW", "OF", "OD", "OL", "OV", "UN") and isinstance(element.value, (bytes, bytearray)):
        return f"<{len(element.value)} bytes>"
    try:
        return str(element.value)
    except Exception:  # undecodable values are shown, not fatal
        return repr(element.value)


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
