"""The keyboard and mouse help as data: what each key and mouse gesture does, in sections.

The keys are not written here: ``help_sections`` lists the window's own commands (their menu,
name and shortcuts, as the window hands them over), so a command given a key shows up in the
help without anyone remembering to add it. The mouse has no such commands: the caller passes
the gestures of the mouse layout in force (``bindings.mouse_rows``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

MOUSE_TITLE = "Mouse on the image"
OTHER_KEYS_TITLE = "Other keys"


@dataclass(frozen=True)
class Binding:
    """One row of the help: the keys or gesture, and what it does."""

    keys: str
    does: str


@dataclass(frozen=True)
class HelpSection:
    title: str
    bindings: tuple[Binding, ...]


@dataclass(frozen=True)
class Command:
    """A command of the window as the help sees it: the menu it is in ("" for none), its name as
    the menu shows it (``&`` marks and a trailing ellipsis are dropped) and its keys, as text."""

    menu: str
    name: str
    keys: tuple[str, ...]


def help_sections(commands: Iterable[Command], mouse: Sequence[Binding],
                  mouse_title: str = MOUSE_TITLE) -> list[HelpSection]:
    """The mouse's section (``mouse``: the gestures of the mouse layout in force, under
    ``mouse_title``), then one section per menu in the order the menus first appear, then
    the keys of no menu; commands without keys (or with an empty one: a standard key the
    platform does not define) are left out, and a command met twice (in a menu, and among the
    window's actions) is listed once. Sections with nothing in them are left out."""
    sections: dict[str, list[Binding]] = {}
    seen: set[tuple[str, tuple[str, ...]]] = set()
    other: list[Binding] = []
    for command in commands:
        name, keys = _plain(command.name), tuple(k for k in command.keys if k)
        if not keys or (name, keys) in seen:
            continue
        seen.add((name, keys))
        row = Binding(" / ".join(keys), name)
        if command.menu:
            sections.setdefault(_plain(command.menu), []).append(row)
        else:
            other.append(row)
    ordered = [HelpSection(mouse_title, tuple(mouse))]
    ordered += [HelpSection(title, tuple(rows)) for title, rows in sections.items()]
    ordered.append(HelpSection(OTHER_KEYS_TITLE, tuple(other)))
    return [section for section in ordered if section.bindings]


def _plain(text: str) -> str:
    """A menu text without its mnemonic marks and trailing ellipsis ("Export View as PNG")."""
    return text.replace("&&", "\0").replace("&", "").replace("\0", "&").rstrip("\N{HORIZONTAL ELLIPSIS}.").strip()
