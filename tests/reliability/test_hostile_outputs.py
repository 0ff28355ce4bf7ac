"""Outputs written into a folder someone else can write to: nothing the viewer writes may go
through a link planted there.

In a shared output folder anyone can plant ``results.csv.partial`` (or ``results.csv``) as a
symbolic link, or a hard link, to somebody's image. The batch CSV (``cxr-viewer batch`` and
``run_batch``), the window's CSV export and its PNG export must each leave that image
byte-identical and write a plain file of their own under the final name.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtWidgets import QFileDialog

from tests.test_cli import run_cli
from tests.ui.conftest import WAIT_MS
from tests.ui.images import chest_png
from viewer.core.batch import run_batch
from viewer.core.predictions_csv import LEADING_COLUMNS

pytestmark = pytest.mark.timeout(300)

CSV_START = ",".join(LEADING_COLUMNS).encode()  # how a predictions CSV starts
PLANTS = ("symlink at the .partial name", "hard link at the .partial name", "symlink at the final name")


@pytest.fixture
def images(tmp_path: Path) -> Path:
    """The folder the batch or the window reads: two chest PNGs."""
    folder = tmp_path / "images"
    for i in range(2):
        chest_png(folder / f"chest_{i}.png", seed=60 + i)
    return folder


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """Somebody's image on the same disk, which a planted link points at."""
    return chest_png(tmp_path / "someone else" / "precious.png", seed=99)


def plant(kind: str, out: Path, victim: Path) -> None:
    """Put a link to ``victim`` where writing ``out`` might follow it."""
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    if kind == PLANTS[0]:
        partial.symlink_to(victim)
    elif kind == PLANTS[1]:
        os.link(victim, partial)
    else:
        out.symlink_to(victim)


def assert_untouched_and_written(out: Path, victim: Path, original: bytes, start: bytes) -> None:
    """The victim is as it was; ``out`` is a plain file of its own starting with ``start``."""
    assert victim.read_bytes() == original, "the planted link's target was overwritten"
    assert not out.is_symlink() and out.is_file()
    assert os.stat(out).st_ino != os.stat(victim).st_ino
    assert out.read_bytes().startswith(start)
    assert not os.path.lexists(out.with_name(out.name + ".partial"))


@pytest.mark.parametrize("kind", PLANTS)
def test_the_batch_command_never_writes_through_a_planted_link(kind: str, images: Path, victim: Path,
                                                               tiny_model: Path, tmp_path: Path) -> None:
    original = victim.read_bytes()
    out = tmp_path / "shared" / "results.csv"
    plant(kind, out, victim)
    overwrite = []
    if kind == PLANTS[2]:  # something at the final name is replaced only when asked
        refused = run_cli("batch", images, "--model", tiny_model, "--out", out, cwd=tmp_path)
        assert refused.returncode == 1 and "already exists" in refused.stderr, refused.stderr
        assert victim.read_bytes() == original and out.is_symlink()
        overwrite = ["--overwrite"]
    result = run_cli("batch", images, "--model", tiny_model, "--out", out, *overwrite, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert_untouched_and_written(out, victim, original, CSV_START)


@pytest.mark.parametrize("kind", PLANTS)
def test_run_batch_never_writes_through_a_planted_link(kind: str, images: Path, victim: Path, tiny_model: Path,
                                                       tmp_path: Path) -> None:
    original = victim.read_bytes()
    out = tmp_path / "shared" / "results.csv"
    plant(kind, out, victim)
    summary = run_batch(images, out, tiny_model, overwrite=kind == PLANTS[2])
    assert summary.ok == 2
    assert_untouched_and_written(out, victim, original, CSV_START)


@pytest.mark.parametrize("kind", PLANTS)
def test_the_window_exports_never_write_through_a_planted_link(kind: str, images: Path, victim: Path,
                                                               tiny_model: Path, tmp_path: Path, qtbot,
                                                               make_window, monkeypatch) -> None:
    original = victim.read_bytes()
    window = make_window(tiny_model)
    done: list[int] = []
    window.folder.analysis_done.connect(lambda: done.append(1))
    window.open_path(images)
    qtbot.waitUntil(lambda: bool(done) and window.image.analysed is not None, timeout=WAIT_MS)

    def answer(path: Path) -> None:  # the save dialog, answered with ``path``
        monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(path), "")))

    csv_out = tmp_path / "shared" / "findings.csv"
    plant(kind, csv_out, victim)
    answer(csv_out)
    window.act_export_csv.trigger()
    assert_untouched_and_written(csv_out, victim, original, CSV_START)

    png_out = tmp_path / "shared" / "view.png"
    plant(kind, png_out, victim)
    answer(png_out)
    window.act_export_png.trigger()
    assert_untouched_and_written(png_out, victim, original, b"\x89PNG\r\n\x1a\n")
    assert png_out.read_bytes() != original
    assert not window.errors.entries()


@pytest.mark.parametrize("kind", PLANTS)
def test_the_screenshot_run_never_writes_through_a_planted_link(kind: str, images: Path, victim: Path,
                                                                tiny_model: Path, tmp_path: Path) -> None:
    """Without --screenshot a display-less run writes ./cxr-viewer-screenshot.png: in a shared
    folder, someone may have planted a link at that name."""
    original = victim.read_bytes()
    shared = tmp_path / "shared"
    out = shared / "cxr-viewer-screenshot.png"
    plant(kind, out, victim)
    result = run_cli(images, "--model", tiny_model, cwd=shared, timeout=300)
    assert result.returncode == 0, result.stderr
    assert_untouched_and_written(out, victim, original, b"\x89PNG\r\n\x1a\n")
