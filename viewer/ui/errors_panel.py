"""The errors panel: files that could not be shown, with the reason; never a modal dialog."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)


class ErrorsPanel(QWidget):
    """A growing list of (file, reason). Event: ``errors_changed(int)`` with the new count."""

    errors_changed = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("errorsPanel")
        self.table = QTableWidget(0, 2)
        self.table.setObjectName("errorsTable")
        self.table.setHorizontalHeaderLabels(["File", "Reason"])
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setColumnWidth(0, 240)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setWordWrap(False)
        self.summary = QLabel()
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
        """List one file that could not be shown (duplicates of the same file+reason are skipped)."""
        for row in range(self.table.rowCount()):
            if self.table.item(row, 0).text() == file and self.table.item(row, 1).text() == reason:
                return
        row = self.table.rowCount()
        self.table.insertRow(row)
        for column, text in enumerate((file, reason)):
            item = QTableWidgetItem(text)
            item.setToolTip(text)
            item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
            self.table.setItem(row, column, item)
        self._update_summary()
        self.errors_changed.emit(self.count())

    def add_ignored(self, count: int) -> None:
        """Count files that are not images at all (notes, CSVs): mentioned, not listed."""
        self._ignored += count
        self._update_summary()

    def clear(self) -> None:
        self.table.setRowCount(0)
        self._ignored = 0
        self._update_summary()
        self.errors_changed.emit(0)

    def count(self) -> int:
        return self.table.rowCount()

    def entries(self) -> list[tuple[str, str]]:
        return [(self.table.item(r, 0).text(), self.table.item(r, 1).text()) for r in range(self.count())]

    def _update_summary(self) -> None:
        n = self.count()
        text = "No problems." if n == 0 else f"{n} file(s) could not be shown."
        if self._ignored:
            text += f" {self._ignored} other file(s) ignored (not images)."
        self.summary.setText(text)
