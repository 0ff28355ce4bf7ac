"""The image canvas: one radiograph with its heatmap, boxes, measurements and annotations, and
the viewing tools.

A plain ``QWidget`` that turns mouse events into view operations and holds what is on screen:
the windowed grey image (levels made by ``GreyRenderer``), the heatmap QImage of the selected
finding, ground-truth boxes and the shapes drawn on the image. The rules are the view-models':
the view transform (``viewer.viewmodel.view_transform``), window/level
(``windowing.WindowLevel``) and the shapes (``shape_editor``: draw, select, move, edit, undo,
over the image frame's ``EditHistory``); painting is ``canvas_paint``. It holds no file, model,
store or worker logic: the session hands it ready-made arrays and images, and the window hands
it each image's shapes (``set_annotations``) and keeps them when it says they changed
(``shapes_edited``). Without that (a canvas alone) each image gets shapes of its own in memory.

Mouse: what each button and the wheel do is the mouse layout's (``mouse_bindings``: today's by
default, or RadiAnt / Weasis or OHIF habits), the left button's tool one of window/level, pan,
zoom, or a measurement or annotation to draw; Ctrl+left-drag windows and Shift+left-drag
measures in every layout; a click on a shape selects it (Delete removes it), a drag of the
selected shape moves it and a drag of one of its handles edits it; a right click that does not
move opens the menu; double-click fits; Esc stops a shape being drawn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
from PySide6.QtCore import QEvent, QPoint, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QAction,
    QContextMenuEvent,
    QFontMetrics,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import QInputDialog, QMenu, QSizePolicy, QWidget

from viewer.core.boxes import GroundTruthBox
from viewer.core.measure_spacing import MeasureSpacing, calibrated, radiograph_spacing
from viewer.core.radiograph import Radiograph, Window
from viewer.core.scan import ScannedImage
from viewer.viewmodel.annotations import ImageFacts, identity_lines, image_facts
from viewer.viewmodel.edit_history import EditHistory
from viewer.viewmodel.measurement import HIT_TOLERANCE_PX, pixel_under
from viewer.viewmodel.mouse_bindings import (
    CLICK_SLOP_PX,
    SHAPE_TOOLS,
    MouseBindings,
    Tool,
    Wheel,
    wheel_steps,
    zoom_drag_factor,
)
from viewer.viewmodel.readout import Readout
from viewer.viewmodel.shape_editor import Gesture, ShapeEditor, spacing_note, status_text
from viewer.viewmodel.shape_hits import nearest_shape
from viewer.viewmodel.shapes import MeasureContext, Shape
from viewer.viewmodel.view_transform import ViewTransform, wheel_factor
from viewer.viewmodel.windowing import WindowLevel

from .canvas_paint import (
    CornerLayout,
    Scene,
    corner_layout,
    paint_scene,
    qtransform,
    readout_font,
    ruler_label_rects,
    scene_readout,
)
from .display import GreyFrame, GreyRenderer

TOOL_PAN, TOOL_RULER = Tool.PAN, Tool.MEASURE
BUTTON_NAMES = {Qt.MouseButton.LeftButton: "left", Qt.MouseButton.MiddleButton: "middle",
                Qt.MouseButton.RightButton: "right"}


class ImageCanvas(QWidget):
    """Shows one radiograph and the overlays of its selected finding.

    Events: ``cursor_moved(CursorInfo | None)``, ``window_changed(Window | None)`` (None: no image),
    ``measurement_changed(Shape | None)`` (the selected shape, else the last drawn, or a change
    of it), ``shapes_edited()`` (a change to the shapes is complete: keep them now),
    ``hint_changed(str)`` (what to do next while a shape is drawn; '' when none is),
    ``spacing_changed(str)`` (what the shapes are measured with changed: ``spacing_note``),
    ``view_changed()``, ``step_requested(int)`` (the user asked for the next (+1) or previous (-1)
    image: the window decides what that is), ``stack_step_requested(int)`` (the next or previous
    frame or image of the stack on screen), ``tool_changed(Tool)`` (the left button's tool).
    """

    cursor_moved = Signal(object)
    window_changed = Signal(object)
    measurement_changed = Signal(object)
    shapes_edited = Signal()
    hint_changed = Signal(str)
    spacing_changed = Signal(str)
    view_changed = Signal()
    step_requested = Signal(int)
    stack_step_requested = Signal(int)  # the wheel (where it goes through images) or Up/Down: +1 / -1
    tool_changed = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("imageCanvas")
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(320, 320)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)

        self._radiograph: Radiograph | None = None
        self._renderer: GreyRenderer | None = None
        self._frames: list[GreyFrame] = []
        self._preview: list[GreyFrame] = []
        self._levels: WindowLevel | None = None  # window and inversion of the image shown last
        self.view = ViewTransform()

        self._heatmap: QImage | None = None
        self._heatmap_label: str | None = None
        self._heatmap_caption = ""
        self._heatmap_opacity = 0.5
        self._heatmap_visible = True
        self._colormap = "Jet"
        self._boxes: list[GroundTruthBox] = []
        self._highlight_label: str | None = None
        self._editor = ShapeEditor()  # the shapes of the image frame below
        self._annotated: Radiograph | None = None  # ... which this is: another one has none yet
        self._calibration: float | None = None  # mm per pixel the user calibrated the image with
        self._context: tuple[tuple[object, ...], MeasureContext] | None = None
        self._gesture = Gesture.NONE  # what the left press did to the shapes
        self._facts = ImageFacts()  # what the corners say about the image
        self._caption = ""  # its place in its series
        self._name: str | None = None  # its file name as shown
        self._identity: tuple[str, ...] = ()  # the patient's name, ID, birth date: drawn only when shown
        self._show_identity = False
        self._placeholder = "Open a folder or an image (File > Open Folder), or drop it here."

        self.bindings = MouseBindings()
        self.menu_actions: list[QAction | None] = []  # the right-click menu, set by the window
        self._drag_kind: Tool | None = None
        self._drag_start = QPointF()
        self._press: tuple[Qt.MouseButton, QPointF] = (Qt.MouseButton.NoButton, QPointF())
        self._undo: tuple[Window | None, float, tuple[float, float], bool] = (None, 1.0, (0.0, 0.0), True)
        self._wheel_rest = 0  # wheel turns too small to step an image yet
        self._drag_window: Window | None = None
        self._drag_image_start: QPointF | None = None

    # -- content ------------------------------------------------------------------------------
    @property
    def tool(self) -> Tool:
        """What a plain left-drag does."""
        return self.bindings.tool

    @tool.setter
    def tool(self, tool: Tool) -> None:
        self.bindings.tool = Tool(tool)
        if self._editor.cancel_draft():
            self._shapes_changed()
        self.tool_changed.emit(self.bindings.tool)

    @property
    def radiograph(self) -> Radiograph | None:
        return self._radiograph

    @property
    def renderer(self) -> GreyRenderer | None:
        return self._renderer

    @property
    def window(self) -> Window | None:  # type: ignore[override]
        return self._levels.window if self._levels is not None else None

    @property
    def integer_values(self) -> bool:
        """The image's values are whole numbers (window read-outs show whole units)."""
        return self._renderer is not None and self._renderer.integer_values

    @property
    def previewing(self) -> bool:
        """A window/level drag is under way: the small level is on screen."""
        return bool(self._preview)

    @property
    def inverted(self) -> bool:
        return self._levels is not None and self._levels.inverted

    @property
    def heatmap_label(self) -> str | None:
        return self._heatmap_label if self._heatmap is not None else None

    @property
    def heatmap_visible(self) -> bool:
        return self._heatmap_visible

    @property
    def heatmap_opacity(self) -> float:
        return self._heatmap_opacity

    @property
    def boxes(self) -> list[GroundTruthBox]:
        return list(self._boxes)

    @property
    def editor(self) -> ShapeEditor:
        """The shapes of the image on screen (a new, empty editor for an image given none)."""
        return self._own_editor()

    def _own_editor(self) -> ShapeEditor:
        if self._annotated is not self._radiograph:
            self._annotated, self._editor, self._calibration = self._radiograph, ShapeEditor(), None
            self._context = None
        return self._editor

    @property
    def _selected(self) -> int | None:
        return self._editor.selected if self._annotated is self._radiograph else None

    @_selected.setter
    def _selected(self, index: int | None) -> None:
        self._editor.select(index)

    @property
    def _drawing(self) -> bool:
        return self._editor.draft is not None

    @_drawing.setter
    def _drawing(self, drawing: None) -> None:  # set_image and clear: a new image, no draft
        self._editor.cancel_draft()

    @property
    def measurements(self) -> list[Shape]:
        """The measurements and annotations of the image on screen, in the order they were drawn."""
        if self._radiograph is None or self._annotated is not self._radiograph:
            return []
        return list(self._editor.shapes)

    @property
    def selected_measurement(self) -> int | None:
        return self._selected

    @property
    def measurement(self) -> Shape | None:
        """The selected shape, else the last one drawn (what the status bar shows)."""
        shapes = self.measurements
        if self._selected is not None and self._selected < len(shapes):
            return shapes[self._selected]
        return shapes[-1] if shapes else None

    def measurement_labels(self) -> list[str]:
        """What each shape of ``measurements`` measures, as its label on the image says it."""
        return self._editor.labels(self.measure_context()) if self.measurements else []

    def measurement_text(self) -> str:
        """The status bar's line for ``measurement``: 'Distance: 42.3 mm' ('' for none)."""
        shape = self.measurement
        if shape is None:
            return ""
        return status_text(shape, self.measurement_labels()[self.measurements.index(shape)])

    @property
    def spacing(self) -> MeasureSpacing | None:
        """The spacing the shapes are measured with: the user's calibration of the image, else
        its own (``radiograph_spacing``); None: in pixels."""
        return self.measure_context().spacing

    def spacing_note(self) -> str:
        """Where lengths come from: 'mm from PixelSpacing', 'mm, calibrated on a known length',
        'px: no pixel spacing ...' ('' without an image)."""
        return spacing_note(self.spacing) if self._radiograph is not None else ""

    def measure_context(self) -> MeasureContext:
        """What labels are measured with now (the spacing of an NIH PNG comes after the image:
        the context follows it)."""
        rg = self._radiograph
        if rg is None:
            return MeasureContext()
        calibration = self._calibration if self._annotated is rg else None
        key = (id(rg), rg.pixel_spacing, rg.spacing_source, calibration)
        if self._context is None or self._context[0] != key:
            spacing = calibrated(calibration) if calibration is not None else radiograph_spacing(rg)
            self._context = (key, MeasureContext(spacing, rg.pixels))
            self.spacing_changed.emit(spacing_note(spacing))
        return self._context[1]

    def set_annotations(self, history: EditHistory, calibration: float | None = None) -> None:
        """Show ``history``'s shapes on the image on screen, measured with ``calibration`` (mm
        per pixel the user calibrated it with; None: its own spacing)."""
        self._annotated, self._editor = self._radiograph, ShapeEditor(history)
        self._calibration = calibration
        self._context = None
        self._shapes_changed()

    def set_calibration(self, mm_per_pixel: float | None) -> None:
        """Measure the image on screen with ``mm_per_pixel`` (None: its own spacing again)."""
        self._own_editor()  # the image's, made now if it had none
        self._calibration = mm_per_pixel
        self._context = None
        self._shapes_changed()

    def set_image(self, radiograph: Radiograph, renderer: GreyRenderer, frames: list[GreyFrame] | None = None,
                  scanned: ScannedImage | None = None, caption: str | None = None,
                  name: str | None = None, *, keep_view: bool = False) -> None:
        """Show a new radiograph with its default window, fitted, without overlays; the corners
        describe it from its header, else from what the folder scan knows of it (``scanned``),
        ``caption`` says its place in its series and ``name`` is its file name as the screen may
        show it (without the folder's identities). ``keep_view``: another frame of the image on
        screen, shown with the same window, zoom, pan and orientation."""
        kept = (self._levels.window, self._levels.inverted) if keep_view and self._levels is not None else None
        self._radiograph = radiograph
        self._caption = caption or ""
        self._name = name
        self._facts = image_facts(radiograph.header, scanned)
        self._identity = identity_lines(radiograph.header, scanned)
        self._renderer = renderer
        self._levels = WindowLevel(renderer.default_window, renderer.value_min, renderer.value_max)
        self._heatmap = None
        self._heatmap_label = None
        self._boxes = []
        self._highlight_label = None
        self._selected = self._drawing = None
        self._preview = []
        if kept is not None:
            self._levels.window, self._levels.inverted = kept
            self._frames = renderer.render(self._levels.window, self._levels.inverted)
            self.update()
            self.view_changed.emit()
        else:
            self.view.reset_orientation()
            self._frames = frames if frames is not None else renderer.render(self._levels.window)
            self.fit()
        self.window_changed.emit(self._levels.window)
        self.measurement_changed.emit(self.measurement)

    def clear(self, message: str) -> None:
        """No image: show ``message`` in the middle of the canvas."""
        self._radiograph = None
        self._renderer = None
        self._facts, self._identity, self._caption, self._name = ImageFacts(), (), "", None
        self._frames = []
        self._preview = []
        self._heatmap = None
        self._heatmap_label = None
        self._boxes = []
        self._selected = self._drawing = None
        self._placeholder = message
        self.update()
        # no image, no read-outs: nothing of the image before may stay in the status bar
        self.window_changed.emit(None)
        self.measurement_changed.emit(None)
        self.cursor_moved.emit(None)

    def set_window(self, window: Window, *, preview: bool = False) -> None:
        """Apply a window; ``preview`` renders only the small level (during a drag)."""
        if self._renderer is None or self._levels is None:
            return
        self._levels.window = window
        if preview:
            self._preview = self._renderer.render(window, self._levels.inverted, preview=True)
        else:
            self._preview = []
            self._frames = self._renderer.render(window, self._levels.inverted)
        self.update()
        self.window_changed.emit(window)

    def set_invert(self, invert: bool) -> None:
        if self._renderer is None or self._levels is None or invert == self._levels.inverted:
            return
        self._levels.inverted = invert
        self.set_window(self._levels.window)

    def set_heatmap(self, image: QImage | None, label: str | None, colormap: str | None = None,
                    caption: str | None = None) -> None:
        """Overlay ``image`` (already coloured) as the heatmap of ``label``; None removes it.

        ``caption`` goes above the colour key (the finding and its probability, so a map that
        explains an unlikely finding is not read as a detection)."""
        self._heatmap = image
        self._heatmap_label = label if image is not None else None
        self._heatmap_caption = caption or (f"Grad-CAM: {label}" if label else "")
        self._highlight_label = label
        if colormap:
            self._colormap = colormap
        self.update()

    def set_heatmap_opacity(self, opacity: float) -> None:
        self._heatmap_opacity = min(1.0, max(0.0, opacity))
        self.update()

    def set_heatmap_visible(self, visible: bool) -> None:
        self._heatmap_visible = visible
        self.update()

    def set_boxes(self, boxes: Sequence[GroundTruthBox]) -> None:
        self._boxes = list(boxes)
        self.update()

    @property
    def identity_shown(self) -> bool:
        return self._show_identity

    def set_identity_shown(self, on: bool) -> None:
        """Draw the patient's name, ID and birth date in the corner (on screen only: never in
        an export, whatever this says)."""
        self._show_identity = on
        self.update()

    def annotations(self) -> Readout:
        """The corners' text and scale bar as they are on screen now."""
        return scene_readout(self._scene(), for_export=False)

    def corner_layout(self) -> CornerLayout:
        """Where the bottom-left read-out, the heatmap's key and the scale bar are drawn now."""
        scene = self._scene()
        caption = scene.heatmap_caption if scene.heatmap is not None and scene.heatmap_caption else None
        metrics = QFontMetrics(readout_font(scene.font))
        return corner_layout(metrics, QRectF(self.rect()), scene_readout(scene, for_export=False), caption)

    def select_measurement(self, index: int | None) -> None:
        """Select the shape at ``index`` of ``measurements`` (None: none)."""
        self._selected = index if self._radiograph is not None else None
        self.update()
        self.measurement_changed.emit(self.measurement)

    def delete_selected_measurement(self) -> None:
        """Remove the selected shape, if one is."""
        if self._radiograph is not None and self._selected is not None and self.editor.delete_selected():
            self._shapes_changed(edited=True)

    def clear_measurements(self) -> None:
        """Remove every shape of the image on screen (one step: undo brings them back)."""
        if self._radiograph is not None and self.editor.clear():
            self._shapes_changed(edited=True)
        self.select_measurement(None)

    def undo(self) -> bool:
        """Undo the last change to the shapes of the image on screen; False when there is none."""
        return self._radiograph is not None and self._edited(self.editor.undo())

    def redo(self) -> bool:
        """Redo the change last undone; False when there is none."""
        return self._radiograph is not None and self._edited(self.editor.redo())

    def _edited(self, changed: bool) -> bool:
        if changed:
            self._shapes_changed(edited=True)
        return changed

    def _shapes_changed(self, *, edited: bool = False) -> None:
        """Repaint the shapes and tell the window: the status line, the hint, and (``edited``)
        that a change is complete."""
        self.update()
        self.measurement_changed.emit(self.measurement)
        self.hint_changed.emit(self._editor.hint if self._annotated is self._radiograph else "")
        if edited:
            self.shapes_edited.emit()

    def measurement_at(self, pos: QPointF) -> int | None:
        """The shape under widget point ``pos`` (within a few screen pixels), or None."""
        if self._radiograph is None:
            return None
        p = self.widget_to_image(pos)
        return nearest_shape(self.measurements, (p.x(), p.y()), HIT_TOLERANCE_PX / self.view.zoom)

    def measurement_label_rects(self) -> list[QRectF]:
        """Where the shapes' labels are on screen (those in view), as they are painted."""
        return [r for r in ruler_label_rects(self._scene()) if r is not None]

    # -- view operations ----------------------------------------------------------------------
    def fit(self) -> None:
        """Whole image in view, centred; stays fitted when the widget is resized."""
        self._apply_fit()
        self.update()
        self.view_changed.emit()

    def actual_size(self) -> None:
        """One image pixel per screen pixel, around the current centre (an image smaller than
        the view in its middle)."""
        rg = self._radiograph
        self.view.actual_size((rg.width, rg.height) if rg is not None else None,
                              (float(self.width()), float(self.height())))
        self.update()
        self.view_changed.emit()

    def zoom_by(self, factor: float, anchor: QPointF | None = None) -> None:
        """Zoom by ``factor`` keeping the image point under ``anchor`` (widget coords) in place."""
        if self._radiograph is None:
            return
        anchor = anchor if anchor is not None else QPointF(self.width() / 2, self.height() / 2)
        self.view.zoom_about(factor, (anchor.x(), anchor.y()), self.width(), self.height())
        self.update()
        self.view_changed.emit()

    def rotate(self, clockwise: bool = True) -> None:
        self.view.rotate(clockwise)
        self._refit_if_fitted()

    def flip(self, horizontal: bool = True) -> None:
        self.view.flip(horizontal)
        self._refit_if_fitted()

    def reset_view(self) -> None:
        """Default window, no inversion, no rotation or flip, fitted."""
        self.view.reset_orientation()
        if self._renderer is not None and self._levels is not None:
            self._levels.reset()
            self.set_window(self._levels.window)
        self.fit()

    def image_to_widget(self, x: float, y: float) -> QPointF:
        """The widget point showing image point (x, y), exactly as it is painted."""
        return qtransform(self.view, self.width(), self.height()).map(QPointF(x, y))

    def widget_to_image(self, point: QPointF) -> QPointF:
        return QPointF(*self.view.to_image(point.x(), point.y(), self.width(), self.height()))

    def window_drag_step(self) -> float:
        """Modality units per screen pixel of a window/level drag (a 512 px drag spans the data)."""
        return self._levels.step if self._renderer is not None and self._levels is not None else 1.0

    def _refit_if_fitted(self) -> None:
        if self.view.fitted:
            self._apply_fit()
        self.update()
        self.view_changed.emit()

    def _apply_fit(self) -> None:
        if self._radiograph is None:
            self.view.fitted = True
            return
        self.view.fit(self._radiograph.width, self._radiograph.height, self.width(), self.height())

    def resizeEvent(self, event: QResizeEvent) -> None:
        if self.view.fitted:
            self._apply_fit()
        super().resizeEvent(event)

    # -- mouse --------------------------------------------------------------------------------
    def set_layout(self, name: str) -> None:
        """Use the mouse layout ``name`` (``mouse_bindings.LAYOUTS``); the left button gets its tool."""
        self.bindings.set_layout(name)
        self.tool_changed.emit(self.bindings.tool)

    def wheelEvent(self, event: QWheelEvent) -> None:
        delta = event.angleDelta().y()
        if delta and self._radiograph is not None:
            ctrl = bool(event.modifiers() & Qt.KeyboardModifier.ControlModifier)
            if self.bindings.wheel_for(ctrl=ctrl) is Wheel.ZOOM:
                self.zoom_by(wheel_factor(delta), event.position())
            else:
                steps, self._wheel_rest = wheel_steps(self._wheel_rest, delta)
                for _ in range(abs(steps)):
                    self.stack_step_requested.emit(1 if steps > 0 else -1)
        event.accept()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if self._radiograph is None:
            return
        button, mods, pos = event.button(), event.modifiers(), event.position()
        self._press = (button, pos)
        self._drag_start = pos
        self._gesture = Gesture.NONE
        ctrl = bool(mods & Qt.KeyboardModifier.ControlModifier)
        shift = bool(mods & Qt.KeyboardModifier.ShiftModifier)
        if button == Qt.MouseButton.LeftButton and not ctrl:
            # the shapes first: a draft's next point, a handle, a shape; then a drawing tool
            tool = self.bindings.drag_for("left", shift=shift)
            draw = SHAPE_TOOLS.get(tool) if tool is not None else None
            selected = self.editor.selected
            self._gesture = self.editor.press(self._image_point(pos), self._tolerance(), draw, pick=not mods)
            if self._editor.selected != selected:
                self._shapes_changed()
            if self._gesture is not Gesture.NONE:
                self._drag_kind = None
                self._shapes_changed()
                event.accept()
                return
        self._drag_kind = self.bindings.drag_for(BUTTON_NAMES.get(button, ""), ctrl=ctrl, shift=shift)
        self._undo = (self.window, self.view.zoom, self.view.center, self.view.fitted)
        if self._drag_kind is Tool.WINDOW:
            self._drag_window = self.window
        elif self._drag_kind is Tool.PAN:
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
        elif self._drag_kind is Tool.ZOOM:
            self.setCursor(Qt.CursorShape.SizeVerCursor)
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        pos = event.position()
        if self._drag_kind is Tool.PAN:
            delta = pos - self._drag_start
            self._drag_start = pos
            self.view.pan_screen(delta.x(), delta.y())
            self.update()
            self.view_changed.emit()  # linked viewports follow the drag
        elif self._drag_kind is Tool.WINDOW and self._drag_window is not None:
            self.set_window(self._dragged_window(pos), preview=True)
        elif self._drag_kind is Tool.ZOOM:
            target = self._undo[1] * zoom_drag_factor(pos.y() - self._press[1].y())
            self.view.zoom_about(target / self.view.zoom, (self._press[1].x(), self._press[1].y()),
                                 self.width(), self.height())
            self.update()
            self.view_changed.emit()
        elif self._radiograph is not None and self._annotated is self._radiograph:
            # a shape dragged, or the draft following the pointer (button down or not)
            if self._editor.move(self._image_point(pos), slop=CLICK_SLOP_PX / self.view.zoom):
                self.update()
                if self._gesture in (Gesture.MOVE, Gesture.HANDLE):
                    self.measurement_changed.emit(self.measurement)
        self._report_cursor(pos)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        pos = event.position()
        button, pressed_at = self._press
        moved = pos - pressed_at
        gesture, self._gesture = self._gesture, Gesture.NONE
        if self._radiograph is not None and button == Qt.MouseButton.RightButton and event.button() == button and (
                self._drag_kind is None or max(abs(moved.x()), abs(moved.y())) < CLICK_SLOP_PX):
            # a right click, not a drag: undo what the press began, and open the menu
            self._undo_gesture()
            self._drag_kind = None
            self.select_measurement(self.measurement_at(pos))
            self.show_menu(pos.toPoint())
        elif gesture is Gesture.TEXT and event.button() == Qt.MouseButton.LeftButton:
            self._place_text(self._image_point(pos))
        elif gesture is not Gesture.NONE and event.button() == Qt.MouseButton.LeftButton:
            self._shapes_changed(edited=self.editor.release(self._image_point(pos)))
        elif self._drag_kind is Tool.WINDOW and self._drag_window is not None:
            self.set_window(self._dragged_window(pos))  # full resolution again
        elif self._drag_kind in (Tool.PAN, Tool.ZOOM):
            self.view_changed.emit()
        self._drag_kind = None
        self.unsetCursor()
        event.accept()

    def _place_text(self, point: tuple[float, float]) -> None:
        """Ask for a text's words and put it at ``point`` (nothing when the user cancels)."""
        words, ok = QInputDialog.getText(self, "Text", "Words to write on the image:")
        if not ok or not words.strip():
            return
        try:
            self.editor.add_text(point, words)
        except ValueError as exc:
            self.hint_changed.emit(str(exc))
            return
        self._shapes_changed(edited=True)

    def event(self, event: QEvent) -> bool:
        """Esc stops drawing a shape (before ``keyPressEvent``, whose Esc drops the selection)."""
        if (event.type() == QEvent.Type.KeyPress and isinstance(event, QKeyEvent)
                and event.key() == Qt.Key.Key_Escape and self._annotated is self._radiograph
                and self._editor.cancel_draft()):
            self._shapes_changed()
            return True
        return super().event(event)

    def _image_point(self, pos: QPointF) -> tuple[float, float]:
        p = self.widget_to_image(pos)
        return p.x(), p.y()

    def _tolerance(self) -> float:
        """How near a click must be to a shape to pick it, in image units at this zoom."""
        return HIT_TOLERANCE_PX / self.view.zoom

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.fit()

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        """The menu key opens the menu in the middle (the mouse's right click is handled on
        release, to tell it from a right-drag)."""
        if event.reason() == QContextMenuEvent.Reason.Keyboard:
            self.show_menu(QPoint(self.width() // 2, self.height() // 2))
        event.accept()

    def show_menu(self, pos: QPoint) -> None:
        """The canvas's menu (``menu_actions``, None for a separator) at widget point ``pos``."""
        if not self.menu_actions:
            return
        menu = QMenu(self)
        for action in self.menu_actions:
            menu.addSeparator() if action is None else menu.addAction(action)
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        menu.popup(self.mapToGlobal(pos))

    def _undo_gesture(self) -> None:
        """Put the window and the view back as they were at the press."""
        window, zoom, center, fitted = self._undo
        if self._drag_kind is Tool.WINDOW and window is not None:
            self.set_window(window)
        elif self._drag_kind is Tool.ZOOM:
            self.view.zoom, self.view.center, self.view.fitted = zoom, center, fitted
            self.update()

    # -- keys -------------------------------------------------------------------------------------
    def keyPressEvent(self, event: QKeyEvent) -> None:
        """Left/Right step through the images, Up/Down through the stack on screen (the frames
        of a multi-frame file, the images of a series: the window decides, and steps images
        where there is no stack); Esc drops the ruler selection. The window's other keys are its
        actions."""
        key = event.key()
        if event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier:
            super().keyPressEvent(event)
        elif key == Qt.Key.Key_Right:
            self.step_requested.emit(1)
        elif key == Qt.Key.Key_Left:
            self.step_requested.emit(-1)
        elif key in (Qt.Key.Key_Down, Qt.Key.Key_Up):
            self.stack_step_requested.emit(1 if key == Qt.Key.Key_Down else -1)
        elif key == Qt.Key.Key_Escape and self._selected is not None:
            self.select_measurement(None)
        else:
            super().keyPressEvent(event)

    def leaveEvent(self, event: QEvent) -> None:
        self.cursor_moved.emit(None)
        super().leaveEvent(event)

    def _dragged_window(self, pos: QPointF) -> Window:
        assert self._drag_window is not None and self._levels is not None
        delta = pos - self._drag_start
        return self._levels.dragged(self._drag_window, delta.x(), delta.y())

    def _report_cursor(self, pos: QPointF) -> None:
        rg = self._radiograph
        if rg is None:
            return
        p = self.widget_to_image(pos)
        self.cursor_moved.emit(pixel_under((p.x(), p.y()), rg.pixels))

    # -- painting -----------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        try:
            self.paint_scene(painter, QRectF(self.rect()), for_export=False)
        finally:
            painter.end()

    def paint_scene(self, painter: QPainter, area: QRectF, *, for_export: bool) -> None:
        """Paint the whole view into ``area`` (the widget, or an export image of the same size).

        ``for_export`` leaves out the identity, the file name and the study date: an exported
        PNG carries no identifying text.
        """
        paint_scene(painter, area, self._scene(), for_export=for_export)

    def _scene(self) -> Scene:
        """Everything on screen now, for one paint."""
        frame = self._frame_for_zoom()
        heatmap = self._heatmap if self._heatmap_visible else None
        return self._with_shapes(Scene(
            radiograph=self._radiograph, frame=frame.image if frame is not None else None, view=self.view,
            viewport=(self.width(), self.height()), window=self.window, inverted=self.inverted,
            placeholder=self._placeholder, font=self.font(), heatmap=heatmap,
            heatmap_opacity=self._heatmap_opacity,
            heatmap_caption=self._heatmap_caption if self._heatmap_label else "",
            colormap=self._colormap, boxes=self._boxes, highlight_label=self._highlight_label,
            integer_values=self.integer_values if self._renderer is not None else None,
            facts=self._facts, identity=self._identity if self._show_identity else (),
            caption=self._caption, name=self._name,
        ))

    def _with_shapes(self, scene: Scene) -> Scene:
        """``scene`` with the shapes, their labels, the selection and the draft."""
        if self._radiograph is None or self._annotated is not self._radiograph:
            return scene
        draft = self._editor.draft_shape()
        context = self.measure_context()
        return replace(scene, shapes=self._editor.shapes, shape_labels=self._editor.labels(context),
                       selected_shape=self._editor.selected, draft=draft,
                       draft_label=draft.label(context) if draft is not None else "")

    def _frame_for_zoom(self) -> GreyFrame | None:
        if self._preview:
            return self._preview[0]
        if not self._frames:
            return None
        # The smallest level that still has at least one level pixel per screen pixel.
        chosen = self._frames[0]
        for frame in self._frames:
            if frame.scale >= self.view.zoom:
                chosen = frame
        return chosen


def as_uint8_view(image: QImage) -> np.ndarray:
    """A grab of the canvas as an [h, w, 3] uint8 array (tests and the screenshot check)."""
    converted = image.convertToFormat(QImage.Format.Format_RGB888)
    h, w = converted.height(), converted.width()
    buffer = np.frombuffer(converted.constBits(), np.uint8, count=converted.bytesPerLine() * h)
    return buffer.reshape(h, converted.bytesPerLine())[:, : w * 3].reshape(h, w, 3).copy()
