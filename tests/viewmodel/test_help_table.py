"""The keyboard and mouse help as data: sections built from the window's commands and the mouse
layout's gestures, so the help lists every key the window has."""

from __future__ import annotations

from viewer.viewmodel.bindings import mouse_rows
from viewer.viewmodel.help_table import MOUSE_TITLE, Binding, Command, help_sections
from viewer.viewmodel.mouse_bindings import LAYOUTS

MOUSE = tuple(Binding(gesture, does) for gesture, does in mouse_rows(LAYOUTS["classic"]))


def test_every_command_with_a_key_is_listed_once_under_its_menu() -> None:
    commands = [
        Command("File", "Export View as &PNG\N{HORIZONTAL ELLIPSIS}", ("Ctrl+E",)),
        Command("File", "&Quit", ("Ctrl+Q",)),
        Command("File", "Open &Recent", ()),  # no key: not a row
        Command("File", "&Close", ("",)),  # a standard key this platform has no key for
        Command("Go", "&Next Image", ("PgDown", "J")),
        Command("View", "&Fit", ("Ctrl+0", "Home")),
        Command("", "Preset 1", ("1",)),  # a key of no menu
        Command("View", "&Fit", ("Ctrl+0", "Home")),  # in a second place: listed once
    ]
    sections = help_sections(commands, MOUSE)
    assert [s.title for s in sections] == [MOUSE_TITLE, "File", "Go", "View", "Other keys"]
    assert sections[0].bindings == MOUSE
    rows = {s.title: s.bindings for s in sections}
    assert rows["File"] == (Binding("Ctrl+E", "Export View as PNG"), Binding("Ctrl+Q", "Quit"))
    assert rows["Go"] == (Binding("PgDown / J", "Next Image"),)
    assert rows["View"] == (Binding("Ctrl+0 / Home", "Fit"),)
    assert rows["Other keys"] == (Binding("1", "Preset 1"),)


def test_the_mouse_section_is_the_layout_s_under_its_title() -> None:
    layout = (Binding("Middle-drag", "pan"),)
    sections = help_sections([Command("File", "&Quit", ("Ctrl+Q",))], mouse=layout, mouse_title="Mouse (OHIF)")
    assert sections[0].title == "Mouse (OHIF)" and sections[0].bindings == layout
    assert help_sections([], mouse=())[0:] == []  # nothing to say: no section
