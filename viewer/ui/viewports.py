"""The image area: one to four viewports in a grid (1x1, 1x2, 2x1, 2x2).

A ``Viewport`` is a canvas with the strip above it that says what it shows ("Prior ·
Follow-up 0 · 2 flagged") and its own out-of-distribution banner. The first viewport is the
reading one: the browser opens images into it and the findings panel and tools are its. The
others show what hangs beside it (``comparison_session``). ``ViewportGrid`` lays out as many
as the layout has slots and hides the rest; hidden viewports keep their widgets, so going back
to a larger layout costs nothing.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QGridLayout, QLabel, QVBoxLayout, QWidget

from viewer.viewmodel.comparison import LAYOUTS

from .canvas import ImageCanvas
from .plain_text import MESSAGE_ELIDE_AT, PlainLabel

BANNER_STYLE = "QLabel#oodBanner { background: #f0b429; color: #1a1a1a; padding: 6px; font-weight: bold; }"
TITLE_STYLE = "QLabel#viewportTitle { background: #20262e; color: #e6e6e6; padding: 2px 6px; }"
ACTIVE_TITLE_STYLE = "QLabel#viewportTitle { background: #2f5d8a; color: #ffffff; padding: 2px 6px; }"


def make_banner() -> QLabel:
    """A viewport's out-of-distribution banner, hidden until an image needs it."""
    banner = PlainLabel(limit=MESSAGE_ELIDE_AT)
    banner.setObjectName("oodBanner")
    banner.setWordWrap(True)
    banner.setStyleSheet(BANNER_STYLE)
    banner.hide()
    return banner


class Viewport(QFrame):
    """A canvas, its banner and its title strip (shown only while there are several viewports)."""

    def __init__(self, canvas: ImageCanvas, banner: QLabel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("viewport")
        self.canvas, self.banner = canvas, banner
        self.title = PlainLabel()
        self.title.setObjectName("viewportTitle")
        self.title.setStyleSheet(TITLE_STYLE)
        self.title.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.title)
        layout.addWidget(banner)
        layout.addWidget(canvas, 1)

    def set_title(self, text: str, *, reading: bool = False) -> None:
        """What the strip says; ``reading`` marks the viewport the browser and panels act on."""
        self.title.setText(text)
        self.title.setStyleSheet(ACTIVE_TITLE_STYLE if reading else TITLE_STYLE)

    def set_title_shown(self, shown: bool) -> None:
        self.title.setVisible(shown)


class ViewportGrid(QWidget):
    """The viewports laid out ``rows`` x ``columns``; the first is always shown."""

    def __init__(self, first: Viewport, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("viewportGrid")
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setSpacing(2)
        self.viewports: list[Viewport] = [first]
        self.layout_name = "1x1"
        self._grid.addWidget(first, 0, 0)

    @property
    def slots(self) -> int:
        rows, columns = LAYOUTS[self.layout_name]
        return rows * columns

    def add(self, viewport: Viewport) -> None:
        """One more viewport (hidden until a layout has a slot for it)."""
        self.viewports.append(viewport)
        viewport.hide()

    def set_layout(self, name: str) -> None:
        """Show the first rows x columns viewports of layout ``name`` ('1x2': one row, two columns)."""
        rows, columns = LAYOUTS[name]
        if name == self.layout_name:
            return  # every image opened asks again: re-placing the widgets would lay the area out anew
        if len(self.viewports) < rows * columns:
            raise ValueError(f"layout {name} needs {rows * columns} viewports, there are {len(self.viewports)}")
        self.layout_name = name
        for viewport in self.viewports:
            self._grid.removeWidget(viewport)
        for row in range(2):  # no stretch left on rows and columns the layout no longer has
            self._grid.setRowStretch(row, 1 if row < rows else 0)
            self._grid.setColumnStretch(row, 1 if row < columns else 0)
        for slot, viewport in enumerate(self.viewports):
            if slot < rows * columns:
                self._grid.addWidget(viewport, slot // columns, slot % columns)
                viewport.show()
                viewport.set_title_shown(rows * columns > 1)
            else:
                viewport.hide()
        self._grid.setAlignment(Qt.AlignmentFlag(0))

    def shown(self) -> list[Viewport]:
        """The viewports of the layout, in slot order (reading order: left to right, top down)."""
        return self.viewports[: self.slots]
