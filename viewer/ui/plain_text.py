"""Text from outside the program on screen: shown as the characters it is, and never too long.

Qt guesses whether a string is HTML: a ``QLabel``, a tooltip (a widget's, an action's or an
item's) and a message box use ``Qt.AutoText``, which renders any string that looks like markup
(``Qt.mightBeRichText``) as rich text. The names and values the viewer shows come from the
user's folders and files, DICOM headers, label CSVs and model cards, so a folder named
``<h1>PNEUMOTHORAX`` would become a headline and ``<img src=...>`` would make Qt read a file.
Every widget that shows such text takes it through this module:

- ``PlainLabel``: a label that is plain text whatever it is given, elided past a limit with the
  full text in its tooltip;
- ``tooltip(text)``: plain text as a tooltip, escaped inside rich text so that Qt's guess cannot
  go wrong and long lines wrap;
- ``elide(text)``: a long name or value cut in the middle (the full text goes in a tooltip);
- ``escape(text)``: outside text inside rich text the viewer composes itself;
- ``menu_text(text)``: outside text as a menu entry (an ``&`` is not a shortcut mark).

Rich text the viewer composes is shown by ``rich_text.py``'s views, which load no resources.
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget

ELIDE_AT = 200  # a name, a value, a row: longer ones are elided, in full in the tooltip
MESSAGE_ELIDE_AT = 1_000  # a message names a file by its full path and says what to do: keep it whole
TOOLTIP_LIMIT = 10_000  # a DICOM text value can be megabytes; a tooltip laid out from it need not be
ELLIPSIS = "\N{HORIZONTAL ELLIPSIS}"


def elide(text: str, limit: int = ELIDE_AT) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis in the middle, keeping its start
    and its end (a path's file name, a label's last words); shorter texts as they are."""
    if len(text) <= limit:
        return text
    keep = max(limit - 1, 2)
    head = keep * 3 // 4
    return text[:head] + ELLIPSIS + text[len(text) - (keep - head):]


def escape(text: str) -> str:
    """``text`` for a place in rich text: ``<``, ``>`` and ``&`` as entities."""
    return html.escape(text, quote=False)


def tooltip(text: str) -> str:
    """Plain ``text`` as a tooltip that shows exactly these characters: escaped and declared
    rich (so ``Qt.mightBeRichText`` cannot take it for markup), line breaks and spaces kept,
    long lines wrapped; past ``TOOLTIP_LIMIT`` characters it is elided. Empty stays empty (no
    tooltip)."""
    if not text:
        return ""
    return f"<p style='white-space:pre-wrap'>{escape(elide(text, TOOLTIP_LIMIT))}</p>"


def menu_text(text: str) -> str:
    """Outside text as a menu entry or button: elided, its ``&`` shown rather than taken for
    the mark of a keyboard shortcut."""
    return elide(text).replace("&", "&&")


class PlainLabel(QLabel):
    """A ``QLabel`` for text from outside: always plain text, never rich text.

    Past ``limit`` characters the label shows the text elided (``elide``) and its tooltip holds
    it in full; ``full_text()`` returns what was set.
    """

    def __init__(self, text: str = "", parent: QWidget | None = None, *, limit: int = ELIDE_AT) -> None:
        super().__init__(parent)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self._limit = limit
        self._full = ""
        self.setText(text)

    def setText(self, text: str) -> None:
        """Show ``text`` as plain text, elided past the label's limit."""
        self._full = text
        shown = elide(text, self._limit)
        super().setText(shown)
        self.setToolTip(tooltip(text) if shown != text else "")

    def full_text(self) -> str:
        """The text as it was set, before elision."""
        return self._full
