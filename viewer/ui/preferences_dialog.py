"""File > Preferences: a dialog of pages, and its Display page.

A page is any widget, added with one call (``PreferencesDialog.add_page(title, widget)``), and
applies its changes as they are made, so the dialog needs no OK or Apply: it is not modal, and
the window shows each change at once. The Display page holds the preferences that are kept
across restarts (``display_preferences``): it mirrors the window's own controls, the findings
panel's colormap, opacity and operating point and the browser's order, setting them and
following them, so a preference has one control behind it and one path to its file.
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QAbstractSlider,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)


class PreferencesDialog(QDialog):
    """A tab per page; the pages apply their changes as they are made."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("preferencesDialog")
        self.setWindowTitle("Preferences")
        self.tabs = QTabWidget()
        self.tabs.setObjectName("preferencesPages")
        closer = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        closer.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(closer)

    def add_page(self, title: str, page: QWidget) -> None:
        """Add ``page`` as the tab ``title`` (after the pages already there)."""
        self.tabs.addTab(page, title)

    def page(self, title: str) -> QWidget | None:
        """The page called ``title``, if there is one."""
        for i in range(self.tabs.count()):
            if self.tabs.tabText(i) == title:
                return self.tabs.widget(i)
        return None


class DisplayPage(QWidget):
    """The heatmap's colormap and opacity, the operating point and the browser's order, as
    mirrors of the window's controls (each given here)."""

    def __init__(self, colormap: QComboBox, opacity: QAbstractSlider, operating_point: QAbstractSlider,
                 sort_mode: QComboBox, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.colormap = _mirror_choice(colormap, "preferredColormap")
        self.opacity = _mirror_number(opacity, "preferredOpacity")
        self.opacity.setSuffix(" %")
        self.operating_point = _mirror_number(operating_point, "preferredOperatingPoint")
        self.operating_point.setToolTip("0: the model card's thresholds; more: more sensitive (more "
                                        "flags); less: more specific. Kept for each model.")
        self.sort_mode = _mirror_choice(sort_mode, "preferredSortMode")

        form = QFormLayout(self)
        form.addRow("Heatmap colormap", self.colormap)
        form.addRow("Heatmap opacity", self.opacity)
        form.addRow("Operating point", self.operating_point)
        form.addRow("Study browser order", self.sort_mode)
        note = QLabel("Changes apply at once and are kept for the next start; the operating point "
                      "is kept for each model.")
        note.setWordWrap(True)
        form.addRow(note)


def _mirror_choice(shown: QComboBox, name: str) -> QComboBox:
    """A combo box with ``shown``'s items that sets it and follows it."""
    box = QComboBox()
    box.setObjectName(name)
    box.addItems([shown.itemText(i) for i in range(shown.count())])
    box.setCurrentText(shown.currentText())
    box.currentTextChanged.connect(shown.setCurrentText)
    shown.currentTextChanged.connect(box.setCurrentText)  # the same text again emits nothing: no loop
    return box


def _mirror_number(shown: QAbstractSlider, name: str) -> QSpinBox:
    """A spin box over ``shown``'s range that sets it and follows it."""
    spin = QSpinBox()
    spin.setObjectName(name)
    spin.setRange(shown.minimum(), shown.maximum())
    spin.setValue(shown.value())
    spin.valueChanged.connect(shown.setValue)
    shown.valueChanged.connect(spin.setValue)
    return spin
