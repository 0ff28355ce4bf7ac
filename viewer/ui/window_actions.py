"""Part of the main window: its actions, shortcuts, menus, toolbar and the help text.

A mixin of ``MainWindow``: every command is a ``QAction`` with its shortcut (so the menus, the
toolbar and the keys do the same thing), connected to the window's widgets and its own slots
(``choose_folder``, ``export_png``, ``apply_preset``...).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QComboBox, QDockWidget, QLabel, QMenu, QToolBar

from viewer.core.errors import display_name
from viewer.viewmodel.bindings import KEYS, mouse_rows
from viewer.viewmodel.help_table import MOUSE_TITLE, Binding, Command, help_sections
from viewer.viewmodel.windowing import PRESET_KEYS

from .display_preferences import sort_box
from .help_dialog import HelpDialog
from .mouse_preferences import add_mouse_page
from .plain_text import menu_text, tooltip
from .preferences_dialog import DisplayPage, PreferencesDialog

if TYPE_CHECKING:  # the QMainWindow this is mixed into, for type checkers only
    from PySide6.QtWidgets import QMainWindow as _Window

    from .browser import StudyBrowser
    from .canvas import ImageCanvas
    from .findings_panel import FindingsPanel
    from .settings import AppSettings
else:
    _Window = object

Shortcut = str | QKeySequence | QKeySequence.StandardKey


class WindowActionsMixin(_Window):
    """The window's commands (``act_*``), the presets list of the toolbar and the recent menu."""

    settings: AppSettings
    canvas: ImageCanvas
    browser: StudyBrowser
    findings: FindingsPanel
    docks: list[QDockWidget]
    choose_folder: Callable[[], None]
    choose_file: Callable[[], None]
    open_path: Callable[[Path], None]
    export_png: Callable[..., Path | None]
    export_csv: Callable[..., Path | None]
    apply_preset: Callable[[int], None]
    reset_view: Callable[[], None]
    _build_canvas_actions: Callable[[], None]

    def _action(self, text: str, slot: Callable[..., object], shortcut: Shortcut | Sequence[Shortcut] | None = None,
                checkable: bool = False, tip: str | None = None) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            if isinstance(shortcut, (str, QKeySequence, QKeySequence.StandardKey)):
                shortcuts: list[Shortcut] = [shortcut]
            else:
                shortcuts = list(shortcut)
            action.setShortcuts([_key_sequence(s) for s in shortcuts])
        action.setCheckable(checkable)
        if tip:
            action.setStatusTip(tip)
            action.setToolTip(f"{tip} ({action.shortcut().toString()})" if action.shortcut() else tip)
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        (action.toggled if checkable else action.triggered).connect(slot)
        self.addAction(action)
        return action

    def _build_actions(self) -> None:
        c = self.canvas
        self.act_open_folder = self._action("Open &Folder\N{HORIZONTAL ELLIPSIS}", self.choose_folder,
                                            QKeySequence.StandardKey.Open, tip="Open a folder of radiographs")
        self.act_open_file = self._action("Open &File\N{HORIZONTAL ELLIPSIS}", self.choose_file, "Ctrl+Shift+O",
                                          tip="Open one radiograph")
        # lambdas: triggered(bool) would pass its 'checked' to the exports' optional file name
        self.act_export_png = self._action("Export View as &PNG\N{HORIZONTAL ELLIPSIS}", lambda: self.export_png(),
                                           "Ctrl+E", tip="Save the view with its overlays (not for diagnostic use)")
        self.act_export_csv = self._action("Export Folder Findings as &CSV\N{HORIZONTAL ELLIPSIS}",
                                           lambda: self.export_csv(), "Ctrl+Shift+E",
                                           tip="Save the findings of every analysed image")
        self.act_preferences = self._action("&Preferences\N{HORIZONTAL ELLIPSIS}", self._show_preferences, "Ctrl+,",
                                            tip="Heatmap colormap and opacity, operating point, study order")
        self.act_quit = self._action("&Quit", self.close, QKeySequence.StandardKey.Quit)

        self.act_fit = self._action("&Fit", c.fit, ["Ctrl+0", "Home"], tip="Fit the image to the window")
        self.act_actual = self._action("&1:1", c.actual_size, "Ctrl+1", tip="One image pixel per screen pixel")
        self.act_zoom_in = self._action("Zoom &In", lambda: c.zoom_by(1.25), QKeySequence.StandardKey.ZoomIn)
        self.act_zoom_out = self._action("Zoom &Out", lambda: c.zoom_by(0.8), QKeySequence.StandardKey.ZoomOut)
        self.act_rotate = self._action("Rotate &Right", lambda: c.rotate(True), "R",
                                       tip="Rotate 90\N{DEGREE SIGN} clockwise")
        self.act_rotate_left = self._action("Rotate &Left", lambda: c.rotate(False), "Shift+R")
        self.act_flip_h = self._action("Flip &Horizontal", lambda: c.flip(True), "X", tip="Mirror left-right")
        self.act_flip_v = self._action("Flip &Vertical", lambda: c.flip(False), "Y", tip="Mirror top-bottom")
        self.act_invert = self._action("&Invert", c.set_invert, "I", checkable=True, tip="Invert grey levels")
        self.act_reset = self._action("&Reset View", self.reset_view, "Ctrl+R",
                                      tip="Default window, no rotation, flip or inversion, fitted")

        self.act_next = self._action("&Next Image", lambda: self.browser.step(1), ["PgDown", "J"],
                                     tip="Next image in the browser")
        self.act_prev = self._action("&Previous Image", lambda: self.browser.step(-1), ["PgUp", "K"],
                                     tip="Previous image in the browser")
        self.act_next_finding = self._action("Next Finding", lambda: self.findings.step(1), ["F", "]"],
                                             tip="Show the heatmap of the next finding")
        self.act_prev_finding = self._action("Previous Finding", lambda: self.findings.step(-1), ["Shift+F", "["],
                                             tip="Show the heatmap of the previous finding")
        self.act_heatmap = self._action("&Heatmap", self.findings.show_heatmap.setChecked, "H", checkable=True,
                                        tip="Show or hide the heatmap")
        self.act_heatmap.setChecked(True)

        self.presets = QComboBox()
        self.presets.setObjectName("windowPresets")
        self.presets.setToolTip("Window presets: from the header, and lung / soft tissue / bone "
                                f"chosen from this image's densities (keys 1-{PRESET_KEYS})")
        self.presets.setMinimumContentsLength(16)
        self.presets.activated.connect(self.apply_preset)
        self.preset_actions = [
            self._action(f"Preset {i}", lambda _=False, i=i: self.apply_preset(i - 1), str(i))
            for i in range(1, PRESET_KEYS + 1)
        ]
        self._build_menus()
        self._build_toolbar()
        self._rebuild_recent_menu()
        self._build_canvas_actions()

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        file_menu.addActions([self.act_open_folder, self.act_open_file])
        self.recent_menu = QMenu("Open &Recent", self)
        file_menu.addMenu(self.recent_menu)
        file_menu.addSeparator()
        file_menu.addActions([self.act_export_png, self.act_export_csv])
        file_menu.addSeparator()
        file_menu.addActions([self.act_preferences, self.act_quit])
        view_menu = self.menuBar().addMenu("&View")
        view_menu.addActions([self.act_fit, self.act_actual, self.act_zoom_in, self.act_zoom_out])
        view_menu.addSeparator()
        view_menu.addActions([self.act_rotate, self.act_rotate_left, self.act_flip_h, self.act_flip_v,
                              self.act_invert, self.act_reset])
        view_menu.addSeparator()
        view_menu.addAction(self.act_heatmap)
        view_menu.addSeparator()
        for dock in self.docks:
            view_menu.addAction(dock.toggleViewAction())
        go_menu = self.menuBar().addMenu("&Go")
        go_menu.addActions([self.act_next, self.act_prev, self.act_next_finding, self.act_prev_finding,
                            self.findings.pin_action])
        help_menu = self.menuBar().addMenu("&Help")
        help_menu.addAction(self._action("&Keyboard and Mouse", self._show_help, "F1"))

    def _build_toolbar(self) -> None:
        toolbar = QToolBar("Tools", self)
        toolbar.setObjectName("mainToolbar")
        toolbar.setIconSize(QSize(16, 16))
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        toolbar.addActions([self.act_open_folder, self.act_open_file])
        toolbar.addSeparator()
        toolbar.addActions([self.act_prev, self.act_next])
        toolbar.addSeparator()
        toolbar.addActions([self.act_fit, self.act_actual, self.act_rotate, self.act_flip_h, self.act_invert,
                            self.act_reset])
        toolbar.addSeparator()
        toolbar.addWidget(QLabel(" Window "))
        toolbar.addWidget(self.presets)
        toolbar.addSeparator()
        toolbar.addAction(self.act_heatmap)
        toolbar.addSeparator()
        toolbar.addAction(self.act_export_png)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, toolbar)

    def _rebuild_recent_menu(self) -> None:
        self.recent_menu.clear()
        folders = self.settings.recent_folders()
        for folder in folders:
            action = self.recent_menu.addAction(menu_text(display_name(folder)))
            action.setToolTip(tooltip(display_name(folder)))  # else Qt's tooltip is the text, guessed as HTML
            action.triggered.connect(lambda _=False, f=folder: self.open_path(f))
        if folders:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear", self._clear_recent)
        self.recent_menu.setEnabled(bool(folders))

    def _clear_recent(self) -> None:
        self.settings.clear_recent_folders()
        self._rebuild_recent_menu()

    def _set_findings_actions(self, enabled: bool) -> None:
        """The heatmap and finding commands mean something only while findings are shown."""
        for action in (self.act_heatmap, self.act_next_finding, self.act_prev_finding):
            action.setEnabled(enabled)

    def _show_help(self) -> None:
        """The keyboard and mouse help, built from the window's commands as they are now and
        the mouse layout in force."""
        layout = self.canvas.bindings.layout
        mouse = [Binding(gesture, does) for gesture, does in mouse_rows(layout)]
        sections = help_sections(self._commands(), mouse,
                                 f"{MOUSE_TITLE} ({layout.title}; View > Mouse Layout changes it)")
        help_dialog = self.findChild(HelpDialog)
        if help_dialog is None:
            help_dialog = HelpDialog(sections, self)
        else:
            help_dialog.show_sections(sections)
        help_dialog.show()
        help_dialog.raise_()

    def _show_preferences(self) -> None:
        """The Preferences dialog, made once; a page is one ``add_page`` line here."""
        dialog = self.findChild(PreferencesDialog)
        if dialog is None:
            dialog = PreferencesDialog(self)
            f = self.findings
            dialog.add_page("Display", DisplayPage(f.colormap, f.opacity, f.sensitivity, sort_box(self.browser)))
            add_mouse_page(dialog)  # the Mouse page of the dialog's window
        dialog.show()
        dialog.raise_()

    def _commands(self) -> list[Command]:
        """Every command with the menu it is in, then every other action of the window (the
        presets' keys, a panel's own commands) as a command of no menu."""
        def keys(action: QAction) -> tuple[str, ...]:
            return tuple(s.toString(QKeySequence.SequenceFormat.NativeText) for s in action.shortcuts())

        commands = []
        for entry in self.menuBar().actions():
            menu = entry.menu()
            if isinstance(menu, QMenu):
                commands += [Command(entry.text(), a.text(), keys(a)) for a in menu.actions()]
        commands += [Command("", a.text(), keys(a)) for a in self.findChildren(QAction)]
        # keys no command has: the canvas's own (the arrow keys on the image)
        commands += [Command("", f"{b.what} ({b.where})", b.keys) for b in KEYS if b.where]
        return commands


def _key_sequence(shortcut: Shortcut) -> QKeySequence:
    """A shortcut given as text, a standard key or a key sequence, as a key sequence."""
    if isinstance(shortcut, QKeySequence):
        return shortcut
    if isinstance(shortcut, str):
        return QKeySequence(shortcut)
    return QKeySequence(shortcut)
