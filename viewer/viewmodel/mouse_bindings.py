"""What the mouse does on the image: the tools, the mouse layouts users bring from other viewers,
and the rule that picks a gesture for a button.

A layout says what the left button does by default (its tool, which the tool buttons and keys
change: a view tool, or a measurement or annotation to draw, ``SHAPE_TOOLS``), what the middle
and right buttons drag (or that the right button opens the menu), and what the wheel does.
Whatever the layout: Ctrl+left-drag is window/level, Shift+left-drag measures, Ctrl+wheel does
what the wheel does in the other layouts, a right click that does not move opens the canvas's
menu, and a double click fits. Today's layout is the default, so nobody's
habits break.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Tool(StrEnum):
    """What a drag does."""

    WINDOW = "window"  # window (left/right) and level (up/down)
    PAN = "pan"
    ZOOM = "zoom"  # up zooms in, down out, around where the drag started
    MEASURE = "measure"  # a ruler (a distance)
    ANGLE = "angle"
    COBB = "cobb"
    CTR = "ctr"  # cardiothoracic ratio
    ELLIPSE = "ellipse"
    RECT = "rect"
    ARROW = "arrow"
    TEXT = "text"


class Wheel(StrEnum):
    """What a wheel turn does."""

    ZOOM = "zoom"  # around the cursor
    IMAGES = "images"  # the next (towards the user) or previous image


TOOL_NAMES = {Tool.WINDOW: "Window/Level", Tool.PAN: "Pan", Tool.ZOOM: "Zoom", Tool.MEASURE: "Measure",
              Tool.ANGLE: "Angle", Tool.COBB: "Cobb Angle", Tool.CTR: "Cardiothoracic Ratio",
              Tool.ELLIPSE: "Ellipse ROI", Tool.RECT: "Rectangle ROI", Tool.ARROW: "Arrow", Tool.TEXT: "Text"}
# The tools that draw a shape, and the shape's kind (``shapes.SHAPE_TYPES``); the others move the view.
SHAPE_TOOLS = {Tool.MEASURE: "distance", Tool.ANGLE: "angle", Tool.COBB: "cobb", Tool.CTR: "ctr",
               Tool.ELLIPSE: "ellipse", Tool.RECT: "rect", Tool.ARROW: "arrow", Tool.TEXT: "text"}
CLICK_SLOP_PX = 4.0  # a right press and release closer than this is a click (the menu), not a drag
WHEEL_NOTCH = 120  # angle delta of one wheel notch (1/8 degree units)
ZOOM_DRAG_STEP = 1.01  # zoom factor per screen pixel of a zoom drag (about 2x per 70 px)


@dataclass(frozen=True)
class MouseLayout:
    """One mouse layout; ``right`` None: the right button opens the menu and drags nothing."""

    name: str  # the key stored in the settings
    title: str
    left: Tool  # the left button's tool until the user picks another
    middle: Tool
    right: Tool | None
    wheel: Wheel
    note: str  # who it is for


LAYOUTS: dict[str, MouseLayout] = {
    layout.name: layout for layout in (
        MouseLayout("classic", "CXR Viewer (default)", Tool.PAN, Tool.PAN, Tool.WINDOW, Wheel.ZOOM,
                    "this viewer's own: the wheel zooms, left pans, right windows"),
        MouseLayout("radiant", "RadiAnt / Weasis", Tool.WINDOW, Tool.PAN, None, Wheel.IMAGES,
                    "as RadiAnt and Weasis: left windows, the wheel goes through the images, right is the menu"),
        MouseLayout("ohif", "OHIF", Tool.WINDOW, Tool.PAN, Tool.ZOOM, Wheel.IMAGES,
                    "as the OHIF viewer: left windows, middle pans, right zooms, the wheel goes through the images"),
    )
}
DEFAULT_LAYOUT = "classic"


def layout_named(name: str | None) -> MouseLayout:
    """The layout stored as ``name``; the default for an unknown or missing name."""
    return LAYOUTS.get(name or "", LAYOUTS[DEFAULT_LAYOUT])


def zoom_drag_factor(dy: float) -> float:
    """The zoom factor of a zoom drag ``dy`` screen pixels down (negative: up, zooming in)."""
    return float(ZOOM_DRAG_STEP ** -dy)


class MouseBindings:
    """The layout in force and the left button's tool; ``drag_for`` and ``wheel_for`` say what a
    press or a wheel turn does."""

    def __init__(self, layout: str = DEFAULT_LAYOUT) -> None:
        self.layout = layout_named(layout)
        self.tool = self.layout.left

    def set_layout(self, name: str) -> None:
        """Use layout ``name``; the left button gets that layout's tool."""
        self.layout = layout_named(name)
        self.tool = self.layout.left

    def drag_for(self, button: str, *, ctrl: bool = False, shift: bool = False) -> Tool | None:
        """The tool a press of ``button`` ("left", "middle", "right") drags; None: no drag (the
        right button of a layout whose right button is the menu's, or another button)."""
        if button == "left":
            if ctrl:
                return Tool.WINDOW
            if shift:
                return Tool.MEASURE
            return self.tool
        if button == "middle":
            return self.layout.middle
        if button == "right":
            return self.layout.right
        return None

    def wheel_for(self, *, ctrl: bool = False) -> Wheel:
        """What a wheel turn does; Ctrl gives the other one."""
        if not ctrl:
            return self.layout.wheel
        return Wheel.IMAGES if self.layout.wheel is Wheel.ZOOM else Wheel.ZOOM


def wheel_steps(rest: int, angle_delta: int) -> tuple[int, int]:
    """Images to step for a wheel turn of ``angle_delta`` added to the ``rest`` left over from
    turns too small to count (touchpads send small deltas): (steps, new rest). Turning towards
    the user (negative delta) goes to the next image, as it scrolls down a list."""
    total = rest + angle_delta
    notches = int(total / WHEEL_NOTCH)  # towards zero
    return -notches, total - notches * WHEEL_NOTCH
