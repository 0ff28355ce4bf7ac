"""The Comparison panel: each finding on the prior (or other view) and on the current image.

One row a finding: its probability on the image beside the reading one, on the reading one,
and the change ("0.21 -> 0.63, newly flagged"), newly flagged findings first; in a layout of four,
the other two viewports' probabilities in a column each. Flags are at the
operating point the findings panel shows. Everything from outside the program (labels from the
model's card, study titles from headers) is shown as plain text.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from viewer.core.findings import Findings
from viewer.viewmodel.comparison import FindingChange

from .plain_text import PlainLabel, elide, tooltip

FLAGGED = QColor("#c62828")
UP = QColor("#b35c00")
DOWN = QColor("#2e7d32")
COLUMNS = ("Finding", "Before", "Now", "Change")
OTHER_COLUMNS = ("View 3", "View 4")  # the 2x2 layout's other two viewports, named in the heading


class ComparisonPanel(QWidget):
    """The findings of two images side by side with their change, or a line saying why not."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("comparisonPanel")
        self.heading = PlainLabel()
        self.heading.setWordWrap(True)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("comparisonTable")
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setWordWrap(False)  # one line a finding: a long change is elided, whole in its tooltip
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.heading)
        layout.addWidget(self.table, 1)
        self.changes: list[FindingChange] = []
        self.show_message("Open an image with a prior study, then View > Compare with Prior.")

    def show_message(self, text: str) -> None:
        """No comparison: say why (no prior, no model, the findings are still coming)."""
        self.changes = []
        self.heading.setText(text)
        self.table.setRowCount(0)

    def show_changes(self, before: str, now: str, changes: list[FindingChange],
                     others: Sequence[tuple[str, Findings | None]] = ()) -> None:
        """The findings of the image titled ``before`` and of ``now``, one row each, with their
        change; ``others``: the other viewports' (title, findings or None), a column each after
        the change, so that every image on screen has its findings here."""
        self.changes = list(changes)
        lines = [f"Before: {before}", f"Now: {now}"]
        lines += [f"{OTHER_COLUMNS[i]}: {title}" for i, (title, _f) in enumerate(others[: len(OTHER_COLUMNS)])]
        self.heading.setText("\n".join(lines))
        shown_others = list(others[: len(OTHER_COLUMNS)])
        self.table.setColumnCount(len(COLUMNS) + len(shown_others))
        self.table.setHorizontalHeaderLabels([*COLUMNS, *OTHER_COLUMNS[: len(shown_others)]])
        for column in range(len(COLUMNS), self.table.columnCount()):
            self.table.horizontalHeader().setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.table.setRowCount(len(changes))
        bold = QFont(self.font())
        bold.setBold(True)
        for row, change in enumerate(changes):
            cells = [elide(change.label, 60), _value(change.before), _value(change.after), change.change_text]
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setFlags(Qt.ItemFlag.ItemIsEnabled)
                item.setToolTip(tooltip(f"{change.label}: {change.text}"))
                if column in (1, 2):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                flagged = change.flagged_before if column == 1 else change.flagged_after if column == 2 else False
                if flagged:
                    item.setForeground(QBrush(FLAGGED))
                    item.setFont(bold)
                if column == 3:
                    colour = FLAGGED if change.flag_change == "newly flagged" else (
                        UP if change.direction > 0 else DOWN if change.direction < 0 else None)
                    if colour is not None:
                        item.setForeground(QBrush(colour))
                self.table.setItem(row, column, item)
            for extra, (title, findings) in enumerate(shown_others):
                value, flagged = _of(findings, change.label)
                item = QTableWidgetItem(_value(value))
                item.setFlags(Qt.ItemFlag.ItemIsEnabled)
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                item.setToolTip(tooltip(f"{change.label} on {title}: {_value(value)}"))
                if flagged:
                    item.setForeground(QBrush(FLAGGED))
                    item.setFont(bold)
                self.table.setItem(row, len(COLUMNS) + extra, item)

    def row_texts(self) -> list[list[str]]:
        """What the table shows, row by row (tests and the screenshot check)."""
        def text(row: int, column: int) -> str:
            item = self.table.item(row, column)
            return item.text() if item is not None else ""

        columns = range(self.table.columnCount())
        return [[text(row, column) for column in columns] for row in range(self.table.rowCount())]


def _of(findings: Findings | None, label: str) -> tuple[float | None, bool]:
    """A label's probability and flag in ``findings`` (None, False where it has none)."""
    if findings is None or label not in findings.labels:
        return None, False
    i = findings.labels.index(label)
    return float(findings.probabilities[i]), bool(findings.flags[i])


def _value(probability: float | None) -> str:
    return "–" if probability is None else f"{probability:.2f}"
