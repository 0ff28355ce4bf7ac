"""The one folder walk: every file under a folder, safe from symlink loops, pipes, bad folders
and links out of the folder.

Exports link series folders to each other, USB sticks carry ``.DS_Store`` and AppleDouble
twins, and a folder may be unreadable: the walk goes on past all of it and says what it left
out. The folder scan and the trainer both list their files here.

A link to a folder is followed only when its real target is inside the walked folder's real
path, unless ``follow_links`` says otherwise: a link planted in a shared folder would otherwise
take the walk through ``/etc`` or ``/proc`` (every process's working directory, and ``/``
again through ``/proc/*/root``). A link, to a folder or a file, that leads into the kernel's
``/proc``, ``/sys`` or ``/dev`` from outside the walked folder is never followed. A link to a
regular file elsewhere is followed: a curated subset of a dataset is often a folder of links.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

# The kernel's own folders: their files are processes' memory and environment, devices and
# settings, not images, and some block when read.
SYSTEM_FOLDERS: tuple[str, ...] = ("/proc", "/sys", "/dev")
OUTSIDE_LINK = "link to a folder outside the opened folder (not followed)"


@dataclass(frozen=True, slots=True)
class Unwalked:
    """Something under the folder that the walk did not list as a file, and why.

    ``kind``: "hidden" (a name starting with a dot), "loop" (a link to a folder already
    walked), "folder" (a folder that could not be opened: its contents are missing), "link" (a
    link to a folder that was not followed: out of the walked folder, or into a system folder)
    or "file" (an entry that is not a regular file, a link to a system file, or an entry that
    could not be examined).
    """

    path: Path
    reason: str
    kind: Literal["hidden", "loop", "folder", "link", "file"]


def walk_files(root: Path, cancelled: Callable[[], bool] | None = None, *,
               follow_links: bool = False) -> Iterator[Path | Unwalked]:
    """Every regular file under ``root``, depth first in name order, and an ``Unwalked`` for
    each entry left out. Links to folders are followed when they lead to a folder inside
    ``root`` (its real path), or anywhere but the system folders with ``follow_links``; links to
    files are followed unless they lead into the system folders. Each real folder is entered
    once, so a symlink loop ends. Stops early, silently, once ``cancelled()`` returns True."""
    is_cancelled = cancelled or (lambda: False)
    real_root = os.path.realpath(root)
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
                    refusal = _link_refusal(path, real_root, follow_links) if entry.is_symlink() else None
                    if refusal is not None:
                        yield Unwalked(path, refusal, "link")
                        continue
                    info = entry.stat()
                    key = (info.st_dev, info.st_ino)
                    if key in visited:
                        yield Unwalked(path, "link to a folder already scanned (a symlink loop or a duplicate)", "loop")
                    else:
                        visited.add(key)
                        subfolders.append(path)
                elif entry.is_file():
                    refusal = _link_refusal(path, real_root, leave=True) if entry.is_symlink() else None
                    if refusal is not None:
                        yield Unwalked(path, refusal, "file")
                        continue
                    yield path
                elif entry.is_symlink() and not os.path.exists(path):
                    yield Unwalked(path, "broken link: its target does not exist", "file")
                else:  # FIFO, socket, device (or a link to one): opening one could block forever
                    yield Unwalked(path, "not a regular file (a pipe, socket or device)", "file")
            except OSError as exc:  # e.g. a folder nested past the path limit: its files are missing
                if _is_folder(entry):
                    yield Unwalked(path, f"folder cannot be opened ({os_reason(exc)})", "folder")
                else:
                    yield Unwalked(path, f"cannot be examined ({os_reason(exc)})", "file")
        stack.extend(reversed(subfolders))  # depth first, in name order


def _link_refusal(link: Path, real_root: str, leave: bool) -> str | None:
    """Why the walk does not follow ``link`` (to a folder, or with ``leave`` True to a file), or
    None when it does. ``leave``: whether a link out of ``real_root`` may be followed at all."""
    target = os.path.realpath(link)
    if _inside(target, real_root):
        return None
    if not leave:
        return OUTSIDE_LINK
    system = next((s for s in SYSTEM_FOLDERS if _inside(target, s)), None)
    if system is not None:
        return f"link into the system folder {system} (not followed: links there are never followed)"
    return None


def _is_folder(entry: os.DirEntry[str]) -> bool:
    """Whether ``entry`` is a folder itself (not a link), from the listing when the file system
    gives types there, as Linux's do: no call on its path, which may be what fails."""
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


def _inside(path: str, folder: str) -> bool:
    """Whether the real path ``path`` is ``folder`` or under it."""
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def os_reason(exc: OSError) -> str:
    """Why an OS call failed, in words for a user ("permission denied", the OS's message)."""
    if isinstance(exc, PermissionError):
        return "permission denied"
    if exc.errno == errno.ENAMETOOLONG:  # the OS says "File name too long" of the whole path
        return "path longer than the system allows: shorten the names of the folders above it"
    return exc.strerror or type(exc).__name__
