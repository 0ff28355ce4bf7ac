"""safe_write: outputs are new files renamed into place, and whatever had their names is
replaced, never opened (the hostile-folder cases end to end are tests/reliability/test_hostile_outputs.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from viewer.core.safe_write import NotOwnFileError, ReplacingFile, open_partial, partial_path, write_bytes


def test_a_file_at_the_partial_name_is_replaced_not_truncated(tmp_path: Path) -> None:
    other = tmp_path / "other.bin"
    other.write_bytes(b"keep me")
    out = tmp_path / "out.csv"
    os.link(other, partial_path(out))
    with ReplacingFile(out) as handle:
        handle.write("a,b\r\n")
    assert other.read_bytes() == b"keep me" and out.read_bytes() == b"a,b\r\n"
    assert not partial_path(out).exists()


def test_an_error_leaves_the_partial_file_and_the_old_output(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    out.write_text("old")
    with pytest.raises(KeyError), ReplacingFile(out) as handle:
        handle.write("half")
        raise KeyError("stop")
    assert out.read_text() == "old" and partial_path(out).read_text() == "half"


def test_write_bytes_replaces_a_link_at_the_final_name_and_leaves_no_partial_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "target.png"
    target.write_bytes(b"image")
    out = tmp_path / "out.png"
    out.symlink_to(target)
    assert write_bytes(out, b"new") == out
    assert not out.is_symlink() and out.read_bytes() == b"new" and target.read_bytes() == b"image"
    folder = tmp_path / "a folder.png"
    folder.mkdir()
    with pytest.raises(OSError):
        write_bytes(folder, b"x")  # the rename onto a folder fails
    assert not partial_path(folder).exists()


def test_a_folder_at_the_partial_name_is_an_os_error(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    partial_path(out).mkdir()
    with pytest.raises(OSError):
        ReplacingFile(out)
    assert partial_path(out).is_dir() and not out.exists()


def test_an_interrupted_partial_is_reopened_only_when_it_is_a_plain_file_of_ones_own(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    with pytest.raises(FileNotFoundError):
        open_partial(out)
    victim = tmp_path / "victim.png"
    victim.write_bytes(b"image")
    partial_path(out).symlink_to(victim)
    with pytest.raises(NotOwnFileError, match="symbolic link"):
        open_partial(out)
    partial_path(out).unlink()
    os.link(victim, partial_path(out))
    with pytest.raises(NotOwnFileError, match="hard link"):
        open_partial(out)
    partial_path(out).unlink()
    os.mkfifo(partial_path(out))
    with pytest.raises(NotOwnFileError, match="not a regular file"):
        open_partial(out)
    assert victim.read_bytes() == b"image"


def test_continuing_cuts_the_partial_after_what_is_kept_and_writes_on(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    partial_path(out).write_bytes(b"a,b\r\n1,2\r\n3,")  # the last row torn
    handle = open_partial(out)
    assert handle.read() == b"a,b\r\n1,2\r\n3,"
    with ReplacingFile.continuing(out, handle, keep=10) as text:
        text.write("5,6\r\n")
    assert out.read_bytes() == b"a,b\r\n1,2\r\n5,6\r\n" and not partial_path(out).exists()
