"""Rich text the viewer composes, in views that load nothing: no image, style sheet or page.

A ``QTextDocument`` resolves ``<img src=...>`` (and CSS background images) by reading the file
the name points to, relative to the working directory when it is relative; Qt's image handler
even reads it directly when ``loadResource`` has no answer. An image tag that reached a
document would put another patient's X-ray into the panel, and ``src=/dev/zero`` would read
until the process runs out of memory. Outside text is escaped before it is put into rich text
(``plain_text.escape``); these views make sure that even a tag that got through loads nothing:
every image is a transparent pixel and every other resource is absent.

- ``InertDocument``: the document;
- ``RichTextBrowser``: a read-only, scrolling view (the model card);
- ``RichTextLabel``: the same, laid out as a word-wrapped label (a finding's details).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, QSize, Qt, QUrl
from PySide6.QtGui import QImage, QPalette, QResizeEvent, QTextDocument
from PySide6.QtWidgets import QFrame, QSizePolicy, QTextBrowser, QWidget


def _blank_image() -> QImage:
    image = QImage(1, 1, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    return image


class InertDocument(QTextDocument):
    """A text document that resolves no resource from anywhere.

    An image resource is a transparent 1 x 1 image rather than nothing: given nothing, Qt's
    image handler would load the file itself.
    """

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._blank = _blank_image()

    def loadResource(self, kind: int, name: QUrl | str) -> Any:
        """Nothing, whatever ``name`` says; a blank pixel for an image."""
        if kind == QTextDocument.ResourceType.ImageResource.value:
            return self._blank
        return None


class RichTextBrowser(QTextBrowser):
    """A read-only rich-text view over an ``InertDocument`` that follows no link."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setDocument(InertDocument(self))
        self.setOpenLinks(False)
        self.setOpenExternalLinks(False)


class RichTextLabel(RichTextBrowser):
    """A ``RichTextBrowser`` that looks and sizes like a word-wrapped ``QLabel``: no frame, no
    scroll bars, the window's background and text colour, no focus (the window's keys stay the
    window's), and as tall as its text at its width."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.NoTextInteraction)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.NoContextMenu)
        palette = self.palette()
        palette.setColor(QPalette.ColorRole.Base, palette.color(QPalette.ColorRole.Window))
        palette.setColor(QPalette.ColorRole.Text, palette.color(QPalette.ColorRole.WindowText))
        self.setPalette(palette)
        self.viewport().setAutoFillBackground(False)
        self.document().setDocumentMargin(0)
        policy = QSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)

    def setHtml(self, text: str) -> None:
        """Show ``text`` (rich text the viewer composed) and take the height it needs."""
        super().setHtml(text)
        self.updateGeometry()

    def clear(self) -> None:
        super().clear()
        self.updateGeometry()

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        """The height of the text laid out at ``width`` (nothing when there is no text)."""
        if self.document().isEmpty():
            return 0
        document = self.document()
        current = document.textWidth()
        document.setTextWidth(max(1, width - 2 * self.frameWidth()))
        height = document.size().height()
        document.setTextWidth(current)
        return int(height + 0.999) + 2 * self.frameWidth()

    def sizeHint(self) -> QSize:
        width = max(self.width(), 1)
        return QSize(width, self.heightForWidth(width))

    def minimumSizeHint(self) -> QSize:
        return QSize(0, self.heightForWidth(max(self.width(), 1)))

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if event.size().width() != event.oldSize().width():
            self.updateGeometry()  # a new width: the text may take more or fewer lines
