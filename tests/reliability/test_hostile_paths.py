"""Paths longer than the system allows (PATH_MAX, 4096 bytes on Linux): a folder nested that deep,
or an image whose own path is that long, cannot be opened by its path. It must be reported as
unreadable, with the reason, by the scan, the batch (summary line and error row) and the window's
errors panel, never dropped silently or counted among the files that are not images.

The folders are built with ``os.mkdir(name, dir_fd=...)`` one level at a time, since the whole
path cannot be handed to ``mkdir``; the images in them are real PNGs.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.core.chest_phantom import chest_phantom
from tests.ui.conftest import WAIT_MS
from tests.ui.images import chest_png
from viewer.core.batch import run_batch
from viewer.core.scan import ScannedImage, SkippedFile, scan_folder

pytestmark = [pytest.mark.timeout(300),
              pytest.mark.skipif(not hasattr(os, "pathconf"), reason="needs a POSIX path limit")]

TOO_LONG = "path longer than the system allows"
LONG_NAME = "f" * 150 + ".png"
DEEP_NAME = "d" * 200


def png_bytes(seed: int) -> bytes:
    grey = chest_phantom(np.random.default_rng(seed), 64)
    ok, encoded = cv2.imencode(".png", np.rint(grey * 255).astype(np.uint8))
    assert ok
    return encoded.tobytes()


def write_at(folder_fd: int, name: str, data: bytes) -> None:
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=folder_fd)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def enter(folder_fd: int, name: str) -> int:
    """Make the folder ``name`` in the open folder and open it (closing the parent)."""
    os.mkdir(name, dir_fd=folder_fd)
    child = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=folder_fd)
    os.close(folder_fd)
    return child


@pytest.fixture
def images(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(the folder to open, the too-long folder in it, the too-long PNG in it).

    ``near/`` is nested until its path is 100 bytes short of the limit: it opens, and holds a PNG
    whose name makes its path too long, and a folder whose path is too long, holding a PNG.
    """
    limit = os.pathconf(tmp_path, "PC_PATH_MAX")
    root = tmp_path / "images"
    chest_png(root / "a.png", seed=1)
    near, fd = root, os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    while len(os.fsencode(near)) < limit - 100:
        name = DEEP_NAME[: min(len(DEEP_NAME), limit - 100 - len(os.fsencode(near)) - 1)] or "d"
        fd = enter(fd, name)
        near = near / name
    write_at(fd, LONG_NAME, png_bytes(2))
    fd = enter(fd, DEEP_NAME)
    write_at(fd, "deep.png", png_bytes(3))
    os.close(fd)
    deep, long_file = near / DEEP_NAME, near / LONG_NAME
    assert len(os.fsencode(deep)) >= limit and len(os.fsencode(long_file)) >= limit
    assert len(os.fsencode(near)) < limit
    return root, deep, long_file


def test_the_scan_reports_what_lies_past_the_path_limit(images: tuple[Path, Path, Path]) -> None:
    root, deep, long_file = images
    items = list(scan_folder(root))
    assert {i.display_path for i in items if isinstance(i, ScannedImage)} == {"a.png"}
    skipped = {i.path: i for i in items if isinstance(i, SkippedFile)}
    assert set(skipped) == {deep, long_file}
    assert skipped[deep].folder and TOO_LONG in skipped[deep].reason, skipped[deep]
    assert skipped[long_file].claimed_format is not None and TOO_LONG in skipped[long_file].reason


def test_the_batch_counts_and_lists_them(images: tuple[Path, Path, Path], tiny_model: Path, tmp_path: Path) -> None:
    root, deep, long_file = images
    out = tmp_path / "results.csv"
    summary = run_batch(root, out, tiny_model)
    assert summary.ok == 1 and summary.errors == 1
    assert len(summary.unscanned_folders) == 1 and TOO_LONG in summary.unscanned_folders[0]
    assert summary.unscanned_folders[0].startswith(deep.relative_to(root).as_posix())
    assert "1 folders could not be read" in summary.describe()
    text = out.read_text(encoding="utf-8")
    assert LONG_NAME in text and TOO_LONG in text


def test_the_window_lists_them_in_the_errors_panel(images: tuple[Path, Path, Path], tiny_model: Path, qtbot,
                                                    make_window) -> None:
    root, deep, long_file = images
    window = make_window(tiny_model)
    done: list[int] = []
    window.folder.scan_done.connect(done.append)
    window.open_path(root)
    qtbot.waitUntil(lambda: bool(done), timeout=WAIT_MS)
    assert [i.display_path for i in window.folder.images] == ["a.png"]
    listed = dict(window.errors.entries())
    assert set(listed) == {deep.relative_to(root).as_posix(), long_file.relative_to(root).as_posix()}
    assert all(TOO_LONG in reason for reason in listed.values()), listed
