"""What Qt draws of a window's texts: every string a user can see, rendered as Qt renders it.

Qt decides per widget whether a string is plain text or HTML: a label by its ``textFormat``
(``Qt.AutoText``, the default, asks ``Qt.mightBeRichText``), a tooltip or "What's this" always
by ``Qt.mightBeRichText``, a text document is HTML by construction, and the rest (buttons, menu
entries, item rows painted by a delegate, the status bar, window titles) is plain. ``shown_texts``
walks every widget of the application, the item models of its views (display and tooltip of
every row, header texts), its actions and open message boxes, and returns each string with what
the user would read: plain text as it is, HTML through ``QTextDocument.toPlainText``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QObject, Qt
from PySide6.QtGui import Qt as GuiQt  # Qt.mightBeRichText lives in QtGui's Qt namespace
from PySide6.QtGui import QTextDocument
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QApplication,
    QComboBox,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QProgressBar,
    QStatusBar,
    QTextEdit,
    QWidget,
)

MAX_ROWS = 5_000  # an item model walked row by row: far more than a test folder makes


@dataclass(frozen=True)
class Shown:
    """One string on screen: where (a readable path), the widget, the raw text and what Qt draws."""

    where: str
    widget: QObject
    raw: str
    rendered: str


def render(text: str, rich: bool) -> str:
    """What the user reads of ``text`` shown as rich text (``rich``) or as plain text."""
    if not rich:
        return text
    document = QTextDocument()
    document.setHtml(text)
    return document.toPlainText()


def render_auto(text: str) -> str:
    """A string Qt shows with ``Qt.AutoText`` (tooltips, "What's this", default labels)."""
    return render(text, GuiQt.mightBeRichText(text))


def render_label(text: str, text_format: Qt.TextFormat) -> str:
    """A label's or message box's text under its text format."""
    if text_format == Qt.TextFormat.PlainText:
        return text
    if text_format == Qt.TextFormat.RichText:
        return render(text, True)
    if text_format == Qt.TextFormat.MarkdownText:
        document = QTextDocument()
        document.setMarkdown(text)
        return document.toPlainText()
    return render_auto(text)


def where_of(obj: QObject) -> str:
    """``mainWindow/findingsDock/findingsPanel/QLabel``: object names (or classes) up the parents."""
    parts = []
    probe: QObject | None = obj
    while probe is not None:
        parts.append(probe.objectName() or type(probe).__name__)
        probe = probe.parent()
    return "/".join(reversed(parts))


def shown_texts(widgets: list[QWidget] | None = None) -> list[Shown]:
    """Every non-empty string the widgets (by default every widget of the application) show."""
    found: list[Shown] = []
    for widget in widgets if widgets is not None else QApplication.allWidgets():
        found.extend(_widget_texts(widget))
    return [shown for shown in found if shown.raw]


def _widget_texts(w: QWidget) -> Iterator[Shown]:
    where = where_of(w)

    def plain(what: str, text: str | None) -> Shown:
        return Shown(f"{where}.{what}", w, text or "", text or "")

    def auto(what: str, text: str | None) -> Shown:
        return Shown(f"{where}.{what}", w, text or "", render_auto(text or ""))

    yield plain("windowTitle", w.windowTitle())
    yield auto("toolTip", w.toolTip())
    yield plain("statusTip", w.statusTip())  # shown in the status bar, which draws plain text
    yield auto("whatsThis", w.whatsThis())
    if isinstance(w, QLabel):
        yield Shown(f"{where}.text", w, w.text(), render_label(w.text(), w.textFormat()))
    if isinstance(w, QMessageBox):
        yield Shown(f"{where}.text", w, w.text(), render_label(w.text(), w.textFormat()))
        yield Shown(f"{where}.informativeText", w, w.informativeText(),
                    render_label(w.informativeText(), w.textFormat()))
        yield plain("detailedText", w.detailedText())
    if isinstance(w, QAbstractButton):
        yield plain("text", w.text())
    if isinstance(w, QLineEdit):
        yield plain("text", w.text())
        yield plain("placeholderText", w.placeholderText())
    if isinstance(w, QTextEdit):
        yield Shown(f"{where}.document", w, w.toHtml(), w.document().toPlainText())
    if isinstance(w, QComboBox):
        for i in range(w.count()):
            yield plain(f"item[{i}]", w.itemText(i))
            tip = w.itemData(i, Qt.ItemDataRole.ToolTipRole)
            yield auto(f"item[{i}].toolTip", tip if isinstance(tip, str) else "")
    if isinstance(w, QStatusBar):
        yield plain("currentMessage", w.currentMessage())
    if isinstance(w, QProgressBar):
        yield plain("text", w.text())
    if isinstance(w, QMenu):
        yield plain("title", w.title())
    if isinstance(w, QHeaderView) and w.model() is not None:
        yield from _header_texts(w, where, w.model())
    elif isinstance(w, QAbstractItemView) and w.model() is not None:
        yield from _model_texts(w, where, w.model())
    for i, action in enumerate(w.actions()):
        name = f"action[{i}:{action.objectName() or action.text()[:20]}]"
        yield plain(f"{name}.text", action.text())
        yield plain(f"{name}.iconText", action.iconText())
        yield auto(f"{name}.toolTip", action.toolTip())
        yield plain(f"{name}.statusTip", action.statusTip())
        yield auto(f"{name}.whatsThis", action.whatsThis())


def _header_texts(view: QHeaderView, where: str, model: QAbstractItemModel) -> Iterator[Shown]:
    """A header's sections are painted as plain text."""
    count = _columns(model, QModelIndex()) if view.orientation() == Qt.Orientation.Horizontal \
        else model.rowCount(QModelIndex())
    for section in range(count):
        for role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            text = model.headerData(section, view.orientation(), role)
            if isinstance(text, str):
                rich = role == Qt.ItemDataRole.ToolTipRole
                yield Shown(f"{where}.section[{section}]", view, text, render_auto(text) if rich else text)


def _model_texts(view: QAbstractItemView, where: str, model: QAbstractItemModel) -> Iterator[Shown]:
    """Rows are painted as plain text by the delegates; their tooltips go through QToolTip."""
    pending = [QModelIndex()]
    seen = 0
    while pending and seen < MAX_ROWS:
        parent = pending.pop()
        for row in range(model.rowCount(parent)):
            seen += 1
            for column in range(_columns(model, parent)):
                index = model.index(row, column, parent)
                display = index.data(Qt.ItemDataRole.DisplayRole)
                if isinstance(display, str):
                    yield Shown(f"{where}.row[{row},{column}]", view, display, display)
                tip = index.data(Qt.ItemDataRole.ToolTipRole)
                if isinstance(tip, str):
                    yield Shown(f"{where}.row[{row},{column}].toolTip", view, tip, render_auto(tip))
            child = model.index(row, 0, parent)
            if model.rowCount(child) > 0:  # hasChildren is private in table models
                pending.append(child)


def _columns(model: QAbstractItemModel, parent: QModelIndex) -> int:
    """A model's column count; a list model (whose ``columnCount`` is private) has one."""
    try:
        return model.columnCount(parent)
    except TypeError:
        return 1
