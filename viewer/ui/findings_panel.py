"""The findings panel: every label sorted by probability, as bars with their thresholds.

Rows are painted by ``FindingDelegate``: the label, a bar of the probability with the
threshold marked on it, the value, and a mark where the NIH dataset itself lists the finding
for this image. Flagged rows (probability at or above the current operating point) stand out.
Below the list: the selected finding's details (threshold rule, AUROC, agreement with the
ground-truth box), the heatmap controls and the operating-point control.

Labels come from the model card and the NIH label file, notes and messages from the loader
(a DICOM value, a file's path): messages and notes are plain text, and the two places with
markup of the panel's own (the dataset labels and the details) escape what they show and load
no resources (``rich_text.RichTextLabel``).
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QPersistentModelIndex,
    QRect,
    QRectF,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import QAction, QColor, QFont, QFontMetrics, QPainter, QPalette, QPen
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListView,
    QSlider,
    QStackedWidget,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from viewer.viewmodel.image_findings import FindingRow
from viewer.viewmodel.operating_point import SENSITIVITY_STEPS

from .colormaps import COLORMAPS, DEFAULT_COLORMAP
from .plain_text import MESSAGE_ELIDE_AT, PlainLabel, elide, escape
from .rich_text import RichTextLabel

FLAG_COLOUR = QColor(220, 60, 50)
BAR_COLOUR = QColor(90, 130, 170)
# An image that fails the out-of-distribution check: its flags are no alarm, only grey.
OOD_FLAG_COLOUR = QColor(140, 140, 140)
OOD_BAR_COLOUR = QColor(185, 185, 185)
THRESHOLD_COLOUR = QColor(20, 20, 20)

ROW_ROLE = Qt.ItemDataRole.UserRole + 1
LEGEND = ("<small>bar: probability \N{MIDDLE DOT} tick: threshold \N{MIDDLE DOT} "
          "<span style='color:#dc3c32'><b>red</b></span>: flagged \N{MIDDLE DOT} "
          "<span style='color:#2878c8'><b>NIH</b></span>: in the dataset's labels</small>")
OOD_LEGEND = ("<small>bar: probability \N{MIDDLE DOT} tick: threshold \N{MIDDLE DOT} "
              "<span style='color:#808080'><b>grey</b></span>: out of distribution, not meaningful "
              "\N{MIDDLE DOT} <span style='color:#2878c8'><b>NIH</b></span>: in the dataset's labels</small>")
MIN_SLIDER_WIDTH = 120  # px: the operating point's 11 steps stay apart
MIN_OPACITY_WIDTH = 60
PIN_STYLE = ("QToolButton#pinFinding:checked { background: #2878c8; color: white; font-weight: bold; "
             "border: 1px solid #1d5a96; border-radius: 3px; padding: 2px 6px; }")


class FindingsModel(QAbstractListModel):
    """The rows, sorted by probability (highest first)."""

    def __init__(self) -> None:
        super().__init__()
        self._rows: list[FindingRow] = []

    def set_rows(self, rows: list[FindingRow]) -> None:
        self.beginResetModel()
        self._rows = sorted(rows, key=lambda r: -r.probability)
        self.endResetModel()

    def rows(self) -> list[FindingRow]:
        return list(self._rows)

    def row_of(self, label: str) -> int:
        for i, row in enumerate(self._rows):
            if row.label == label:
                return i
        return -1

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        row = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return row.label
        if role == ROW_ROLE:
            return row
        if role == Qt.ItemDataRole.ToolTipRole:
            return _tooltip(row)
        if role == Qt.ItemDataRole.AccessibleTextRole:
            flag = "flagged" if row.flagged else "not flagged"
            return f"{row.label}: probability {row.probability:.2f}, threshold {row.threshold:.2f}, {flag}"
        return None


def _tooltip(row: FindingRow) -> str:
    lines = [f"<b>{escape(elide(row.label))}</b>", f"probability {row.probability:.3f}",
             f"threshold {row.threshold:.3f} ({'flagged' if row.flagged else 'below threshold'})"]
    if row.auroc is not None:
        ci = f" (95% CI {row.auroc_ci[0]:.2f}\N{EN DASH}{row.auroc_ci[1]:.2f})" if row.auroc_ci else ""
        lines.append(f"test AUROC {row.auroc:.2f}{ci}")
    else:
        lines.append("test AUROC not measured (no positives in the test split)")
    if row.in_dataset is not None:
        lines.append("NIH label: " + ("present" if row.in_dataset else "absent"))
    return "<br>".join(lines)


@dataclass(frozen=True)
class RowGeometry:
    """Where a row's parts go: the label, the bar, the value, the NIH badge."""

    label: QRect
    bar: QRectF
    value: QRect
    badge: QRectF


class FindingDelegate(QStyledItemDelegate):
    """Paints a finding: flag marker, label, probability bar with threshold tick, value, NIH mark.

    The row is laid out from the right: the badge's place and the value keep their width (a
    probability is never cut), the bar keeps ``BAR_MIN``, and the label gets what is left, up
    to ``LABEL_WIDTH``, elided below it (the row's tooltip has the whole name). The narrowest
    row that keeps all that is ``minimum_width``: the list is never narrower.
    """

    ROW_HEIGHT = 22
    INDENT = 8  # the flag strip and a gap before the label
    GAP = 6
    LABEL_WIDTH = 138  # the label's width when there is room
    LABEL_MIN = 64  # about "Pleural Th...": shorter labels would say nothing
    BAR_MIN = 40
    DATASET_WIDTH = 34
    VALUE_SAMPLE = "0.00"  # the widest value text (probabilities are shown with 2 decimals)

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self._view = parent

    def value_width(self, font: QFont | None = None) -> int:
        """Width of the value column: the widest value in the bold font of a flagged row."""
        bold = QFont(font if font is not None else self._view.font())
        bold.setBold(True)
        return QFontMetrics(bold).horizontalAdvance(self.VALUE_SAMPLE) + 2

    def minimum_width(self, font: QFont | None = None) -> int:
        """The narrowest row with its value whole, a bar and an elided label."""
        return (self.INDENT + self.LABEL_MIN + self.GAP + self.BAR_MIN + self.GAP + self.value_width(font)
                + 4 + self.DATASET_WIDTH)

    def geometry(self, rect: QRect, font: QFont | None = None) -> RowGeometry:
        """The parts of a row painted in ``rect``."""
        badge_left = rect.right() + 1 - self.DATASET_WIDTH
        value_width = self.value_width(font)
        value = QRect(badge_left - 4 - value_width, rect.top(), value_width, rect.height())
        label_left = rect.left() + self.INDENT
        room = value.left() - self.GAP - self.BAR_MIN - self.GAP - label_left
        label = QRect(label_left, rect.top(), max(self.LABEL_MIN, min(self.LABEL_WIDTH, room)), rect.height())
        bar_left = label.right() + 1 + self.GAP
        bar = QRectF(bar_left, rect.top() + 6, max(self.BAR_MIN, value.left() - self.GAP - bar_left),
                     rect.height() - 12)
        badge = QRectF(badge_left + 3, rect.top() + 4, self.DATASET_WIDTH - 6, rect.height() - 8)
        return RowGeometry(label, bar, value, badge)

    def value_rect(self, rect: QRect, font: QFont | None = None) -> QRect:
        """Where the probability is written in a row painted in ``rect``."""
        return self.geometry(rect, font).value

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        # The list stretches rows to its width; this is only what a row cannot do without.
        return QSize(self.minimum_width(option.font), self.ROW_HEIGHT)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex | QPersistentModelIndex) -> None:
        row: FindingRow | None = index.data(ROW_ROLE)
        if row is None:
            return
        painter.save()
        rect = option.rect
        parts = self.geometry(rect, option.font)
        palette = option.palette
        flag_colour = OOD_FLAG_COLOUR if row.out_of_distribution else FLAG_COLOUR
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        if selected:
            painter.fillRect(rect, palette.highlight())
        elif row.flagged:
            painter.fillRect(rect, QColor(flag_colour.red(), flag_colour.green(), flag_colour.blue(), 28))
        if selected:
            text_colour = palette.highlightedText().color()
        elif row.out_of_distribution:
            text_colour = palette.color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text)
        else:
            text_colour = palette.text().color()

        # Flag marker: a solid strip on the left edge of flagged rows.
        if row.flagged:
            painter.fillRect(rect.left(), rect.top() + 2, 4, rect.height() - 4, flag_colour)

        font = QFont(option.font)
        font.setBold(row.flagged)
        painter.setFont(font)
        painter.setPen(text_colour)
        label = painter.fontMetrics().elidedText(row.label.replace("_", " "), Qt.TextElideMode.ElideRight,
                                                 parts.label.width())
        painter.drawText(parts.label, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, label)
        painter.drawText(parts.value, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight,
                         f"{row.probability:.2f}")

        track = parts.bar
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(128, 128, 128, 60))
        painter.drawRect(track)
        fill = QRectF(track)
        fill.setWidth(track.width() * min(1.0, max(0.0, row.probability)))
        if row.out_of_distribution:
            painter.setBrush(OOD_FLAG_COLOUR if row.flagged else OOD_BAR_COLOUR)
        else:
            painter.setBrush(FLAG_COLOUR if row.flagged else BAR_COLOUR)
        painter.drawRect(fill)
        # Threshold: a tick across the bar, taller than it, so it reads at any probability.
        x = track.left() + track.width() * min(1.0, max(0.0, row.threshold))
        painter.setPen(QPen(text_colour, 2))
        painter.drawLine(int(x), rect.top() + 3, int(x), rect.bottom() - 3)

        if row.in_dataset:
            small = QFont(option.font)
            small.setPointSizeF(max(6.5, option.font.pointSizeF() - 1.5))
            small.setBold(True)
            painter.setFont(small)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(40, 120, 200))
            painter.drawRoundedRect(parts.badge, 3, 3)
            painter.setPen(QColor(255, 255, 255))
            painter.drawText(parts.badge, Qt.AlignmentFlag.AlignCenter, "NIH")
        painter.restore()


class FindingsList(QListView):
    """The list of findings: as tall as all its rows where the window has the room (a finding
    below a scroll bar is easily missed), and never shorter than ``MIN_ROWS`` rows with a scroll
    bar where it has not (a short screen): squeezed below what it asked for, the dock would
    clip it and draw the legend over its last rows."""

    MIN_ROWS = 5

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._rows = 0
        self.setMinimumHeight(self._height(self.MIN_ROWS))

    def set_row_count(self, rows: int) -> None:
        """The number of rows to ask room for."""
        self._rows = rows
        self.updateGeometry()

    def sizeHint(self) -> QSize:
        return QSize(super().sizeHint().width(), max(self.minimumHeight(), self._height(self._rows)))

    def _height(self, rows: int) -> int:
        return FindingDelegate.ROW_HEIGHT * rows + 2 * self.frameWidth()


class FindingsPanel(QWidget):
    """Findings of the current image and the controls of their display.

    Events: ``finding_selected(str)``, ``heatmap_toggled(bool)``, ``colormap_changed(str)``,
    ``opacity_changed(float)``, ``sensitivity_changed(int)``, ``pin_toggled(bool)``.
    """

    finding_selected = Signal(str)
    pin_toggled = Signal(bool)
    heatmap_toggled = Signal(bool)
    colormap_changed = Signal(str)
    opacity_changed = Signal(float)
    sensitivity_changed = Signal(int)

    SENSITIVITY_STEPS = SENSITIVITY_STEPS  # the slider's steps each way: the operating point's

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("findingsPanel")
        self.model = FindingsModel()

        self.dataset_label = RichTextLabel()
        self.dataset_label.setObjectName("datasetLabels")
        self.dataset_label.hide()

        self.list = FindingsList()
        self.list.setObjectName("findingsList")
        self.list.setModel(self.model)
        self.delegate = FindingDelegate(self.list)
        self.list.setItemDelegate(self.delegate)
        # Rows take the list's width, and the list never gets narrower than a whole row: a
        # horizontal scroll bar would hide the probabilities at the right.
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setMinimumWidth(self.delegate.minimum_width() + 2 * self.list.frameWidth()
                                  + self.list.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent))
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.list.setUniformItemSizes(True)
        self.list.setMouseTracking(True)
        self.list.selectionModel().currentChanged.connect(self._on_current_changed)

        self.message = PlainLabel(limit=MESSAGE_ELIDE_AT)  # a load error or why there is no model
        self.message.setObjectName("findingsMessage")
        self.message.setWordWrap(True)
        self.message.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.message)
        self.stack.addWidget(self.list)

        self.details = RichTextLabel()
        self.details.setObjectName("findingDetails")
        # Pinning keeps the selected finding on every image; the action (Shift+P, the Go menu)
        # and the button beside the details are one command.
        self.pin_action = QAction("&Pin Finding", self)
        self.pin_action.setCheckable(True)
        self.pin_action.setShortcut("Shift+P")  # P alone is the canvas's pan tool
        self.pin_action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self.pin_action.setStatusTip("Open every image on this finding (unpinned, each image opens on "
                                     "its own top finding)")
        self.pin_action.setToolTip(f"{self.pin_action.statusTip()} (Shift+P)")
        self.pin_action.toggled.connect(self.pin_toggled)
        self.addAction(self.pin_action)
        self.pin_button = QToolButton()
        self.pin_button.setObjectName("pinFinding")
        self.pin_button.setDefaultAction(self.pin_action)
        self.pin_button.setStyleSheet(PIN_STYLE)  # a pinned finding must be seen to be pinned

        self.show_heatmap = QCheckBox("Heatmap (H)")
        self.show_heatmap.setChecked(True)
        self.show_heatmap.toggled.connect(self.heatmap_toggled)
        self.colormap = QComboBox()
        self.colormap.addItems(COLORMAPS)
        self.colormap.setCurrentText(DEFAULT_COLORMAP)
        self.colormap.currentTextChanged.connect(self.colormap_changed)
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(50)
        self.opacity.setToolTip("Heatmap opacity")
        self.opacity.valueChanged.connect(lambda v: self.opacity_changed.emit(v / 100.0))

        self.sensitivity = QSlider(Qt.Orientation.Horizontal)
        self.sensitivity.setObjectName("sensitivitySlider")
        self.sensitivity.setRange(-self.SENSITIVITY_STEPS, self.SENSITIVITY_STEPS)
        self.sensitivity.setValue(0)
        self.sensitivity.setTickPosition(QSlider.TickPosition.TicksBelow)
        self.sensitivity.setToolTip("Operating point: left = fewer flags (more specific), "
                                    "right = more flags (more sensitive); centre = the model card's thresholds")
        self.sensitivity.valueChanged.connect(self._on_sensitivity)
        self.sensitivity_text = PlainLabel()
        self.sensitivity_text.setObjectName("operatingPoint")
        self.sensitivity_text.setWordWrap(True)

        # Sliders keep a width a hand can set; the operating point's slider has a row of its own
        # under its title and description, so a narrow panel does not squeeze it to a stub.
        self.opacity.setMinimumWidth(MIN_OPACITY_WIDTH)
        self.sensitivity.setMinimumWidth(MIN_SLIDER_WIDTH)
        heat_row = QHBoxLayout()
        heat_row.addWidget(self.show_heatmap)
        heat_row.addWidget(self.colormap)
        heat_row.addWidget(self.opacity, 1)
        point_title = QHBoxLayout()
        point_title.addWidget(QLabel("Operating point"))
        point_title.addStretch(1)
        point_title.addWidget(self.sensitivity_text)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.dataset_label)
        layout.addWidget(self.stack, 1)
        self.legend = legend = QLabel(LEGEND)
        legend.setObjectName("findingsLegend")
        legend.setWordWrap(True)
        layout.addWidget(legend)
        details_row = QHBoxLayout()
        details_row.addWidget(self.details, 1)
        details_row.addWidget(self.pin_button, 0, Qt.AlignmentFlag.AlignTop)
        layout.addLayout(details_row)
        self.notes = PlainLabel(limit=MESSAGE_ELIDE_AT)  # the loader's notes quote header values
        self.notes.setObjectName("findingNotes")
        self.notes.setWordWrap(True)
        self.notes.setStyleSheet("color: #777;")
        self.notes.hide()
        layout.addWidget(self.notes)
        layout.addLayout(heat_row)
        layout.addLayout(point_title)
        layout.addWidget(self.sensitivity)
        self._updating = False
        self.show_message("No image open.")
        self.set_operating_point_text("card thresholds")

    # -- content ------------------------------------------------------------------------------
    def show_message(self, text: str) -> None:
        """Replace the list by ``text`` (no model, inference running, inference failed)."""
        self.message.setText(text)
        self.stack.setCurrentWidget(self.message)
        self.list.set_row_count(0)
        self.details.clear()
        self.set_notes([])
        self._set_controls_enabled(False)

    def _set_controls_enabled(self, enabled: bool) -> None:
        """Heatmap and operating-point controls only mean something when there are findings."""
        for widget in (self.show_heatmap, self.colormap, self.opacity, self.sensitivity):
            widget.setEnabled(enabled)
        self.pin_action.setEnabled(enabled)
        self.legend.setVisible(enabled)

    def set_rows(self, rows: list[FindingRow], select: str | None = None) -> None:
        """Show ``rows``; keep ``select`` (a label) selected without emitting a new selection."""
        self._updating = True
        try:
            self.model.set_rows(rows)
            self.legend.setText(OOD_LEGEND if any(r.out_of_distribution for r in rows) else LEGEND)
            self.list.set_row_count(len(rows))
            self.stack.setCurrentWidget(self.list)
            self._set_controls_enabled(True)
            if select is not None and self.model.row_of(select) >= 0:
                self.list.setCurrentIndex(self.model.index(self.model.row_of(select)))
        finally:
            self._updating = False

    def set_dataset_labels(self, labels: tuple[str, ...] | None) -> None:
        """The NIH Data_Entry labels of the image, or None when the image has no entry."""
        if labels is None:
            self.dataset_label.hide()
            return
        text = ", ".join(elide(x.replace("_", " ")) for x in labels) if labels else "No Finding"
        self.dataset_label.setHtml(f"<b>NIH dataset labels:</b> {escape(text)}")
        self.dataset_label.show()

    def set_notes(self, notes: list[str] | tuple[str, ...], warning: bool = False) -> None:
        """Remarks of the model about this image (no OOD check in the card, converted colour...);
        ``warning`` shows them as a warning (the image failed the OOD check)."""
        self.notes.setText("\n".join(f"Note: {n}" for n in notes))
        self.notes.setStyleSheet("color: #c07000; font-weight: bold;" if warning else "color: #777;")
        self.notes.setVisible(bool(notes))

    def set_details(self, html: str) -> None:
        """``html``: rich text whose outside parts (the label, box names) are escaped, as
        ``ImageFindingsState.details_html`` makes it."""
        self.details.setHtml(html)

    def set_operating_point_text(self, text: str) -> None:
        self.sensitivity_text.setText(text)

    def select_label(self, label: str) -> None:
        """Select ``label`` (emits ``finding_selected``)."""
        row = self.model.row_of(label)
        if row >= 0:
            self.list.setCurrentIndex(self.model.index(row))

    def step(self, delta: int) -> None:
        """Select the next (+1) or previous (-1) finding in the list's order."""
        count = self.model.rowCount()
        if not count or self.stack.currentWidget() is not self.list:
            return
        current = self.list.currentIndex().row()
        row = 0 if current < 0 else min(count - 1, max(0, current + delta))
        self.list.setCurrentIndex(self.model.index(row))

    def row_rect(self, label: str) -> QRect:
        """Where ``label``'s row is in the list's viewport (for tests and the benchmark that click it)."""
        return self.list.visualRect(self.model.index(self.model.row_of(label)))

    def _on_current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if current.isValid() and not self._updating:
            self.finding_selected.emit(current.data(Qt.ItemDataRole.DisplayRole))

    def _on_sensitivity(self, value: int) -> None:
        self.sensitivity_changed.emit(value)
