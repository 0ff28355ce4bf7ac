"""What the keys and the mouse do, as data: the help lists it, the Mouse preferences page shows
the mouse part, and a test holds the window's shortcuts to it (every key of every command is in
``KEYS``).

The keys are written as Qt writes them (``QKeySequence.toString``), so they can be compared.
The mouse's part depends on the mouse layout (``mouse_bindings``): ``mouse_rows`` says it in
words for one layout. The help (``help_table``) lists the window's commands, the keys here that
no command has (``where`` set: the canvas's own) and the mouse rows of the layout in force.
"""

from __future__ import annotations

from dataclasses import dataclass

from .mouse_bindings import TOOL_NAMES, MouseLayout, Tool, Wheel


@dataclass(frozen=True)
class KeyBinding:
    """Keys that do one thing; ``where`` says where they work when it is not everywhere."""

    keys: tuple[str, ...]
    what: str
    where: str = ""


KEYS: tuple[KeyBinding, ...] = (
    KeyBinding(("PgDown", "J"), "next image"),
    KeyBinding(("PgUp", "K"), "previous image"),
    KeyBinding(("Right", "Down"), "next image", "on the image"),
    KeyBinding(("Left", "Up"), "previous image", "on the image"),
    KeyBinding(("Shift+PgDown", "Shift+J"), "next study"),
    KeyBinding(("Shift+PgUp", "Shift+K"), "previous study"),
    KeyBinding(("F", "]"), "next finding (its heatmap)"),
    KeyBinding(("Shift+F", "["), "previous finding"),
    KeyBinding(("H",), "heatmap on / off"),
    KeyBinding(("1", "2", "3", "4", "5"), "window presets (the Window list)"),
    KeyBinding(("W",), f"{TOOL_NAMES[Tool.WINDOW]} tool for the left button"),
    KeyBinding(("P",), f"{TOOL_NAMES[Tool.PAN]} tool"),
    KeyBinding(("Z",), f"{TOOL_NAMES[Tool.ZOOM]} tool"),
    KeyBinding(("M",), f"{TOOL_NAMES[Tool.MEASURE]} tool (a ruler)"),
    KeyBinding(("A", "B", "T"), "angle, Cobb angle, cardiothoracic ratio tools"),
    KeyBinding(("E", "G"), "ellipse, rectangle ROI tools (mean, SD, min, max, area)"),
    KeyBinding(("Shift+A", "Shift+T"), "arrow, text tools"),
    KeyBinding(("Del", "Backspace"), "delete the selected measurement or annotation"),
    KeyBinding(("Ctrl+Del",), "delete every measurement and annotation of the image"),
    KeyBinding(("Ctrl+Z",), "undo the last change to the measurements and annotations"),
    KeyBinding(("Ctrl+Shift+Z", "Ctrl+Y"), "redo"),
    KeyBinding(("I",), "invert"),
    KeyBinding(("R", "Shift+R"), "rotate right / left"),
    KeyBinding(("X", "Y"), "flip horizontal / vertical"),
    KeyBinding(("Ctrl+0", "Home"), "fit"),
    KeyBinding(("Ctrl+1",), "1:1 (one image pixel per screen pixel)"),
    KeyBinding(("Ctrl++", "Ctrl+-"), "zoom in / out"),
    KeyBinding(("Ctrl+R",), "reset the view"),
    KeyBinding(("F11",), "full-screen reading on / off"),
    KeyBinding(("Esc",), "leave full screen; else stop drawing, or drop the selection"),
    KeyBinding(("Ctrl+Shift+I",), "the patient's name, ID and birth date on the image on / off (never exported)"),
    KeyBinding(("Ctrl+O", "Ctrl+Shift+O"), "open a folder / a file"),
    KeyBinding(("Ctrl+E", "Ctrl+Shift+E"), "export the view as PNG / the folder's findings as CSV"),
    KeyBinding(("Ctrl+Q",), "quit"),
    KeyBinding(("F1",), "this list"),
)

DRAG_WORDS = {
    Tool.WINDOW: "window (left/right) and level (up/down)",
    Tool.PAN: "pan",
    Tool.ZOOM: "zoom (up: in, down: out)",
    Tool.MEASURE: "measure a distance (mm when the pixel spacing is known)",
    Tool.ANGLE: "an angle: drag one arm to the vertex, click the other arm's end",
    Tool.COBB: "a Cobb angle: drag along each endplate",
    Tool.CTR: "a cardiothoracic ratio: drag across the heart, then across the thorax",
    Tool.ELLIPSE: "an ellipse ROI (mean, SD, min, max, area)",
    Tool.RECT: "a rectangle ROI (mean, SD, min, max, area)",
    Tool.ARROW: "an arrow, from its tip to its tail",
    Tool.TEXT: "a text: click where it goes, then type it",
}
WHEEL_WORDS = {Wheel.ZOOM: "zoom around the cursor", Wheel.IMAGES: "next / previous image"}


def mouse_rows(layout: MouseLayout) -> list[tuple[str, str]]:
    """(gesture, what it does) for every mouse gesture in ``layout``."""
    other = Wheel.IMAGES if layout.wheel is Wheel.ZOOM else Wheel.ZOOM
    right = DRAG_WORDS[layout.right] if layout.right is not None else "the menu"
    rows = [
        ("wheel", WHEEL_WORDS[layout.wheel]),
        ("Ctrl+wheel", WHEEL_WORDS[other]),
        ("left-drag", f"the tool ({TOOL_NAMES[layout.left]} at first): {DRAG_WORDS[layout.left]}"),
        ("middle-drag", DRAG_WORDS[layout.middle]),
        ("right-drag" if layout.right is not None else "right click", right),
    ]
    if layout.right is not None:
        rows.append(("right click", "the menu (a click that does not move)"))
    rows += [
        ("Ctrl+left-drag", DRAG_WORDS[Tool.WINDOW]),
        ("Shift+left-drag", DRAG_WORDS[Tool.MEASURE]),
        ("click a shape", "select it (Del deletes it; drag it again to move it, its handles to edit it)"),
        ("double-click", "fit"),
    ]
    return rows


def key_names() -> set[str]:
    """Every key ``KEYS`` lists."""
    return {key for binding in KEYS for key in binding.keys}
