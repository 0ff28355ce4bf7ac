"""Painting the canvas: the image, its heatmap, ground-truth boxes, the measurements and
annotations (with their labels, the selected one's handles and the shape being drawn), the
corner read-outs and the scale bar.

``paint_scene`` draws one ``Scene`` (everything on screen, gathered by the canvas widget) into a
painter: the widget's, or an export image's of the same size. The view transform's numbers
(``viewer.viewmodel.view_transform``) become a ``QTransform`` here and nowhere else; the text
of the read-outs comes from ``viewer.viewmodel.readout``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetrics,
    QFontMetricsF,
    QImage,
    QLinearGradient,
    QPainter,
    QPen,
    QPolygonF,
    QTransform,
)

from viewer.core.boxes import GroundTruthBox
from viewer.core.radiograph import Radiograph, Window
from viewer.viewmodel.annotations import ImageFacts, ScaleBar
from viewer.viewmodel.measurement import label_origin
from viewer.viewmodel.readout import Readout, readout
from viewer.viewmodel.shape_hits import outline
from viewer.viewmodel.shapes import Angle, Arrow, CardiothoracicRatio, CobbAngle, Point, Shape, Text
from viewer.viewmodel.view_transform import ViewTransform

from .colormaps import colormap_table

TEXT_MARGIN = 8.0
SMOOTH_BELOW_ZOOM = 3.0  # above this zoom the pixels are drawn as squares, as they are
BOX_COLOUR = QColor(255, 210, 0)
HIGHLIGHTED_BOX_COLOUR = QColor(0, 255, 120)
RULER_COLOUR = QColor(80, 200, 255)
TEXT_COLOUR = QColor(235, 235, 235)
IDENTITY_COLOUR = QColor(255, 190, 60)
SELECTED_RULER_COLOUR = QColor(255, 230, 90)
ANNOTATION_COLOUR = QColor(120, 255, 150)  # arrows and texts: what is said, not measured
HANDLE_SIZE = 7.0
ARROW_HEAD = (14.0, math.radians(25))  # length (screen pixels) and half-angle of an arrow's head


def qtransform(view: ViewTransform, width: float, height: float) -> QTransform:
    """``view`` for a viewport of ``width`` x ``height`` as the painter's transform."""
    return QTransform(*view.matrix(width, height))


@dataclass(frozen=True)
class Scene:
    """What the canvas shows, for one paint. ``heatmap`` is None when no map is to be drawn."""

    radiograph: Radiograph | None
    frame: QImage | None  # the grey level of the image to draw (scaled to the image's size)
    view: ViewTransform
    viewport: tuple[float, float]  # width, height the view transform is for
    window: Window | None
    inverted: bool
    placeholder: str  # shown instead of an image
    font: QFont
    heatmap: QImage | None = None
    heatmap_opacity: float = 0.5
    heatmap_caption: str = ""
    colormap: str = "Jet"
    boxes: Sequence[GroundTruthBox] = ()
    highlight_label: str | None = None
    shapes: Sequence[Shape] = ()  # the measurements and annotations, in drawing order
    shape_labels: Sequence[str] = ()  # what each measures (the canvas keeps them per shape)
    selected_shape: int | None = None  # index into shapes: drawn with its handles
    draft: Shape | None = None  # the shape being drawn
    draft_label: str = ""
    integer_values: bool | None = None  # the image's values are whole numbers (None: by their type)
    facts: ImageFacts | None = None  # what the corners say about the image
    identity: tuple[str, ...] = field(default=(), repr=False)  # drawn on screen only, when shown
    caption: str = ""  # the image's place in its series
    name: str | None = None  # the file name as shown (identities removed); None: the path's


def paint_scene(painter: QPainter, area: QRectF, scene: Scene, *, for_export: bool) -> None:
    """Paint ``scene`` into ``area``; ``for_export`` leaves out the identity, the file name and
    the study date (an exported PNG carries no identifying text)."""
    painter.fillRect(area, QColor(0, 0, 0))
    rg = scene.radiograph
    if rg is None or scene.frame is None:
        painter.setPen(QColor(150, 150, 150))
        painter.drawText(area, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, scene.placeholder)
        return
    transform = qtransform(scene.view, *scene.viewport)
    image_rect = QRectF(0, 0, rg.width, rg.height)

    painter.save()
    painter.setTransform(transform)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, scene.view.zoom < SMOOTH_BELOW_ZOOM)
    painter.drawImage(image_rect, scene.frame)
    if scene.heatmap is not None:
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        painter.setOpacity(scene.heatmap_opacity)
        painter.drawImage(image_rect, scene.heatmap)
        painter.setOpacity(1.0)
    painter.restore()

    painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    _paint_boxes(painter, transform, scene)
    _paint_shapes(painter, transform, scene, for_export=for_export)
    painter.setFont(readout_font(scene.font))
    text = scene_readout(scene, for_export=for_export)
    layout = corner_layout(painter.fontMetrics(), area, text, _legend_caption(scene))
    _paint_readout(painter, area, text, layout)
    if layout.legend is not None:
        _paint_legend(painter, layout.legend, scene.colormap, scene.heatmap_caption)


@dataclass(frozen=True)
class CornerLayout:
    """Where the bottom-left read-out, the heatmap's colour key (with its caption) and the scale
    bar (with its length) go: apart, the key and then the bar moved up out of the way of what
    is below them when the view is too narrow for all three on one line."""

    bottom_left: QRectF | None
    legend: QRectF | None
    scale: QRectF | None


LEGEND_WIDTH = 150.0
_LEGEND_BAR = 10.0
_LEGEND_LOW_HIGH = "low                      high"


def readout_font(font: QFont) -> QFont:
    """The corners' font: the widget's, at least 8.5 points so it reads over an image."""
    readable = QFont(font)
    readable.setPointSizeF(max(8.5, readable.pointSizeF()))
    return readable


def corner_layout(metrics: QFontMetrics, area: QRectF, text: Readout, legend_caption: str | None) -> CornerLayout:
    """The places of the blocks along the bottom of ``area`` (see ``CornerLayout``)."""
    m, step = float(TEXT_MARGIN), float(metrics.height())
    bottom_left = None
    if text.bottom_left:
        width: float = max(metrics.horizontalAdvance(line) for line in text.bottom_left)
        height: float = step * len(text.bottom_left)
        bottom_left = QRectF(area.left() + m, area.bottom() - m - height, width, height)
    placed = [rect for rect in (bottom_left,) if rect is not None]
    legend = None
    if legend_caption is not None:
        width = max(LEGEND_WIDTH, *(metrics.horizontalAdvance(x) for x in (legend_caption, _LEGEND_LOW_HIGH)))
        height = _LEGEND_BAR + 4 + 2 * step
        legend = _above_any(QRectF(area.right() - 10 - width, area.bottom() - 10 - height, width, height), placed, m)
        placed.append(legend)
    scale = None
    if text.scale is not None:
        width = max(text.scale.length, metrics.horizontalAdvance(text.scale.label))
        height = 4 + 7 + step
        scale = _above_any(QRectF(area.center().x() - width / 2, area.bottom() - m - height, width, height), placed, m)
    return CornerLayout(bottom_left, legend, scale)


def _above_any(rect: QRectF, placed: list[QRectF], margin: float) -> QRectF:
    """``rect`` moved up until it overlaps none of ``placed`` (each move clears one of them)."""
    for _ in range(len(placed) + 1):
        hit = [other for other in placed if rect.intersects(other)]
        if not hit:
            break
        rect.moveBottom(min(other.top() for other in hit) - margin)
    return rect


def _legend_caption(scene: Scene) -> str | None:
    return scene.heatmap_caption if scene.heatmap is not None and scene.heatmap_caption else None


def _paint_boxes(painter: QPainter, transform: QTransform, scene: Scene) -> None:
    painter.setFont(ruler_font(scene.font))
    for box in scene.boxes:
        highlighted = scene.highlight_label is not None and box.shows(scene.highlight_label)
        colour = HIGHLIGHTED_BOX_COLOUR if highlighted else BOX_COLOUR
        polygon = transform.map(QRectF(box.x, box.y, box.w, box.h))
        pen = QPen(colour, 2.5 if highlighted else 1.5)
        if not highlighted:
            pen.setStyle(Qt.PenStyle.DashLine)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPolygon(polygon)
        bounds = polygon.boundingRect()
        _label_box(painter, QPointF(bounds.left(), bounds.top() - 4), f"GT: {box.caption}", colour)


def ruler_font(base: QFont) -> QFont:
    """The font of the shapes' and boxes' labels."""
    font = QFont(base)
    font.setPointSizeF(max(8.0, font.pointSizeF()))
    font.setBold(True)
    return font


def ruler_label_rects(scene: Scene) -> list[QRectF | None]:
    """Where each shape's label is drawn (None: the shape is out of view, or has no label),
    always inside the viewport: the painter and the canvas's hit tests use this one placement."""
    metrics = QFontMetricsF(ruler_font(scene.font))
    transform = qtransform(scene.view, *scene.viewport)
    return [_label_rect(metrics, transform, scene.viewport, shape, label)
            for shape, label in zip(scene.shapes, scene.shape_labels)]


def _label_rect(metrics: QFontMetricsF, transform: QTransform, viewport: tuple[float, float], shape: Shape,
                label: str) -> QRectF | None:
    if not label:
        return None
    a, b = (transform.map(QPointF(*p)) for p in label_anchor(shape))
    lines = label.splitlines()
    size = (max(metrics.horizontalAdvance(line) for line in lines) + 8, metrics.height() * len(lines))
    origin = label_origin((a.x(), a.y()), (b.x(), b.y()), size, viewport)
    return QRectF(origin[0], origin[1], *size) if origin is not None else None


def label_anchor(shape: Shape) -> tuple[Point, Point]:
    """The segment (image points) a shape's label goes beside: a line's own, an angle's vertex,
    between a Cobb angle's lines, a CTR's thoracic diameter, a region's right side."""
    p = shape.points
    if isinstance(shape, Angle):
        return p[1], p[1]
    if isinstance(shape, CobbAngle):
        return _middle(p[0], p[1]), _middle(p[2], p[3])
    if isinstance(shape, CardiothoracicRatio):
        return p[2], p[3]
    if isinstance(shape, Text):
        return p[0], p[0]
    if len(p) == 2 and shape.kind in ("ellipse", "rect"):
        right = max(p[0][0], p[1][0])
        return (right, min(p[0][1], p[1][1])), (right, max(p[0][1], p[1][1]))
    return p[0], p[1]


def _middle(a: Point, b: Point) -> Point:
    return (a[0] + b[0]) / 2, (a[1] + b[1]) / 2


def _paint_shapes(painter: QPainter, transform: QTransform, scene: Scene, *, for_export: bool) -> None:
    """Every shape with its label; the selected one's handles and the draft on screen only."""
    painter.setFont(ruler_font(scene.font))
    selected = None if for_export else scene.selected_shape
    for i, (shape, rect) in enumerate(zip(scene.shapes, ruler_label_rects(scene))):
        colour = _colour(shape, i == selected)
        _paint_outline(painter, transform, shape, colour)
        if rect is not None:
            _draw_label(painter, rect, scene.shape_labels[i], colour)
    if selected is not None and 0 <= selected < len(scene.shapes):
        painter.setPen(QPen(QColor(0, 0, 0), 1))
        painter.setBrush(SELECTED_RULER_COLOUR)
        for x, y in scene.shapes[selected].points:
            centre = transform.map(QPointF(x, y))
            painter.drawRect(QRectF(centre.x() - HANDLE_SIZE / 2, centre.y() - HANDLE_SIZE / 2,
                                    HANDLE_SIZE, HANDLE_SIZE))
        painter.setBrush(Qt.BrushStyle.NoBrush)
    if scene.draft is not None and not for_export:
        _paint_outline(painter, transform, scene.draft, SELECTED_RULER_COLOUR, dashed=True)
        metrics = QFontMetricsF(painter.font())
        rect = _label_rect(metrics, transform, scene.viewport, scene.draft, scene.draft_label)
        if rect is not None:
            _draw_label(painter, rect, scene.draft_label, SELECTED_RULER_COLOUR)


def _colour(shape: Shape, selected: bool) -> QColor:
    if selected:
        return SELECTED_RULER_COLOUR
    return ANNOTATION_COLOUR if isinstance(shape, (Arrow, Text)) else RULER_COLOUR


def _paint_outline(painter: QPainter, transform: QTransform, shape: Shape, colour: QColor,
                   dashed: bool = False) -> None:
    """The lines of ``shape`` over a dark halo (they read on bright and dark parts alike);
    a ruler's ends as dots, an arrow's head at its tip, a text's place as a dot."""
    lines = [[transform.map(QPointF(*p)) for p in line] for line in outline(shape)]
    if isinstance(shape, Arrow):
        lines += _arrow_head(lines[0][0], lines[0][1])
    pen = QPen(colour, 2)
    if dashed:
        pen.setStyle(Qt.PenStyle.DashLine)
    for stroke in (QPen(QColor(0, 0, 0, 160), 4), pen):
        painter.setPen(stroke)
        for line in lines:
            if len(line) > 1:
                painter.drawPolyline(QPolygonF(line))
    if shape.kind in ("distance", "text"):
        for p in (line[0] for line in lines) if shape.kind == "text" else lines[0]:
            painter.drawEllipse(p, 3.5, 3.5)


def _arrow_head(tip: QPointF, tail: QPointF) -> list[list[QPointF]]:
    """The two short strokes of an arrow's head at ``tip`` (screen points)."""
    length, half_angle = ARROW_HEAD
    direction = math.atan2(tail.y() - tip.y(), tail.x() - tip.x())
    return [[tip, tip + QPointF(length * math.cos(direction + s * half_angle),
                                length * math.sin(direction + s * half_angle))] for s in (-1, 1)]


def _paint_readout(painter: QPainter, area: QRectF, text: Readout, layout: CornerLayout) -> None:
    m = TEXT_MARGIN
    top_left = area.topLeft() + QPointF(m, m)
    if text.identity:  # in amber, so it is plain that identifying text is on screen
        _text_lines(painter, top_left, text.identity, Qt.AlignmentFlag.AlignLeft, colour=IDENTITY_COLOUR)
        top_left += QPointF(0, painter.fontMetrics().height() * (len(text.identity) + 0.5))
    _text_lines(painter, top_left, text.top_left, Qt.AlignmentFlag.AlignLeft)
    if layout.bottom_left is not None:
        _text_lines(painter, layout.bottom_left.bottomLeft(), text.bottom_left, Qt.AlignmentFlag.AlignLeft,
                    from_bottom=True)
    _text_lines(painter, area.topRight() + QPointF(-m, m), text.top_right, Qt.AlignmentFlag.AlignRight)
    if text.scale is not None and layout.scale is not None:
        _paint_scale_bar(painter, layout.scale, text.scale)


def scene_readout(scene: Scene, *, for_export: bool) -> Readout:
    """The corners' text and scale bar of ``scene`` (an export: without identity, file name or
    study date)."""
    assert scene.radiograph is not None
    return readout(scene.radiograph, scene.window, scene.inverted, scene.view, for_export=for_export,
                   integer=scene.integer_values, facts=scene.facts, identity=scene.identity,
                   viewport=scene.viewport, caption=scene.caption, name=scene.name)


def _paint_scale_bar(painter: QPainter, place: QRectF, bar: ScaleBar) -> None:
    """A horizontal bar with end ticks at the bottom of ``place``, its length above it."""
    y = place.bottom() - 4
    left = place.center().x() - bar.length / 2
    right = left + bar.length
    for colour, width in ((QColor(0, 0, 0, 200), 4.0), (QColor(235, 235, 235), 1.5)):
        painter.setPen(QPen(colour, width))
        painter.drawLine(QPointF(left, y), QPointF(right, y))
        for x in (left, right):
            painter.drawLine(QPointF(x, y - 5), QPointF(x, y))
    width = painter.fontMetrics().horizontalAdvance(bar.label)
    _text_lines(painter, QPointF(place.center().x() + width / 2, y - 7), [bar.label], Qt.AlignmentFlag.AlignRight,
                from_bottom=True)


def _paint_legend(painter: QPainter, place: QRectF, colormap: str, caption: str) -> None:
    """Colour key of the heatmap at the bottom right of ``place``: low to high Grad-CAM
    activation, with its caption above it."""
    bar = QRectF(place.right() - LEGEND_WIDTH, place.bottom() - _LEGEND_BAR, LEGEND_WIDTH, _LEGEND_BAR)
    table = colormap_table(colormap)
    gradient = QLinearGradient(bar.topLeft(), bar.topRight())
    for i in range(0, 256, 32):
        r, g, b, a = (int(v) for v in table[i])
        alpha = max(a, 1)  # the table is premultiplied: undo it, and keep the low end visible
        gradient.setColorAt(i / 255, QColor(min(255, r * 255 // alpha), min(255, g * 255 // alpha),
                                            min(255, b * 255 // alpha), max(a, 60)))
    r, g, b, a = (int(v) for v in table[255])
    gradient.setColorAt(1.0, QColor(r, g, b, a))
    painter.setPen(QPen(QColor(200, 200, 200), 1))
    painter.setBrush(gradient)
    painter.drawRect(bar)
    painter.setBrush(Qt.BrushStyle.NoBrush)
    _text_lines(painter, QPointF(bar.right(), bar.top() - 4), [caption, _LEGEND_LOW_HIGH],
                Qt.AlignmentFlag.AlignRight, from_bottom=True)


def _text_lines(painter: QPainter, anchor: QPointF, lines: Sequence[str], align: Qt.AlignmentFlag,
                from_bottom: bool = False, colour: QColor = TEXT_COLOUR) -> None:
    """Lines of text with a dark halo so they read on bright and dark parts of the image."""
    metrics = painter.fontMetrics()
    step = metrics.height()
    ordered = list(reversed(lines)) if from_bottom else list(lines)
    for i, line in enumerate(ordered):
        width = metrics.horizontalAdvance(line)
        x = anchor.x() - width if align == Qt.AlignmentFlag.AlignRight else anchor.x()
        y = anchor.y() - i * step - metrics.descent() if from_bottom else anchor.y() + i * step + metrics.ascent()
        painter.setPen(QColor(0, 0, 0, 220))
        for ox, oy in ((1, 1), (-1, -1), (1, -1), (-1, 1)):
            painter.drawText(QPointF(x + ox, y + oy), line)
        painter.setPen(colour)
        painter.drawText(QPointF(x, y), line)


def _label_box(painter: QPainter, bottom_left: QPointF, text: str, colour: QColor) -> None:
    metrics = painter.fontMetrics()
    rect = QRectF(bottom_left.x(), bottom_left.y() - metrics.height(), metrics.horizontalAdvance(text) + 8,
                  metrics.height())
    _draw_label(painter, rect, text, colour)


def _draw_label(painter: QPainter, rect: QRectF, text: str, colour: QColor) -> None:
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor(0, 0, 0, 170))
    painter.drawRoundedRect(rect, 3, 3)
    painter.setBrush(Qt.BrushStyle.NoBrush)
    painter.setPen(colour)
    painter.drawText(rect.adjusted(4, 0, 0, 0), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, text)
