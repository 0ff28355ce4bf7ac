"""The image canvas: one radiograph with its heatmap, boxes and ruler, and the viewing tools.

A plain ``QWidget`` that paints layers with one view transform (zoom, pan, rotation, flips):
the windowed grey image (levels made by ``GreyRenderer``), the heatmap QImage of the selected
finding, ground-truth boxes, the distance ruler and a small read-out of the view. It holds no
file, model or worker logic: the session hands it ready-made arrays and images.

Mouse: wheel zooms around the cursor; left-drag pans (measures with the ruler tool, or with
Shift); right-drag or Ctrl+left-drag changes window (horizontal = width) and level (vertical =
centre); double-click fits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QImage,
    QLinearGradient,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QResizeEvent,
    QTransform,
    QWheelEvent,
)
from PySide6.QtWidgets import QSizePolicy, QWidget

from viewer.core.labels import same_label
from viewer.core.radiograph import Radiograph, Window

from .colormaps import colormap_table
from .display import GreyFrame, GreyRenderer

MIN_ZOOM, MAX_ZOOM = 0.02, 40.0
WHEEL_STEP = 1.0015  # zoom factor per 1/8 degree of wheel rotation (about 1.2 per notch)
TOOL_PAN, TOOL_RULER = "pan", "ruler"

_IDENTITY = (1, 0, 0, 1)
_ROTATE_CW = (0, -1, 1, 0)  # screen y points down: right -> down, down -> left
_ROTATE_CCW = (0, 1, -1, 0)
_FLIP_H = (-1, 0, 0, 1)
_FLIP_V = (1, 0, 0, -1)


def _matmul(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """2x2 integer matrices as (a, b, c, d) = [[a, b], [c, d]]."""
    return (a[0] * b[0] + a[1] * b[2], a[0] * b[1] + a[1] * b[3],
            a[2] * b[0] + a[3] * b[2], a[2] * b[1] + a[3] * b[3])


class BoxLike(Protocol):
    """What the canvas needs of a ground-truth box (``viewer.core.boxes`` provides it)."""

    label: str
    x: float
    y: float
    w: float
    h: float


@dataclass(frozen=True)
class CursorInfo:
    """The image pixel under the cursor: position and value in modality units."""

    x: int
    y: int
    value: float


@dataclass(frozen=True)
class Measurement:
    """A ruler between two image points; ``mm`` is None when the pixel spacing is unknown."""

    start: tuple[float, float]
    end: tuple[float, float]
    pixels: float
    mm: float | None

    @property
    def text(self) -> str:
        if self.mm is not None:
            return f"{self.mm:.1f} mm"
        return f"{self.pixels:.1f} px (no pixel spacing: length in pixels)"


class ViewTransform:
    """Zoom, pan and orientation: maps image coordinates to widget coordinates and back."""

    def __init__(self) -> None:
        self.zoom = 1.0
        self.center = QPointF(0.0, 0.0)  # image point shown at the widget centre
        self.orientation = _IDENTITY

    def reset_orientation(self) -> None:
        self.orientation = _IDENTITY

    def apply(self, op: tuple[int, int, int, int]) -> None:
        """Apply a screen-space rotation or flip after the current orientation."""
        self.orientation = _matmul(op, self.orientation)

    @property
    def rotation_degrees(self) -> int:
        """Clockwise rotation on screen (after any flip), 0/90/180/270."""
        a, _b, c, _d = self.orientation
        return round(math.degrees(math.atan2(c, a))) % 360

    @property
    def flipped(self) -> bool:
        a, b, c, d = self.orientation
        return a * d - b * c < 0

    def qtransform(self, widget_size: QSize) -> QTransform:
        a, b, c, d = self.orientation
        z = self.zoom
        cx, cy = self.center.x(), self.center.y()
        dx = widget_size.width() / 2 - z * (a * cx + b * cy)
        dy = widget_size.height() / 2 - z * (c * cx + d * cy)
        return QTransform(a * z, c * z, b * z, d * z, dx, dy)

    def to_image(self, point: QPointF, widget_size: QSize) -> QPointF:
        a, b, c, d = self.orientation
        sx = (point.x() - widget_size.width() / 2) / self.zoom
        sy = (point.y() - widget_size.height() / 2) / self.zoom
        # The orientation matrix is orthogonal: its inverse is its transpose.
        return QPointF(self.center.x() + a * sx + c * sy, self.center.y() + b * sx + d * sy)

    def pan_screen(self, dx: float, dy: float) -> None:
        """Move the image by (dx, dy) widget pixels."""
        a, b, c, d = self.orientation
        sx, sy = dx / self.zoom, dy / self.zoom
        self.center = QPointF(self.center.x() - (a * sx + c * sy), self.center.y() - (b * sx + d * sy))

    def extent(self, width: int, height: int) -> tuple[float, float]:
        """Size of the image on screen at zoom 1 in the current orientation."""
        return (float(height), float(width)) if self.orientation[0] == 0 else (float(width), float(height))


class ImageCanvas(QWidget):
    """Shows one radiograph and the overlays of its selected finding.

    Events: ``cursor_moved(CursorInfo | None)``, ``window_changed(Window)``,
    ``measurement_changed(Measurement | None)``, ``view_changed()``.
    """

    cursor_moved = Signal(object)
    window_changed = Signal(object)
    measurement_changed = Signal(object)
    view_changed = Signal()

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
        self._window: Window | None = None
        self._invert = False
        self.view = ViewTransform()
        self._fit_mode = True

        self._heatmap: QImage | None = None
        self._heatmap_label: str | None = None
        self._heatmap_caption = ""
        self._heatmap_opacity = 0.5
        self._heatmap_visible = True
        self._colormap = "Jet"
        self._boxes: list[BoxLike] = []
        self._highlight_label: str | None = None
        self._measurement: Measurement | None = None
        self._placeholder = "Open a folder or an image (File > Open Folder), or drop it here."

        self.tool = TOOL_PAN
        self._drag_kind: str | None = None
        self._drag_start = QPointF()
        self._drag_window: Window | None = None
        self._drag_image_start: QPointF | None = None

    # -- content ------------------------------------------------------------------------------
    @property
    def radiograph(self) -> Radiograph | None:
        return self._radiograph

    @property
    def renderer(self) -> GreyRenderer | None:
        return self._renderer

    @property
    def window(self) -> Window | None:  # type: ignore[override]
        return self._window

    @property
    def inverted(self) -> bool:
        return self._invert

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
    def boxes(self) -> list[BoxLike]:
        return list(self._boxes)

    @property
    def measurement(self) -> Measurement | None:
        return self._measurement

    def set_image(self, radiograph: Radiograph, renderer: GreyRenderer, frames: list[GreyFrame] | None = None) -> None:
        """Show a new radiograph with its default window, fitted, without overlays."""
        self._radiograph = radiograph
        self._renderer = renderer
        self._window = renderer.default_window
        self._invert = False
        self._heatmap = None
        self._heatmap_label = None
        self._boxes = []
        self._highlight_label = None
        self._measurement = None
        self.view.reset_orientation()
        self._frames = frames if frames is not None else renderer.render(self._window)
        self._preview = []
        self.fit()
        self.window_changed.emit(self._window)
        self.measurement_changed.emit(None)

    def clear(self, message: str) -> None:
        """No image: show ``message`` in the middle of the canvas."""
        self._radiograph = None
        self._renderer = None
        self._frames = []
        self._preview = []
        self._heatmap = None
        self._heatmap_label = None
        self._boxes = []
        self._measurement = None
        self._placeholder = message
        self.update()

    def set_window(self, window: Window, *, preview: bool = False) -> None:
        """Apply a window; ``preview`` renders only the small level (during a drag)."""
        if self._renderer is None:
            return
        self._window = window
        if preview:
            self._preview = self._renderer.render(window, self._invert, preview=True)
        else:
            self._preview = []
            self._frames = self._renderer.render(window, self._invert)
        self.update()
        self.window_changed.emit(window)

    def set_invert(self, invert: bool) -> None:
        if self._renderer is None or invert == self._invert:
            return
        self._invert = invert
        self.set_window(self._window or self._renderer.default_window)

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

    def set_boxes(self, boxes: list[BoxLike]) -> None:
        self._boxes = list(boxes)
        self.update()

    def clear_measurement(self) -> None:
        self._measurement = None
        self.update()
        self.measurement_changed.emit(None)

    # -- view operations ----------------------------------------------------------------------
    def fit(self) -> None:
        """Whole image in view, centred; stays fitted when the widget is resized."""
        self._fit_mode = True
        self._apply_fit()
        self.update()
        self.view_changed.emit()

    def actual_size(self) -> None:
        """One image pixel per screen pixel, around the current centre."""
        self._fit_mode = False
        self.view.zoom = 1.0
        self.update()
        self.view_changed.emit()

    def zoom_by(self, factor: float, anchor: QPointF | None = None) -> None:
        """Zoom by ``factor`` keeping the image point under ``anchor`` (widget coords) in place."""
        if self._radiograph is None:
            return
        anchor = anchor if anchor is not None else QPointF(self.width() / 2, self.height() / 2)
        before = self.view.to_image(anchor, self.size())
        self.view.zoom = min(MAX_ZOOM, max(MIN_ZOOM, self.view.zoom * factor))
        after = self.view.qtransform(self.size()).map(before)
        self.view.pan_screen(anchor.x() - after.x(), anchor.y() - after.y())
        self._fit_mode = False
        self.update()
        self.view_changed.emit()

    def rotate(self, clockwise: bool = True) -> None:
        self.view.apply(_ROTATE_CW if clockwise else _ROTATE_CCW)
        self._refit_if_fitted()

    def flip(self, horizontal: bool = True) -> None:
        self.view.apply(_FLIP_H if horizontal else _FLIP_V)
        self._refit_if_fitted()

    def reset_view(self) -> None:
        """Default window, no inversion, no rotation or flip, fitted."""
        self.view.reset_orientation()
        self._invert = False
        if self._renderer is not None:
            self.set_window(self._renderer.default_window)
        self.fit()

    def image_to_widget(self, x: float, y: float) -> QPointF:
        return self.view.qtransform(self.size()).map(QPointF(x, y))

    def widget_to_image(self, point: QPointF) -> QPointF:
        return self.view.to_image(point, self.size())

    def _refit_if_fitted(self) -> None:
        if self._fit_mode:
            self._apply_fit()
        self.update()
        self.view_changed.emit()

    def _apply_fit(self) -> None:
        if self._radiograph is None:
            return
        ew, eh = self.view.extent(self._radiograph.width, self._radiograph.height)
        margin = 8
        self.view.zoom = max(MIN_ZOOM, min((self.width() - margin) / ew, (self.height() - margin) / eh))
        self.view.center = QPointF(self._radiograph.width / 2, self._radiograph.height / 2)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt API)
        if self._fit_mode:
            self._apply_fit()
        super().resizeEvent(event)

    # -- mouse --------------------------------------------------------------------------------
    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802
        delta = event.angleDelta().y()
        if delta and self._radiograph is not None:
            self.zoom_by(WHEEL_STEP ** delta, event.position())
        event.accept()

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._radiograph is None:
            return
        button, mods = event.button(), event.modifiers()
        self._drag_start = event.position()
        if button == Qt.MouseButton.RightButton or (
            button == Qt.MouseButton.LeftButton and mods & Qt.KeyboardModifier.ControlModifier
        ):
            self._drag_kind = "window"
            self._drag_window = self._window
        elif button == Qt.MouseButton.LeftButton and (
            self.tool == TOOL_RULER or mods & Qt.KeyboardModifier.ShiftModifier
        ):
            self._drag_kind = "ruler"
            self._drag_image_start = self.widget_to_image(event.position())
        elif button in (Qt.MouseButton.LeftButton, Qt.MouseButton.MiddleButton):
            self._drag_kind = "pan"
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        pos = event.position()
        if self._drag_kind == "pan":
            delta = pos - self._drag_start
            self._drag_start = pos
            self.view.pan_screen(delta.x(), delta.y())
            self._fit_mode = False
            self.update()
        elif self._drag_kind == "window" and self._drag_window is not None:
            self.set_window(self._dragged_window(pos), preview=True)
        elif self._drag_kind == "ruler" and self._drag_image_start is not None:
            self._set_measurement(self._drag_image_start, self.widget_to_image(pos))
        self._report_cursor(pos)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._drag_kind == "window" and self._drag_window is not None:
            self.set_window(self._dragged_window(event.position()))  # full resolution again
        elif self._drag_kind == "pan":
            self.view_changed.emit()
        self._drag_kind = None
        self.unsetCursor()
        event.accept()

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.LeftButton:
            self.fit()

    def leaveEvent(self, event) -> None:  # noqa: N802, ANN001
        self.cursor_moved.emit(None)
        super().leaveEvent(event)

    def window_drag_step(self) -> float:
        """Modality units per screen pixel of a window/level drag (a 512 px drag spans the data)."""
        if self._renderer is None:
            return 1.0
        return max(self._renderer.value_max - self._renderer.value_min, 1e-6) / 512.0

    def _dragged_window(self, pos: QPointF) -> Window:
        start = self._drag_window
        assert start is not None
        step = self.window_drag_step()
        delta = pos - self._drag_start
        width = max(start.width + delta.x() * step, step)
        center = start.center + delta.y() * step
        # LINEAR_EXACT accepts any width > 0 (float images may span less than 1 unit).
        return Window(center=center, width=width, name="Manual", function="LINEAR_EXACT")

    def _set_measurement(self, start: QPointF, end: QPointF) -> None:
        rg = self._radiograph
        if rg is None:
            return
        dx, dy = end.x() - start.x(), end.y() - start.y()
        pixels = math.hypot(dx, dy)
        mm = None
        if rg.pixel_spacing is not None and rg.pixel_spacing[0] > 0 and rg.pixel_spacing[1] > 0:
            row, col = rg.pixel_spacing
            mm = math.hypot(dx * col, dy * row)
        self._measurement = Measurement((start.x(), start.y()), (end.x(), end.y()), pixels, mm)
        self.update()
        self.measurement_changed.emit(self._measurement)

    def _report_cursor(self, pos: QPointF) -> None:
        rg = self._radiograph
        if rg is None:
            return
        p = self.widget_to_image(pos)
        x, y = math.floor(p.x()), math.floor(p.y())
        if 0 <= x < rg.width and 0 <= y < rg.height:
            self.cursor_moved.emit(CursorInfo(x, y, float(rg.pixels[y, x])))
        else:
            self.cursor_moved.emit(None)

    # -- painting -----------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        painter = QPainter(self)
        try:
            self.paint_scene(painter, QRectF(self.rect()), for_export=False)
        finally:
            painter.end()

    def paint_scene(self, painter: QPainter, area: QRectF, *, for_export: bool) -> None:
        """Paint the whole view into ``area`` (the widget, or an export image of the same size).

        ``for_export`` leaves out the file name: an exported PNG carries no identifying text.
        """
        painter.fillRect(area, QColor(0, 0, 0))
        rg = self._radiograph
        if rg is None or not self._frames:
            painter.setPen(QColor(150, 150, 150))
            painter.drawText(area, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self._placeholder)
            return
        transform = self.view.qtransform(self.size())
        image_rect = QRectF(0, 0, rg.width, rg.height)

        painter.save()
        painter.setTransform(transform)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, self.view.zoom < 3.0)
        frame = self._frame_for_zoom()
        painter.drawImage(image_rect, frame.image)
        if self._heatmap is not None and self._heatmap_visible:
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
            painter.setOpacity(self._heatmap_opacity)
            painter.drawImage(image_rect, self._heatmap)
            painter.setOpacity(1.0)
        painter.restore()

        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        self._paint_boxes(painter, transform)
        self._paint_measurement(painter, transform)
        self._paint_readout(painter, area, for_export)

    def _frame_for_zoom(self) -> GreyFrame:
        if self._preview:
            return self._preview[0]
        # The smallest level that still has at least one level pixel per screen pixel.
        chosen = self._frames[0]
        for frame in self._frames:
            if frame.scale >= self.view.zoom:
                chosen = frame
        return chosen

    def _paint_boxes(self, painter: QPainter, transform: QTransform) -> None:
        font = QFont(self.font())
        font.setPointSizeF(max(8.0, font.pointSizeF()))
        font.setBold(True)
        painter.setFont(font)
        for box in self._boxes:
            highlighted = self._highlight_label is not None and same_label(box.label, self._highlight_label)
            colour = QColor(0, 255, 120) if highlighted else QColor(255, 210, 0)
            polygon = transform.map(QRectF(box.x, box.y, box.w, box.h))
            pen = QPen(colour, 2.5 if highlighted else 1.5)
            if not highlighted:
                pen.setStyle(Qt.PenStyle.DashLine)
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawPolygon(polygon)
            bounds = polygon.boundingRect()
            _label_box(painter, QPointF(bounds.left(), bounds.top() - 4), f"GT: {box.label}", colour)

    def _paint_measurement(self, painter: QPainter, transform: QTransform) -> None:
        m = self._measurement
        if m is None:
            return
        a = transform.map(QPointF(*m.start))
        b = transform.map(QPointF(*m.end))
        painter.setPen(QPen(QColor(0, 0, 0, 160), 4))
        painter.drawLine(a, b)
        painter.setPen(QPen(QColor(80, 200, 255), 2))
        painter.drawLine(a, b)
        for p in (a, b):
            painter.drawEllipse(p, 3.5, 3.5)
        _label_box(painter, (a + b) / 2 + QPointF(8, -8), m.text, QColor(80, 200, 255))

    def _paint_readout(self, painter: QPainter, area: QRectF, for_export: bool) -> None:
        rg = self._radiograph
        assert rg is not None
        font = QFont(self.font())
        font.setPointSizeF(max(8.5, font.pointSizeF()))
        painter.setFont(font)
        margin = 8
        top_left = []
        if not for_export:
            top_left.append(rg.path.name)
        top_left.append(f"{rg.width} x {rg.height} px  {rg.source_format.upper()}  {rg.photometric}")
        if rg.pixel_spacing is not None:
            top_left.append(f"spacing {rg.pixel_spacing[0]:.3f} x {rg.pixel_spacing[1]:.3f} mm")
        else:
            top_left.append("pixel spacing unknown: distances in pixels")
        _text_lines(painter, area.topLeft() + QPointF(margin, margin), top_left, Qt.AlignmentFlag.AlignLeft)

        w = self._window
        if w is not None:
            name = f" ({w.name})" if w.name else ""
            lines = [f"W {_fmt(w.width)}  L {_fmt(w.center)}{name}"]
            if self._invert:
                lines.append("inverted")
            _text_lines(painter, area.bottomLeft() + QPointF(margin, -margin), lines,
                        Qt.AlignmentFlag.AlignLeft, from_bottom=True)

        view_lines = [f"zoom {self.view.zoom * 100:.0f}%"]
        orientation = []
        if self.view.rotation_degrees:
            orientation.append(f"rotated {self.view.rotation_degrees}\N{DEGREE SIGN}")
        if self.view.flipped:
            orientation.append("flipped")
        if orientation:
            view_lines.append(", ".join(orientation))
        _text_lines(painter, area.topRight() + QPointF(-margin, margin), view_lines, Qt.AlignmentFlag.AlignRight)

        if self._heatmap is not None and self._heatmap_visible and self._heatmap_label:
            self._paint_legend(painter, area)

    def _paint_legend(self, painter: QPainter, area: QRectF) -> None:
        """Colour key of the heatmap: low to high Grad-CAM activation, with its label."""
        width, height, margin = 150.0, 10.0, 10.0
        bar = QRectF(area.right() - width - margin, area.bottom() - margin - height, width, height)
        table = colormap_table(self._colormap)
        gradient = QLinearGradient(bar.topLeft(), bar.topRight())
        for i in range(0, 256, 32):
            r, g, b, a = (int(v) for v in table[i])
            alpha = max(a, 1)
            gradient.setColorAt(i / 255, QColor(min(255, r * 255 // alpha), min(255, g * 255 // alpha),
                                                min(255, b * 255 // alpha), max(a, 60)))
        r, g, b, a = (int(v) for v in table[255])
        gradient.setColorAt(1.0, QColor(r, g, b, a))
        painter.setPen(QPen(QColor(200, 200, 200), 1))
        painter.setBrush(gradient)
        painter.drawRect(bar)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        _text_lines(painter, QPointF(bar.right(), bar.top() - 4),
                    [self._heatmap_caption, "low                      high"],
                    Qt.AlignmentFlag.AlignRight, from_bottom=True)


def _fmt(value: float) -> str:
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"


def _text_lines(
    painter: QPainter, anchor: QPointF, lines: list[str], align: Qt.AlignmentFlag, from_bottom: bool = False
) -> None:
    """Lines of text with a dark halo so they read on bright and dark parts of the image."""
    metrics = painter.fontMetrics()
    step = metrics.height()
    ordered = list(reversed(lines)) if from_bottom else lines
    for i, line in enumerate(ordered):
        width = metrics.horizontalAdvance(line)
        x = anchor.x() - width if align == Qt.AlignmentFlag.AlignRight else anchor.x()
        y = anchor.y() - i * step - metrics.descent() if from_bottom else anchor.y() + i * step + metrics.ascent()
        painter.setPen(QColor(0, 0, 0, 220))
        for ox, oy in ((1, 1), (-1, -1), (1, -1), (-1, 1)):
            painter.drawText(QPointF(x + ox, y + oy), line)
        painter.setPen(QColor(235, 235, 235))
        painter.drawText(QPointF(x, y), line)


def _label_box(painter: QPainter, bottom_left: QPointF, text: str, colour: QColor) -> None:
    metrics = painter.fontMetrics()
    rect = QRectF(bottom_left.x(), bottom_left.y() - metrics.height(), metrics.horizontalAdvance(text) + 8,
                  metrics.height())
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor(0, 0, 0, 170))
    painter.drawRoundedRect(rect, 3, 3)
    painter.setBrush(Qt.BrushStyle.NoBrush)
    painter.setPen(colour)
    painter.drawText(rect.adjusted(4, 0, 0, 0), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, text)


def as_uint8_view(image: QImage) -> np.ndarray:
    """A grab of the canvas as an [h, w, 3] uint8 array (tests and the screenshot check)."""
    converted = image.convertToFormat(QImage.Format.Format_RGB888)
    h, w = converted.height(), converted.width()
    buffer = np.frombuffer(converted.constBits(), np.uint8, count=converted.bytesPerLine() * h)
    return buffer.reshape(h, converted.bytesPerLine())[:, : w * 3].reshape(h, w, 3).copy()
