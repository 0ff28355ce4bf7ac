"""Part of the main window: the image area, the docked panels and the saved layout.

A mixin of ``MainWindow`` (one job a module; the window is one object to its users and tests):
it needs the widgets the window made (``canvas`` and the panels) and ``settings``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget, QWidget

from .comparison_panel import ComparisonPanel
from .viewports import Viewport, ViewportGrid, make_banner

if TYPE_CHECKING:  # the QMainWindow this is mixed into, for type checkers only
    from PySide6.QtWidgets import QMainWindow as _Window

    from .browser import StudyBrowser
    from .canvas import ImageCanvas
    from .errors_panel import ErrorsPanel
    from .findings_panel import FindingsPanel
    from .model_panel import ModelPanel
    from .settings import AppSettings
    from .tags_panel import TagsPanel
else:
    _Window = object


class WindowLayoutMixin(_Window):
    """The viewports (the canvas and its OOD banner first), the six docks and their saved geometry."""

    settings: AppSettings
    canvas: ImageCanvas
    browser: StudyBrowser
    findings: FindingsPanel
    tags: TagsPanel
    errors: ErrorsPanel
    model_panel: ModelPanel

    def _build_layout(self) -> None:
        self.banner = make_banner()
        self.viewport_grid = ViewportGrid(Viewport(self.canvas, self.banner))
        self.setCentralWidget(self.viewport_grid)
        self.comparison_panel = ComparisonPanel()

        left, right, bottom = (Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea,
                               Qt.DockWidgetArea.BottomDockWidgetArea)
        self.browser_dock = self._dock("Studies", "browserDock", self.browser, left)
        self.findings_dock = self._dock("Findings", "findingsDock", self.findings, right)
        self.tags_dock = self._dock("DICOM tags", "tagsDock", self.tags, right)
        self.model_dock = self._dock("Model", "modelDock", self.model_panel, right)
        self.errors_dock = self._dock("Errors", "errorsDock", self.errors, bottom)
        self.comparison_dock = self._dock("Comparison", "comparisonDock", self.comparison_panel, right)
        self.splitDockWidget(self.findings_dock, self.comparison_dock, Qt.Orientation.Vertical)
        self.tabifyDockWidget(self.tags_dock, self.model_dock)
        self.tags_dock.raise_()
        self.resizeDocks([self.browser_dock, self.findings_dock], [260, 390], Qt.Orientation.Horizontal)
        self.resizeDocks([self.findings_dock, self.tags_dock], [640, 220], Qt.Orientation.Vertical)
        self.resizeDocks([self.errors_dock], [110], Qt.Orientation.Vertical)
        self.errors_dock.hide()  # appears with the first error (and from the status bar button)
        self.comparison_dock.hide()  # appears with a layout of several viewports

    @property
    def docks(self) -> list[QDockWidget]:
        """Every dock, in the order of the View menu."""
        return [self.browser_dock, self.findings_dock, self.comparison_dock, self.tags_dock, self.model_dock,
                self.errors_dock]

    def _dock(self, title: str, name: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)  # saveState() needs names
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.addDockWidget(area, dock)
        return dock

    def _restore_layout(self) -> None:
        """The saved geometry and docks. A saved state cannot make a panel unusable: the main
        window's dock layout gives no dock less than its panel's minimum size, and each panel's
        minimum keeps its content whole (the findings' probabilities, its sliders)."""
        geometry, state = self.settings.window_geometry(), self.settings.window_state()
        if geometry is not None:
            self.restoreGeometry(geometry)
        if state is not None:
            self.restoreState(state)

    def _save_layout(self) -> None:
        self.settings.save_window(self.saveGeometry(), self.saveState())
