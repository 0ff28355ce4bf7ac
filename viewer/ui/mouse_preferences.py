"""The Mouse page of the preferences: which mouse layout the canvas uses, and what it does.

One radio button per layout, and the list of what each button and the wheel do in the chosen
one (``viewer.viewmodel.bindings``, the same words as the help). Choosing a layout triggers the
window's View > Mouse Layout action for it, so the page, the menu and the stored setting never
disagree; it takes effect at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Protocol, cast

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QButtonGroup, QFormLayout, QGroupBox, QLabel, QRadioButton, QVBoxLayout, QWidget

from viewer.viewmodel.bindings import mouse_rows
from viewer.viewmodel.mouse_bindings import LAYOUTS


class PageHost(Protocol):
    """A preferences dialog: pages are added with a title."""

    def add_page(self, title: str, page: QWidget) -> None: ...


class MouseLayoutHost(Protocol):
    """The window whose canvas the layouts are for: its View > Mouse Layout actions by name."""

    mouse_layout_actions: dict[str, QAction]


class MousePreferencesPage(QWidget):
    """The layouts as radio buttons (``buttons``, by name) and what the chosen one does."""

    def __init__(self, layout_actions: Mapping[str, QAction], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("mousePreferences")
        self._actions = dict(layout_actions)
        box = QGroupBox("Mouse layout")
        box_layout = QVBoxLayout(box)
        self._group = QButtonGroup(self)
        self.buttons: dict[str, QRadioButton] = {}
        for name, layout in LAYOUTS.items():
            button = QRadioButton(layout.title)
            button.setToolTip(layout.note)
            button.setChecked(self._actions[name].isChecked())
            button.toggled.connect(partial(self._on_toggled, name))
            self._group.addButton(button)
            box_layout.addWidget(button)
            self.buttons[name] = button
            self._actions[name].toggled.connect(partial(_check_if, button))
        self.description = QGroupBox("What the mouse does on the image")
        self.description.setObjectName("mouseLayoutDescription")
        self._rows = QFormLayout(self.description)
        self._labels: list[tuple[QLabel, QLabel]] = []
        page = QVBoxLayout(self)
        page.addWidget(box)
        page.addWidget(self.description)
        page.addStretch(1)
        self._describe(self.chosen())

    def chosen(self) -> str:
        """The name of the layout in force."""
        return next((name for name, action in self._actions.items() if action.isChecked()), next(iter(LAYOUTS)))

    def _on_toggled(self, name: str, on: bool) -> None:
        if not on:
            return
        if not self._actions[name].isChecked():
            self._actions[name].trigger()
        self._describe(name)

    def description_rows(self) -> list[tuple[str, str]]:
        """The (gesture, what it does) rows the page shows now."""
        return [(gesture.text(), what.text()) for gesture, what in self._labels]

    def _describe(self, name: str) -> None:
        while self._rows.rowCount():
            self._rows.removeRow(0)
        self._labels = []
        for gesture, what in mouse_rows(LAYOUTS[name]):
            labels = QLabel(gesture), QLabel(what)
            for label in labels:
                label.setTextFormat(Qt.TextFormat.PlainText)
            labels[1].setWordWrap(True)
            self._rows.addRow(*labels)
            self._labels.append(labels)


def add_mouse_page(dialog: PageHost, window: MouseLayoutHost | None = None) -> MousePreferencesPage:
    """Add the Mouse page to the preferences ``dialog`` (its ``add_page``) for ``window`` (by
    default the dialog's parent window)."""
    host = window if window is not None else _parent_window(dialog)
    page = MousePreferencesPage(host.mouse_layout_actions)
    dialog.add_page("Mouse", page)
    return page


def _parent_window(dialog: PageHost) -> MouseLayoutHost:
    parent = dialog.parentWidget() if isinstance(dialog, QWidget) else None
    if parent is None or not hasattr(parent, "mouse_layout_actions"):
        raise ValueError("the preferences dialog needs the main window as its parent")
    return cast(MouseLayoutHost, parent)  # checked above: it has the layout actions


def _check_if(button: QRadioButton, on: bool) -> None:
    if on:
        button.setChecked(True)
