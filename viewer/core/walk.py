"""The one folder walk: every file under a folder, safe from symlink loops, pipes and bad folders.

Exports link series folders to each other, USB sticks carry ``.DS_Store`` and AppleDouble
twins, and a folder may be unreadable: the walk goes on past all of it and says what it left
out. The folder scan and the trainer both list their files here.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal


@dataclass(frozen=True, slots=True)
class Unwalked:
    """Something under the folder that the walk did not list as a file, and why.

    ``kind``: "hidden" (a name starting with a dot), "loop" (a link to a folder already
    walked), "folder" (a folder that could not be opened: its contents are missing) or "file"
    (an entry that is not a regular file, or could not be examined).
    """

    path: Path
    reason: str
    kind: Literal["hidden", "loop", "folder", "file"]


def walk_files(root: Path, cancelled: Callable[[], bool] | None = None) -> Iterator[Path | Unwalked]:
    """Every regular file under ``root`` (links followed), depth first in name order, and an
    ``Unwalked`` for each entry left out. Each real folder is entered once, so a symlink loop
    ends. Stops early, silently, once ``cancelled()`` returns True."""
    is_cancelled = cancelled or (lambda: False)
    visited: set[tuple[int, int]] = set()
    try:
        info = root.stat()
        visited.add((info.st_dev, info.st_ino))
    except OSError:
        pass
    stack = [root]
    while stack:
        if is_cancelled():
            return
        folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            yield Unwalked(folder, f"folder cannot be opened ({os_reason(exc)})", "folder")
            continue
        subfolders: list[Path] = []
        for entry in entries:
            path = Path(entry.path)
            if entry.name.startswith("."):  # .DS_Store, ._AppleDouble twins, .git: not images
                yield Unwalked(path, "hidden file or folder", "hidden")
                continue
            try:
                if entry.is_dir():  # follows symlinks: exports sometimes link series folders
                    info = entry.stat()
                    key = (info.st_dev, info.st_ino)
                    if key in visited:
                        yield Unwalked(path, "link to a folder already scanned (a symlink loop or a duplicate)", "loop")
                    else:
                        visited.add(key)
                        subfolders.append(path)
                elif entry.is_file():
                    yield path
                elif entry.is_symlink() and not os.path.exists(path):
                    yield Unwalked(path, "broken link: its target does not exist", "file")
                else:  # FIFO, socket, device (or a link to one): opening one could block forever
                    yield Unwalked(path, "not a regular file (a pipe, socket or device)", "file")
            except OSError as exc:
                yield Unwalked(path, f"cannot be examined ({os_reason(exc)})", "file")
        stack.extend(reversed(subfolders))  # depth first, in name order


def os_reason(exc: OSError) -> str:
    """Why an OS call failed, in words for a user ("permission denied", the OS's message)."""
    if isinstance(exc, PermissionError):
        return "permission denied"
    return exc.strerror or type(exc).__name__
