"""The help (F1, as a user presses it on the canvas) lists every key the window answers to and
what the mouse does in the mouse layout in force, and changes when the layout does."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt

from tests.ui.canvas_helpers import activate
from tests.ui.conftest import wait_for_image
from tests.ui.images import chest_png


def _help_text(qtbot, window, screenshot=None, name: str = "help") -> str:
    """Press F1 on the canvas and read the help table that opens (a section title, then
    "keys: what they do" lines), then close it."""
    from viewer.ui.help_dialog import HelpDialog

    qtbot.keyClick(window.canvas, Qt.Key.Key_F1)
    qtbot.waitUntil(lambda: any(d.isVisible() for d in window.findChildren(HelpDialog)))
    dialog = next(d for d in window.findChildren(HelpDialog) if d.isVisible())
    if screenshot is not None:
        screenshot(dialog, name)
    table = dialog.table
    lines = []
    for row in range(table.rowCount()):
        keys, does = (table.item(row, column) for column in (0, 1))
        if table.columnSpan(row, 0) > 1 or does is None:  # a section's title
            lines.append(keys.text() if keys is not None else "")
        else:
            lines.append(f"{keys.text() if keys is not None else ''}: {does.text()}")
    dialog.close()
    return "\n".join(lines)


def _shortcuts(window) -> dict[str, str]:
    """Every key of every command of the window: key -> the command's name."""
    keys = {}
    for action in window.findChildren(type(window.act_fit)):
        for sequence in action.shortcuts():
            text = sequence.toString()
            if text:
                keys[text] = action.text().replace("&", "")
    return keys


def test_the_help_lists_every_key_and_the_mouse_of_the_layout_in_force(qtbot, make_window, tmp_path: Path,
                                                                      screenshot) -> None:
    window = make_window(None, "no model in this test")
    window.open_path(chest_png(tmp_path / "a.png"))
    wait_for_image(qtbot, window)
    activate(qtbot, window)
    text = _help_text(qtbot, window, screenshot, "default-layout")
    lines = text.splitlines()

    def listed(key: str) -> bool:
        return any(key in [k.strip() for k in line.split(":", 1)[0].split(" / ")] for line in lines if ":" in line)

    missing = {key: command for key, command in _shortcuts(window).items() if not listed(key)}
    assert not missing, f"keys the help does not list: {missing}"
    for key in ("Right", "Left", "Down", "Up"):  # the canvas's own keys
        assert listed(key), key
    assert any(line.strip().startswith("wheel") and "zoom" in line for line in lines)

    window.mouse_layout_actions["ohif"].trigger()
    activate(qtbot, window)
    ohif = _help_text(qtbot, window, screenshot, "ohif-layout")
    assert ohif != text and "OHIF" in ohif
    mouse = [line.strip() for line in ohif.splitlines()]
    assert any(line.startswith("wheel") and "next / previous image" in line for line in mouse)
    assert any(line.startswith("right-drag") and "zoom" in line for line in mouse)
