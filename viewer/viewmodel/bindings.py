"""What the keys and the mouse do, as data: the help lists it, the Mouse preferences page shows
the mouse part, and a test holds the window's shortcuts to it.

The mouse's part depends on the mouse layout (``mouse_bindings``): ``mouse_rows`` says it in
words for one layout.
"""

from __future__ import annotations

from .mouse_bindings import TOOL_NAMES, MouseLayout, Tool, Wheel

DRAG_WORDS = {
    Tool.WINDOW: "window (left/right) and level (up/down)",
    Tool.PAN: "pan",
    Tool.ZOOM: "zoom (up: in, down: out)",
    Tool.MEASURE: "measure a distance (mm when the pixel spacing is known)",
}
WHEEL_WORDS = {Wheel.ZOOM: "zoom around the cursor", Wheel.IMAGES: "next / previous image"}


def mouse_rows(layout: MouseLayout) -> list[tuple[str, str]]:
    """(gesture, what it does) for every mouse gesture in ``layout``."""
    other = Wheel.IMAGES if layout.wheel is Wheel.ZOOM else Wheel.ZOOM
    right = DRAG_WORDS[layout.right] if layout.right is not None else "the menu"
    rows = [
        ("wheel", WHEEL_WORDS[layout.wheel]),
        ("Ctrl+wheel", WHEEL_WORDS[other]),
        ("left-drag", f"the tool ({TOOL_NAMES[layout.left]} until you pick another): {DRAG_WORDS[layout.left]}"),
        ("middle-drag", DRAG_WORDS[layout.middle]),
        ("right-drag" if layout.right is not None else "right click", right),
    ]
    if layout.right is not None:
        rows.append(("right click", "the menu (a click that does not move)"))
    rows += [
        ("Ctrl+left-drag", DRAG_WORDS[Tool.WINDOW]),
        ("Shift+left-drag", DRAG_WORDS[Tool.MEASURE]),
        ("click a ruler", "select it (Del deletes it)"),
        ("double-click", "fit"),
    ]
    return rows
