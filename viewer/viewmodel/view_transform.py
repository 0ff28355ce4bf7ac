"""The view of an image in a viewport: zoom, pan, rotation and flips, as plain numbers.

Image coordinates are pixels of the radiograph (x right, y down); widget coordinates are the
viewport's, with its centre showing the image point ``center``. The orientation is a 2x2
integer matrix applied on screen after the image (rotations by 90 degrees and flips compose
exactly). The Qt canvas turns ``matrix`` into its ``QTransform``; everything else is here.
"""

from __future__ import annotations

import math

Point = tuple[float, float]
Orientation = tuple[int, int, int, int]  # (a, b, c, d) = [[a, b], [c, d]]

MIN_ZOOM, MAX_ZOOM = 0.02, 40.0
WHEEL_STEP = 1.0015  # zoom factor per 1/8 degree of wheel rotation (about 1.2 per notch)
FIT_MARGIN = 8.0  # widget pixels left around a fitted image

IDENTITY: Orientation = (1, 0, 0, 1)
ROTATE_CW: Orientation = (0, -1, 1, 0)  # screen y points down: right -> down, down -> left
ROTATE_CCW: Orientation = (0, 1, -1, 0)
FLIP_H: Orientation = (-1, 0, 0, 1)
FLIP_V: Orientation = (1, 0, 0, -1)


def compose(a: Orientation, b: Orientation) -> Orientation:
    """The 2x2 product a @ b (b first, then a)."""
    return (a[0] * b[0] + a[1] * b[2], a[0] * b[1] + a[1] * b[3],
            a[2] * b[0] + a[3] * b[2], a[2] * b[1] + a[3] * b[3])


def wheel_factor(angle_delta: float) -> float:
    """The zoom factor of a wheel turn of ``angle_delta`` eighths of a degree."""
    return float(WHEEL_STEP ** angle_delta)


class ViewTransform:
    """Zoom, pan and orientation: maps image coordinates to widget coordinates and back.

    ``fitted``: the whole image is kept in view (refitted on a resize, rotation or flip) until
    the user zooms or pans. The viewport size is given to each call, so two viewports of
    different sizes can share one transform.
    """

    def __init__(self) -> None:
        self.zoom = 1.0
        self.center: Point = (0.0, 0.0)  # image point shown at the widget centre
        self.orientation: Orientation = IDENTITY
        self.fitted = True

    # -- orientation --------------------------------------------------------------------------
    def reset_orientation(self) -> None:
        self.orientation = IDENTITY

    def apply(self, op: Orientation) -> None:
        """Apply a screen-space rotation or flip after the current orientation."""
        self.orientation = compose(op, self.orientation)

    def rotate(self, clockwise: bool = True) -> None:
        self.apply(ROTATE_CW if clockwise else ROTATE_CCW)

    def flip(self, horizontal: bool = True) -> None:
        self.apply(FLIP_H if horizontal else FLIP_V)

    @property
    def rotation_degrees(self) -> int:
        """Clockwise rotation on screen (after any flip), 0/90/180/270."""
        a, _b, c, _d = self.orientation
        return round(math.degrees(math.atan2(c, a))) % 360

    @property
    def flipped(self) -> bool:
        a, b, c, d = self.orientation
        return a * d - b * c < 0

    # -- mapping ------------------------------------------------------------------------------
    def matrix(self, width: float, height: float) -> tuple[float, float, float, float, float, float]:
        """(m11, m12, m21, m22, dx, dy) in ``QTransform``'s order: x' = m11 x + m21 y + dx,
        y' = m12 x + m22 y + dy, for a viewport of ``width`` x ``height``."""
        a, b, c, d = self.orientation
        z = self.zoom
        cx, cy = self.center
        dx = width / 2 - z * (a * cx + b * cy)
        dy = height / 2 - z * (c * cx + d * cy)
        return (a * z, c * z, b * z, d * z, dx, dy)

    def to_widget(self, x: float, y: float, width: float, height: float) -> Point:
        """The widget point showing image point (x, y)."""
        m11, m12, m21, m22, dx, dy = self.matrix(width, height)
        return (m11 * x + m21 * y + dx, m12 * x + m22 * y + dy)

    def to_image(self, x: float, y: float, width: float, height: float) -> Point:
        """The image point shown at widget point (x, y)."""
        a, b, c, d = self.orientation
        sx = (x - width / 2) / self.zoom
        sy = (y - height / 2) / self.zoom
        # The orientation matrix is orthogonal: its inverse is its transpose.
        cx, cy = self.center
        return (cx + a * sx + c * sy, cy + b * sx + d * sy)

    def extent(self, image_width: int, image_height: int) -> Point:
        """Size of the image on screen at zoom 1 in the current orientation."""
        if self.orientation[0] == 0:
            return (float(image_height), float(image_width))
        return (float(image_width), float(image_height))

    # -- moving -------------------------------------------------------------------------------
    def pan_screen(self, dx: float, dy: float) -> None:
        """Move the image by (dx, dy) widget pixels; the view is no longer fitted."""
        a, b, c, d = self.orientation
        sx, sy = dx / self.zoom, dy / self.zoom
        cx, cy = self.center
        self.center = (cx - (a * sx + c * sy), cy - (b * sx + d * sy))
        self.fitted = False

    def zoom_about(self, factor: float, anchor: Point, width: float, height: float) -> None:
        """Zoom by ``factor`` (within MIN_ZOOM..MAX_ZOOM), keeping the image point under
        ``anchor`` (widget coordinates) where it is."""
        before = self.to_image(anchor[0], anchor[1], width, height)
        self.zoom = min(MAX_ZOOM, max(MIN_ZOOM, self.zoom * factor))
        after = self.to_widget(before[0], before[1], width, height)
        self.pan_screen(anchor[0] - after[0], anchor[1] - after[1])

    def actual_size(self, image: tuple[int, int] | None = None, viewport: Point | None = None) -> None:
        """One image pixel per screen pixel, around the current centre. Given the image's
        (width, height) and the viewport's, an image narrower (or shorter) than the viewport is
        put in its middle across (or down): there is nothing to look at off to one side."""
        self.zoom = 1.0
        self.fitted = False
        if image is None or viewport is None:
            return
        ew, eh = self.extent(*image)
        x, y = self.to_widget(image[0] / 2, image[1] / 2, *viewport)
        self.pan_screen(viewport[0] / 2 - x if ew <= viewport[0] else 0.0,
                        viewport[1] / 2 - y if eh <= viewport[1] else 0.0)

    def fit(self, image_width: int, image_height: int, width: float, height: float) -> None:
        """The whole image in a viewport of ``width`` x ``height``, centred; stays fitted."""
        ew, eh = self.extent(image_width, image_height)
        self.zoom = max(MIN_ZOOM, min((width - FIT_MARGIN) / ew, (height - FIT_MARGIN) / eh))
        self.center = (image_width / 2, image_height / 2)
        self.fitted = True
