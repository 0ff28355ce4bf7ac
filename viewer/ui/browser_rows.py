"""How the study browser paints an image's row: thumbnail, name, summary line, and what the
filter matched.

The words are the view-models': the name is the row's text (``viewer.viewmodel.series_text``),
the summary line ``viewer.viewmodel.browser_summary.summary_line``, the match
``viewer.viewmodel.browser_filter.match_text``; here are their colours and places.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QSize, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem, QWidget

from viewer.viewmodel.browser_filter import match_text
from viewer.viewmodel.browser_summary import SummaryLine, Tone, summary_line
from viewer.viewmodel.series_text import has_series_row

from .browser_model import ICON_SIZE, IMAGE_ROLE, KIND_ROLE, SUMMARY_ROLE, StudyFilterProxy

__all__ = ["ICON_SIZE", "ImageRowDelegate", "group_row_size"]
TONE_COLOURS = {  # the colour of an image's summary line
    Tone.PENDING: QColor(140, 140, 140),
    Tone.NO_MODEL: QColor(140, 140, 140),
    Tone.ERROR: QColor(150, 150, 150),
    Tone.FLAGGED: QColor(220, 60, 50),
    Tone.CLEAR: QColor(110, 150, 110),
    Tone.OUT_OF_DISTRIBUTION: QColor(200, 130, 0),
}
MATCH_COLOUR = QColor(40, 100, 170)  # what the filter matched


class ImageRowDelegate(QStyledItemDelegate):
    """Image rows: thumbnail, file name (or instance), the top flagged finding (red) or its
    absence, and while a filter is on, what of the image it matched.

    Its size hint is Qt's own, which reads each row's ``Qt.SizeHintRole`` (``browser_model``):
    the tree asks every row its height after every batch of a scan, and a Python ``sizeHint``
    made that seconds a batch in a folder of 100,000 images."""

    @staticmethod
    def lines(index: QModelIndex | QPersistentModelIndex) -> tuple[str, SummaryLine, str | None]:
        """What an image row says: its name, its summary line, and what the filter matched."""
        proxy = index.model()
        reasons = proxy.match_reasons(index) if isinstance(proxy, StudyFilterProxy) else ()
        return (index.data(Qt.ItemDataRole.DisplayRole) or "", summary_line(index.data(SUMMARY_ROLE)),
                match_text(reasons))

    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex | QPersistentModelIndex) -> None:
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
        if isinstance(thumb, QImage):
            painter.drawImage(box, thumb)
        else:
            painter.fillRect(box, QColor(40, 40, 40))
        text_left = box.right() + 8
        text_rect = rect.adjusted(text_left - rect.left(), 4, -4, -4)
        colour = option.palette.highlightedText().color() if selected else option.palette.text().color()
        name, line, matched = self.lines(index)
        font = QFont(option.font)
        painter.setFont(font)
        painter.setPen(colour)
        metrics = painter.fontMetrics()
        # a file name keeps its end (the extension, the number); an instance's words their start
        image = index.data(IMAGE_ROLE)
        instance = image is not None and has_series_row(image)
        mode = Qt.TextElideMode.ElideRight if instance else Qt.TextElideMode.ElideMiddle
        painter.drawText(text_rect, Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft,
                         metrics.elidedText(name, mode, text_rect.width()))
        if matched is not None:  # between the two: what the filter found, in small italics
            italic = QFont(option.font)
            italic.setItalic(True)
            italic.setPointSizeF(italic.pointSizeF() * 0.9)
            painter.setFont(italic)
            painter.setPen(colour if selected else MATCH_COLOUR)
            painter.drawText(text_rect, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                             painter.fontMetrics().elidedText(matched, Qt.TextElideMode.ElideRight, text_rect.width()))
        small = QFont(option.font)
        small.setBold(line.bold)
        painter.setFont(small)
        painter.setPen(colour if selected else TONE_COLOURS[line.tone])
        text = painter.fontMetrics().elidedText(line.text, Qt.TextElideMode.ElideRight, text_rect.width())
        painter.drawText(text_rect, Qt.AlignmentFlag.AlignBottom | Qt.AlignmentFlag.AlignLeft, text)
        painter.restore()


def group_row_size(view: QWidget) -> QSize:
    """The size of a patient, study or series row in ``view``'s style and font, as the style
    measures it: one line of bold text (a group row's text is one elided line)."""
    item = QStandardItem("Patient (1 image)")
    font = QFont(view.font())
    font.setBold(True)
    item.setFont(font)
    probe = QStandardItemModel()
    probe.appendRow(item)
    option = QStyleOptionViewItem()
    option.initFrom(view)
    option.font = view.font()
    return QStyledItemDelegate().sizeHint(option, item.index())
