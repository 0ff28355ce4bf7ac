"""Part of the main window: the commands of the image canvas and of reading.

A mixin of ``MainWindow``: the tools of the left mouse button (the view's in the View menu, the
measurements and annotations in the Measure menu), the mouse layouts (View > Mouse Layout,
remembered in the settings), the shapes' commands (delete, clear, undo, redo, calibrate: their
slots are ``window_annotations``'), the next and previous study, the arrow keys and the
right-click menu of the canvas, the full-screen reading mode, and the patient's identity on the
canvas (off at each start, with a sign in the status bar). Its
actions are made after the window's other actions, menus and toolbar (``window_actions``) and
put next to the related commands there, found by the actions they hold, so the two modules
share only the action names.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QLabel, QMenu, QToolBar, QWidget

from viewer.viewmodel.mouse_bindings import LAYOUTS, TOOL_NAMES, Tool
from viewer.viewmodel.navigation import study_step

from .reading_mode import ReadingMode

if TYPE_CHECKING:  # the QMainWindow this is mixed into, for type checkers only
    from PySide6.QtWidgets import QMainWindow as _Window

    from .browser import StudyBrowser
    from .canvas import ImageCanvas
    from .settings import AppSettings
    from .tags_panel import TagsPanel
else:
    _Window = object

TOOL_KEYS = {Tool.WINDOW: "W", Tool.PAN: "P", Tool.ZOOM: "Z", Tool.MEASURE: "M", Tool.ANGLE: "A",
             Tool.COBB: "B", Tool.CTR: "T", Tool.ELLIPSE: "E", Tool.RECT: "G", Tool.ARROW: "Shift+A",
             Tool.TEXT: "Shift+T"}
TOOL_TIPS = {
    Tool.WINDOW: "Left-drag changes the window (left/right) and level (up/down)",
    Tool.PAN: "Left-drag moves the image",
    Tool.ZOOM: "Left-drag up zooms in, down zooms out",
    Tool.MEASURE: "Left-drag measures a distance (mm when the pixel spacing is known)",
    Tool.ANGLE: "Drag from one arm's end to the vertex, then click the other arm's end",
    Tool.COBB: "Drag along the first endplate, then along the second: the angle between them",
    Tool.CTR: "Drag across the heart at its widest, then across the thorax: the cardiothoracic ratio",
    Tool.ELLIPSE: "Drag across a region: its mean, SD, min, max and area",
    Tool.RECT: "Drag across a region: its mean, SD, min, max and area",
    Tool.ARROW: "Drag from the arrow's tip to its tail",
    Tool.TEXT: "Click where the words go, then type them",
}
# the toolbar's short names (the menus say the whole name)
TOOL_BUTTONS = {Tool.WINDOW: "W/L", Tool.COBB: "Cobb", Tool.CTR: "CTR", Tool.ELLIPSE: "Ellipse", Tool.RECT: "Rect"}
VIEW_TOOLS = (Tool.WINDOW, Tool.PAN, Tool.ZOOM)


class WindowCanvasMixin(_Window):
    """The canvas's commands (``act_*``), the tools (``tool_actions``) and the mouse layouts
    (``mouse_layout_actions``, by layout name)."""

    settings: AppSettings
    canvas: ImageCanvas
    browser: StudyBrowser
    tags: TagsPanel
    act_next: QAction
    act_prev: QAction
    act_reset: QAction
    act_fit: QAction
    act_actual: QAction
    act_invert: QAction
    act_heatmap: QAction
    identity_indicator: QLabel
    _action: Callable[..., QAction]
    delete_shape: Callable[[], None]
    clear_shapes: Callable[[], None]
    undo_shapes: Callable[[], None]
    redo_shapes: Callable[[], None]
    calibrate_ruler: Callable[[], None]

    def _build_canvas_actions(self) -> None:
        c = self.canvas
        self._build_tools()
        self.act_delete_measurement = self._action(
            "&Delete Measurement", self.delete_shape, ["Del", "Backspace"],
            tip="Delete the selected measurement or annotation (click one to select it)")
        self.act_clear_measurements = self._action("C&lear Measurements", self.clear_shapes, "Ctrl+Del",
                                                   tip="Delete every measurement and annotation of this image")
        self.act_undo = self._action("&Undo", self.undo_shapes, "Ctrl+Z",
                                     tip="Undo the last change to the measurements and annotations")
        self.act_redo = self._action("&Redo", self.redo_shapes, ["Ctrl+Shift+Z", "Ctrl+Y"],
                                     tip="Redo the change last undone")
        self.act_calibrate = self._action("&Calibrate Ruler\N{HORIZONTAL ELLIPSIS}", self.calibrate_ruler,
                                          tip="Give the selected ruler's length in mm: the image is measured "
                                              "with it from now on")
        self._build_mouse_layouts()
        view_tools = [self.tool_actions[tool] for tool in VIEW_TOOLS]
        shape_tools = [action for tool, action in self.tool_actions.items() if tool not in VIEW_TOOLS]
        self._insert_before(self.act_heatmap, [*view_tools, self.mouse_layout_menu.menuAction(), None],
                            menus_only=True)
        shape_commands = [self.act_delete_measurement, self.act_clear_measurements, None, self.act_undo,
                          self.act_redo, None, self.act_calibrate]
        self.measure_menu = QMenu("&Measure", self)
        for action in [*shape_tools, None, *shape_commands]:
            self.measure_menu.addSeparator() if action is None else self.measure_menu.addAction(action)
        self.menuBar().insertMenu(self.menuBar().actions()[-1], self.measure_menu)  # before Help
        self.draw_menu = QMenu("Dra&w", self)  # the canvas's menu: the drawing tools in one entry
        self.draw_menu.addActions(shape_tools)

        # the arrow keys and the wheel of the canvas do what the next / previous image commands do
        c.step_requested.connect(lambda delta: (self.act_next if delta > 0 else self.act_prev).trigger())
        self.act_next_study = self._action("Next &Study", lambda: self.step_study(1), ["Shift+PgDown", "Shift+J"],
                                           tip="First image of the next study in the browser")
        self.act_prev_study = self._action("Previous S&tudy", lambda: self.step_study(-1), ["Shift+PgUp", "Shift+K"],
                                           tip="First image of the previous study in the browser")
        self._insert_after(self.act_prev, [self.act_next_study, self.act_prev_study])

        self.reading_mode = ReadingMode(self)
        self.act_full_screen = self._action("F&ull Screen Reading", self._set_full_screen, "F11", checkable=True,
                                            tip="The image alone on the whole screen (Esc leaves)")
        self.act_leave_full_screen = self._action("Leave Full Screen", lambda: self.act_full_screen.setChecked(False),
                                                  "Esc")
        self.act_leave_full_screen.setEnabled(False)  # Esc means something else outside it
        # off at every start: the name, ID and birth date are shown only while someone asks
        self.act_show_identity = self._action("Show Patient &Identity", self._show_identity, "Ctrl+Shift+I",
                                              checkable=True,
                                              tip="Name, ID and birth date in the corner, the browser and the "
                                                  "tags (on screen only, never exported)")
        self._insert_after(self.act_reset, [self.act_full_screen, self.act_show_identity])

        c.menu_actions = [*view_tools, self.draw_menu.menuAction(), None, self.act_delete_measurement,
                          self.act_clear_measurements, self.act_undo, self.act_redo, self.act_calibrate, None,
                          self.act_fit, self.act_actual, self.act_invert, self.act_reset, None, self.act_full_screen,
                          self.act_show_identity]
        self._build_tools_toolbar([*view_tools, None, *shape_tools, None, self.act_clear_measurements,
                                   self.act_undo, self.act_redo, None, self.act_full_screen, self.act_show_identity])

    # -- tools and mouse layouts --------------------------------------------------------------
    def _build_tools(self) -> None:
        """One checkable action per tool of the left button, one of them checked."""
        group = QActionGroup(self)
        group.setExclusive(True)
        self.tool_actions: dict[Tool, QAction] = {}
        for tool in Tool:
            action = self._action(f"&{TOOL_NAMES[tool]}", partial(self._use_tool, tool), TOOL_KEYS[tool],
                                  checkable=True, tip=TOOL_TIPS[tool])
            action.setIconText(TOOL_BUTTONS.get(tool, TOOL_NAMES[tool]))
            group.addAction(action)
            self.tool_actions[tool] = action
        self.act_tool_window = self.tool_actions[Tool.WINDOW]
        self.act_tool_pan = self.tool_actions[Tool.PAN]
        self.act_tool_zoom = self.tool_actions[Tool.ZOOM]
        self.act_ruler = self.tool_actions[Tool.MEASURE]
        self.canvas.tool_changed.connect(lambda tool: self.tool_actions[tool].setChecked(True))

    def _build_tools_toolbar(self, actions: Sequence[QAction | None]) -> None:
        """The tools on a toolbar of their own, on a row below the window's (which is full)."""
        toolbar = QToolBar("Mouse tools", self)
        toolbar.setObjectName("toolsToolbar")
        toolbar.setIconSize(QSize(16, 16))
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        toolbar.addWidget(QLabel(" Left button: "))
        for action in actions:
            toolbar.addSeparator() if action is None else toolbar.addAction(action)
        self.addToolBarBreak(Qt.ToolBarArea.TopToolBarArea)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, toolbar)
        self.tools_toolbar = toolbar

    def _use_tool(self, tool: Tool, on: bool) -> None:
        if on and self.canvas.tool is not tool:
            for canvas in self._canvases():
                canvas.tool = tool

    def _canvases(self) -> list[ImageCanvas]:
        """Every viewport's canvas, the reading one first (the tools and toggles reach them all)."""
        comparison = getattr(self, "comparison", None)  # made after the canvas's actions
        return comparison.canvases() if comparison is not None else [self.canvas]

    def _build_mouse_layouts(self) -> None:
        """View > Mouse Layout: one checkable action per layout; the stored one in force."""
        self.mouse_layout_menu = QMenu("&Mouse Layout", self)
        group = QActionGroup(self)
        group.setExclusive(True)
        self.mouse_layout_actions: dict[str, QAction] = {}
        for name, layout in LAYOUTS.items():
            action = QAction(layout.title, self)
            action.setCheckable(True)
            action.setStatusTip(layout.note)
            action.triggered.connect(lambda _=False, n=name: self.set_mouse_layout(n))
            group.addAction(action)
            self.mouse_layout_menu.addAction(action)
            self.mouse_layout_actions[name] = action
        self._apply_mouse_layout(self.settings.mouse_preset())

    def set_mouse_layout(self, name: str) -> None:
        """Use the mouse layout ``name`` from now on, and remember it."""
        self._apply_mouse_layout(name)
        self.settings.set_mouse_preset(self.canvas.bindings.layout.name)

    def _apply_mouse_layout(self, name: str) -> None:
        for canvas in self._canvases():
            canvas.set_layout(name)
        self.mouse_layout_actions[self.canvas.bindings.layout.name].setChecked(True)

    # -- navigation and reading ---------------------------------------------------------------
    def step_study(self, delta: int) -> None:
        """Open the first image of the next (+1) or previous (-1) study in the browser."""
        images = self.browser.visible_images()
        current = self.browser.current_image()
        paths = [image.path for image in images]
        if current is None or current.path not in paths:
            return
        target = study_step([image.study_key for image in images], paths.index(current.path), delta)
        if target is not None:
            self.browser.select_path(paths[target])

    def _show_identity(self, on: bool) -> None:
        for canvas in self._canvases():
            canvas.set_identity_shown(on)
        self.browser.set_identity_shown(on)
        self.tags.set_identity_shown(on)
        self.identity_indicator.setVisible(on)

    def _set_full_screen(self, on: bool) -> None:
        self.reading_mode.set_active(on)
        self.act_leave_full_screen.setEnabled(on)
        self.canvas.setFocus()

    # -- placing actions beside the window's own ----------------------------------------------
    def _insert_after(self, anchor: QAction, actions: Sequence[QAction]) -> None:
        """Put ``actions`` after ``anchor`` in the menu that holds it."""
        for holder in self._holders_of(anchor, menus_only=True):
            held = holder.actions()
            at = held.index(anchor) + 1
            following = held[at] if at < len(held) else None
            for action in actions:
                holder.insertAction(following, action) if following is not None else holder.addAction(action)

    def _insert_before(self, anchor: QAction, actions: Sequence[QAction | None], menus_only: bool = False) -> None:
        """Put ``actions`` (None: a separator) before ``anchor`` in the menus and, unless
        ``menus_only``, the toolbars that hold it."""
        for holder in self._holders_of(anchor, menus_only=menus_only):
            for action in actions:
                if action is None:
                    if isinstance(holder, QMenu):
                        holder.insertSeparator(anchor)
                else:
                    holder.insertAction(anchor, action)

    def _holders_of(self, action: QAction, *, menus_only: bool) -> list[QWidget]:
        """The menus of the menu bar (and toolbars, unless ``menus_only``) that hold ``action``."""
        holders: list[QWidget] = []
        for top in self.menuBar().actions():
            menu = top.menu()
            if isinstance(menu, QMenu) and action in menu.actions():
                holders.append(menu)
        if not menus_only:
            holders += [bar for bar in self.findChildren(QToolBar) if action in bar.actions()]
        return holders
