"""The keyboard and mouse help (F1): a table of ``help_table`` sections in a dialog.

Key names sit in a column as wide as the widest of them, never wrapped; what they do wraps in
the column beside them. The dialog is not modal: it can stay open beside the window while the
keys are tried. The text is the viewer's own (menu names, the bindings' table), shown as plain
text in table items.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from viewer.viewmodel.help_table import HelpSection

from .model_panel import NOT_FOR_DIAGNOSIS

KEY_GAP = 16  # px between the widest key and its description


class HelpDialog(QDialog):
    """The help's sections as a two-column table (keys, what they do) with section titles."""

    def __init__(self, sections: Sequence[HelpSection], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("keyboardMouseHelp")
        self.setWindowTitle("Keyboard and mouse")
        self.table = QTableWidget(0, 2)
        self.table.setObjectName("helpTable")
        self.table.setHorizontalHeaderLabels(["Keys / mouse", "Does"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.table.setShowGrid(False)
        self.table.setWordWrap(True)
        self.show_sections(sections)

        closer = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        closer.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addWidget(QLabel(NOT_FOR_DIAGNOSIS))
        layout.addWidget(closer)
        self.resize(640, 620)

    def show_sections(self, sections: Sequence[HelpSection]) -> None:
        """Fill the table: a bold title row per section, then its bindings."""
        table = self.table
        table.clearSpans()
        table.setRowCount(0)
        bold = QFont(table.font())
        bold.setBold(True)
        for section in sections:
            row = table.rowCount()
            table.insertRow(row)
            title = QTableWidgetItem(section.title)
            title.setFont(bold)
            table.setItem(row, 0, title)
            table.setSpan(row, 0, 1, 2)
            for binding in section.bindings:
                row = table.rowCount()
                table.insertRow(row)
                table.setItem(row, 0, QTableWidgetItem(binding.keys))
                table.setItem(row, 1, QTableWidgetItem(binding.does))
        header = table.horizontalHeader()
        # The keys' column fits its widest entry with a gap after it, and the description takes
        # the rest and wraps: "Ctrl+Shift+E" is never cut into two lines.
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Fixed)
        table.setColumnWidth(0, table.sizeHintForColumn(0) + KEY_GAP)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        table.resizeRowsToContents()
