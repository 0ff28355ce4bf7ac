"""Writing an output file without going through a link that someone planted at its name.

An output folder may be shared: whoever can write there can put a symbolic link, or a hard link,
to somebody's image at the name about to be written. ``open(path, "w")`` follows the symbolic
link and truncates the hard link's file, so either would overwrite that image. Every file the
viewer writes (the predictions CSV of the batch and of the window's export, the exported PNG)
goes through ``ReplacingFile`` instead:

* it is written to ``<out>.partial`` beside ``out``, a file created here and now (``O_CREAT |
  O_EXCL | O_NOFOLLOW``): whatever had that name before (a file, a symbolic link, a hard link)
  is unlinked first, never opened, so its target keeps its bytes;
* once complete it is renamed onto ``out`` (``os.replace``), which replaces a link at ``out``
  rather than writing through it, and means a reader never finds half a file under ``out``.

A long writer that was interrupted (the batch over an archive) may go on with its ``.partial``
instead of starting afresh: ``open_partial`` opens the existing file only when it is a plain
file of this user's own (not a link, not a file with another name, nothing else), and
``ReplacingFile.continuing`` cuts it where its whole records end and writes on from there.
"""

from __future__ import annotations

import errno
import io
import os
import stat
from pathlib import Path
from types import TracebackType
from typing import IO, Any

PARTIAL_SUFFIX = ".partial"
# Create a new file, never open an existing one or a link; O_BINARY: Windows must not translate
# the newlines a CSV writer chose.
_CREATE_FLAGS = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
                 | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))
# Open an interrupted ``.partial`` to read and write on, never through a link at its name.
_REOPEN_FLAGS = (os.O_RDWR | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
                 | getattr(os, "O_BINARY", 0))
# What open() with O_NOFOLLOW says of a symbolic link: ELOOP (Linux, macOS), EMLINK (FreeBSD).
_LINK_ERRNOS = (errno.ELOOP, errno.EMLINK)
# Someone re-planting a link between the unlink and the create makes the create fail; a few
# tries tell such a race from a name that can never be created.
_CREATE_TRIES = 3


def partial_path(out: Path) -> Path:
    """Where ``out`` is written before it is complete: ``<out>.partial`` beside it."""
    return out.with_name(out.name + PARTIAL_SUFFIX)


def create_new(path: Path) -> int:
    """A file descriptor, open for writing, of a file just created at ``path``.

    Whatever had that name is unlinked first (for a link: the link, never its target). Raises
    ``OSError`` when the file cannot be created (no such folder, permission denied, a folder of
    that name, or a link planted again at each try).
    """
    for attempt in range(_CREATE_TRIES):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        try:
            return os.open(path, _CREATE_FLAGS, 0o666)
        except FileExistsError:
            if attempt == _CREATE_TRIES - 1:
                raise
    raise AssertionError("unreachable")  # the loop returns or raises


class NotOwnFileError(OSError):
    """Something other than a plain file of this user's own has the name of a file to reopen."""


def open_partial(out: str | os.PathLike[str]) -> IO[bytes]:
    """The ``<out>.partial`` an interrupted writer left, open to read and then write on (``r+b``,
    at its start), for ``ReplacingFile.continuing``.

    It is opened only when it is a plain file of this user's own: a regular file (a symbolic
    link is refused by ``O_NOFOLLOW``, never followed), with no other name (a hard link would let
    someone's file be written), owned by this user (where the system has owners). Raises
    ``FileNotFoundError`` when there is none, ``NotOwnFileError`` (an ``OSError``, saying what it
    is) when something else has the name, and ``OSError`` when it cannot be opened.
    """
    path = partial_path(Path(os.fspath(out)))
    try:
        fd = os.open(path, _REOPEN_FLAGS)
    except OSError as exc:
        if exc.errno in _LINK_ERRNOS and os.path.islink(path):
            raise NotOwnFileError(exc.errno, "a symbolic link", os.fspath(path)) from None
        raise
    info = os.fstat(fd)
    problem = None
    if not stat.S_ISREG(info.st_mode):
        problem = "not a regular file"
    elif info.st_nlink != 1:
        problem = "a file with another name too (a hard link)"
    elif hasattr(os, "getuid") and info.st_uid != os.getuid():
        problem = "another user's file"
    if problem is not None:
        os.close(fd)
        raise NotOwnFileError(errno.EPERM, problem, os.fspath(path))
    return os.fdopen(fd, "r+b")


class ReplacingFile:
    """``out``, written to a new ``<out>.partial`` and renamed onto ``out`` once complete.

    ``with ReplacingFile(out) as handle`` gives the open file (text: UTF-8, newlines written as
    given, as ``csv`` needs; ``binary=True``: bytes). When the block ends without an exception
    the file is renamed onto ``out``; after one, ``<out>.partial`` is left as it is (for
    inspection) and ``out`` is untouched. Opening raises ``OSError``.
    """

    def __init__(self, out: str | os.PathLike[str], *, binary: bool = False) -> None:
        self.out = Path(os.fspath(out))
        self.partial = partial_path(self.out)
        fd = create_new(self.partial)
        try:
            self.handle: IO[Any] = (os.fdopen(fd, "wb") if binary
                                    else os.fdopen(fd, "w", newline="", encoding="utf-8"))
        except BaseException:
            os.close(fd)
            raise

    @classmethod
    def continuing(cls, out: str | os.PathLike[str], handle: IO[bytes], keep: int, *,
                   binary: bool = False) -> ReplacingFile:
        """Go on writing the ``<out>.partial`` that ``open_partial`` gave as ``handle``: it is cut
        after its first ``keep`` bytes (what followed, a torn record or rows no longer wanted, is
        dropped) and written on from there; ``commit`` renames it onto ``out`` as usual."""
        self = cls.__new__(cls)
        self.out = Path(os.fspath(out))
        self.partial = partial_path(self.out)
        handle.seek(keep)
        handle.truncate()
        self.handle = handle if binary else io.TextIOWrapper(handle, encoding="utf-8", newline="")
        return self

    def commit(self) -> Path:
        """Close the file and rename it onto ``out``; returns ``out``."""
        self.handle.close()
        os.replace(self.partial, self.out)
        return self.out

    def abandon(self) -> None:
        """Close the file and leave it as ``<out>.partial``; ``out`` is untouched."""
        self.handle.close()

    def __enter__(self) -> IO[Any]:
        return self.handle

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abandon()


def write_bytes(out: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``out`` through ``ReplacingFile``; returns ``out``. Raises ``OSError``,
    leaving no ``.partial`` file behind."""
    output = ReplacingFile(out, binary=True)
    try:
        output.handle.write(data)
        return output.commit()
    except BaseException:
        output.abandon()
        try:
            os.unlink(output.partial)
        except OSError:
            pass
        raise
