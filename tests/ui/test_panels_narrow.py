"""Narrow panels stay usable: the findings dock made narrow through the main window (its
``resizeDocks``, a drag of the separator with the mouse, a saved layout with a tiny dock) still
shows every probability whole, a usable operating-point slider, and a model card whose label
names are not broken inside a word."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QDockWidget, QMainWindow, QStyle, QWidget

from tests.ui.conftest import wait_for_findings
from tests.ui.images import chest_png
from viewer.ui.findings_panel import ROW_ROLE
from viewer.ui.main_window import MainWindow
from viewer.ui.settings import AppSettings

MIN_SLIDER = 100  # px: a slider a hand can set to one of its steps


def _open(qtbot, window: MainWindow, folder: Path) -> None:
    chest_png(folder / "a.png", seed=11)
    window.open_path(folder)
    wait_for_findings(qtbot, window)
    window.model_dock.raise_()  # the model card is read as well
    QApplication.processEvents()


def _assert_usable(window: MainWindow) -> None:
    """Every finding row is inside the list, with its probability whole; the slider is a slider;
    the model card's label names each sit on one line."""
    panel = window.findings
    view = panel.list
    assert not view.horizontalScrollBar().isVisible(), "the rows are wider than the panel"
    viewport = view.viewport().rect()
    delegate = view.itemDelegate()
    for row in range(panel.model.rowCount()):
        index = panel.model.index(row)
        rect = view.visualRect(index)
        assert viewport.left() <= rect.left() and rect.right() <= viewport.right(), (row, rect, viewport)
        value = delegate.value_rect(rect)
        bold = QFont(view.font())
        bold.setBold(True)
        text = f"{index.data(ROW_ROLE).probability:.2f}"
        assert QFontMetrics(bold).horizontalAdvance(text) <= value.width(), (text, value)
        assert value.right() <= viewport.right()
    assert panel.sensitivity.width() >= MIN_SLIDER, panel.sensitivity.width()
    assert panel.opacity.width() >= MIN_SLIDER // 2, panel.opacity.width()

    document = window.model_panel.text.document()
    labels = {label.replace("_", " ") for label in window.models.predictor.labels}
    block, seen = document.begin(), set()
    while block.isValid():
        text = block.text().replace("\N{NO-BREAK SPACE}", " ")  # how Qt keeps a cell's spaces unbroken
        if text in labels:
            seen.add(text)
            assert block.layout().lineCount() == 1, f"{text!r} is broken over lines"
        block = block.next()
    assert seen == labels


def test_a_findings_dock_resized_to_almost_nothing_keeps_its_numbers(qtbot, make_window, tiny_model, tmp_path,
                                                                      screenshot) -> None:
    window = make_window(tiny_model)
    _open(qtbot, window, tmp_path / "imgs")
    window.resizeDocks([window.findings_dock, window.model_dock], [40, 40], Qt.Orientation.Horizontal)
    QApplication.processEvents()
    assert window.findings_dock.width() < 390  # it did get narrower
    _assert_usable(window)
    screenshot(window.findings_dock, "findings")
    card = window.model_panel.text
    card.setTextCursor(card.document().find("Pneumothorax"))  # the table of labels in view
    card.ensureCursorVisible()
    screenshot(window.model_dock, "model")
    screenshot(window, "window")


def test_dragging_the_dock_separator_stops_at_a_usable_width(qtbot, make_window, tiny_model, tmp_path,
                                                              screenshot) -> None:
    window = make_window(tiny_model)
    _open(qtbot, window, tmp_path / "imgs")
    dock = window.findings_dock
    extent = window.style().pixelMetric(QStyle.PixelMetric.PM_DockWidgetSeparatorExtent, None, window)
    start = QPoint(dock.geometry().left() - extent // 2, dock.geometry().center().y())
    QTest.mousePress(window, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    for step in range(1, 9):  # the main window moves its separators on a timer: let it run
        QTest.mouseMove(window, start + QPoint(60 * step, 0))
        QTest.qWait(20)
    QTest.mouseRelease(window, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start + QPoint(480, 0))
    QApplication.processEvents()
    assert dock.width() < 390  # the drag moved it
    _assert_usable(window)
    screenshot(window.findings_dock, "findings")


def test_a_saved_layout_with_a_tiny_dock_is_restored_usable(qtbot, make_window, tiny_model, settings, tmp_path,
                                                             screenshot) -> None:
    """A layout saved where the docks could be tiny (another version, other panel contents)."""
    saved = QMainWindow()
    qtbot.addWidget(saved)
    saved.setCentralWidget(QWidget())
    docks = {}
    for name, area in (("browserDock", Qt.DockWidgetArea.LeftDockWidgetArea),
                       ("findingsDock", Qt.DockWidgetArea.RightDockWidgetArea),
                       ("tagsDock", Qt.DockWidgetArea.RightDockWidgetArea),
                       ("modelDock", Qt.DockWidgetArea.RightDockWidgetArea),
                       ("errorsDock", Qt.DockWidgetArea.BottomDockWidgetArea)):
        docks[name] = QDockWidget(name)
        docks[name].setObjectName(name)
        docks[name].setWidget(QWidget())
        saved.addDockWidget(area, docks[name])
    saved.tabifyDockWidget(docks["tagsDock"], docks["modelDock"])
    saved.resize(1400, 900)
    saved.show()
    saved.resizeDocks([docks["findingsDock"]], [20], Qt.Orientation.Horizontal)
    QApplication.processEvents()
    settings.save_window(saved.saveGeometry(), saved.saveState())
    saved.close()

    window = make_window(tiny_model, store=AppSettings.at(settings.store.fileName()))
    _open(qtbot, window, tmp_path / "imgs")
    _assert_usable(window)
    screenshot(window, "restored")


def test_a_short_window_scrolls_the_findings_rather_than_hide_the_last(qtbot, make_window, tiny_model, tmp_path,
                                                                       screenshot) -> None:
    """On a short screen the findings get less height than all their rows: the last rows must be
    reachable (a scroll bar), not drawn under the legend."""
    window = make_window(tiny_model)
    _open(qtbot, window, tmp_path / "imgs")
    window.tags_dock.raise_()
    window.resize(1000, 640)
    QApplication.processEvents()
    panel = window.findings
    view = panel.list
    list_bottom = view.mapTo(panel, view.rect().bottomLeft()).y()
    assert list_bottom < panel.legend.geometry().top(), "the legend covers the list"
    last = view.visualRect(panel.model.index(panel.model.rowCount() - 1))
    assert last.bottom() <= view.viewport().height() or view.verticalScrollBar().isVisible()
    screenshot(window, "short")
