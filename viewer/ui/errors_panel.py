"""The errors panel: files that could not be shown, with the reason; never a modal dialog.

A folder export can hold thousands of bad files: rows are kept in a plain list behind a table
model, added in batches (one model notification per batch) and de-duplicated with a set, so
the GUI thread's work per error stays constant however many there are. File names and reasons
(which start with a path) are the folder's: a cell shows them as plain text, elided past
``plain_text.ELIDE_AT`` characters, and its tooltip in full. Both are shown through the open
folder's ``identity.Scrubber`` (set with ``set_scrubber``), applied when a cell is drawn, so a
row listed before the header naming its patient was read loses the name too.
"""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from viewer.core.identity import Scrubber

from .plain_text import PlainLabel, elide, tooltip

COLUMNS = ("File", "Reason")


class ErrorsModel(QAbstractTableModel):
    """(file, reason) rows in the order they were reported."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[tuple[str, str]] = []
        self._seen: set[tuple[str, str]] = set()
        self.scrubber = Scrubber()

    def add(self, entries: Iterable[tuple[str, str]]) -> int:
        """Append the entries not listed yet; returns how many were new."""
        new = []
        for entry in entries:
            if entry not in self._seen:
                self._seen.add(entry)
                new.append(entry)
        if new:
            first = len(self.rows)
            self.beginInsertRows(QModelIndex(), first, first + len(new) - 1)
            self.rows.extend(new)
            self.endInsertRows()
        return len(new)

    def clear(self) -> None:
        self.beginResetModel()
        self.rows.clear()
        self._seen.clear()
        self.endResetModel()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return elide(self.scrubber.scrub(self.rows[index.row()][index.column()]))
        if role == Qt.ItemDataRole.ToolTipRole:
            return tooltip(self.scrubber.scrub(self.rows[index.row()][index.column()]))
        return None

    def rescrubbed(self) -> None:
        """The scrubber learned an identity: every cell may read differently now."""
        if self.rows:
            last = self.index(len(self.rows) - 1, len(COLUMNS) - 1)
            self.dataChanged.emit(self.index(0, 0), last, [Qt.ItemDataRole.DisplayRole])

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None


class ErrorsPanel(QWidget):
    """A growing list of (file, reason). Event: ``errors_changed(int)`` with the new count."""

    errors_changed = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("errorsPanel")
        self.model = ErrorsModel()
        self.table = QTableView()
        self.table.setObjectName("errorsTable")
        self.table.setModel(self.model)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setColumnWidth(0, 240)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(self.table.fontMetrics().height() + 6)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setWordWrap(False)
        self.summary = PlainLabel()
        self.clear_button = QPushButton("Clear")
        self.clear_button.clicked.connect(self.clear)
        self._ignored = 0

        bar = QHBoxLayout()
        bar.addWidget(self.summary, 1)
        bar.addWidget(self.clear_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(bar)
        layout.addWidget(self.table, 1)
        self._update_summary()

    def add_error(self, file: str, reason: str) -> None:
        """List one file that could not be shown (the same file and reason only once)."""
        self.add_errors([(file, reason)])

    def add_errors(self, entries: Iterable[tuple[str, str]]) -> None:
        """List several at once (a scan batch): one update of the table and the summary."""
        if self.model.add(entries):
            self._update_summary()
            self.errors_changed.emit(self.count())

    def add_ignored(self, count: int) -> None:
        """Count files that are not images at all (notes, CSVs): mentioned, not listed."""
        self._ignored += count
        self._update_summary()

    def clear(self) -> None:
        self.model.clear()
        self._ignored = 0
        self._update_summary()
        self.errors_changed.emit(0)

    def set_scrubber(self, scrubber: Scrubber) -> None:
        """Show every row through ``scrubber`` (the open folder's identities)."""
        self.model.scrubber = scrubber
        self.model.rescrubbed()

    def rescrubbed(self) -> None:
        """The scrubber learned more: redraw what is listed."""
        self.model.rescrubbed()

    def count(self) -> int:
        return len(self.model.rows)

    def entries(self) -> list[tuple[str, str]]:
        """The rows as shown: the open folder's identities removed."""
        scrub = self.model.scrubber.scrub
        return [(scrub(file), scrub(reason)) for file, reason in self.model.rows]

    def _update_summary(self) -> None:
        n = self.count()
        text = "No problems." if n == 0 else f"{n} file(s) could not be shown."
        if self._ignored:
            text += f" {self._ignored} other file(s) ignored (not images)."
        self.summary.setText(text)
