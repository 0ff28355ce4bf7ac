"""Links inside an opened folder that lead out of it: the scan must not walk where they point
(``/etc``, ``/proc``, another user's folder) unless asked to, and must say what it left out.

A link to a folder inside the opened folder is still followed (exports link series folders to
each other); one leading outside is reported as not followed, in the scan, the batch summary and
the window's errors panel; ``--follow-links`` (``follow_links=True``) follows it anyway, except
into the system's ``/proc``, ``/sys`` and ``/dev``, which are never walked. A link to a file
outside is followed (a curated subset of a dataset is often a folder of links), unless it leads
into those system folders.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

import viewer.__main__ as cli
from tests.test_cli import run_cli
from tests.ui.conftest import WAIT_MS
from tests.ui.images import chest_png
from viewer.core.batch import run_batch
from viewer.core.scan import ScannedImage, SkippedFile, scan_folder
from viewer.ui.main_window import MainWindow

pytestmark = [pytest.mark.timeout(300),
              pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")]

NOT_FOLLOWED = "link to a folder outside the opened folder (not followed)"


class Budget:
    """A ``cancelled`` callback that stops a walk gone astray (through ``/proc`` it would not end
    for minutes) after ``limit`` files and folders; the test then fails on ``exhausted``."""

    def __init__(self, limit: int = 2000) -> None:
        self.calls, self.limit = 0, limit

    def __call__(self) -> bool:
        self.calls += 1
        return self.exhausted

    @property
    def exhausted(self) -> bool:
        return self.calls > self.limit


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """Another folder on the machine, beside the opened one, with an image of its own."""
    folder = tmp_path / "someone else"
    chest_png(folder / "private.png", seed=90)
    return folder


@pytest.fixture
def opened(tmp_path: Path, outside: Path) -> Path:
    """The folder the user opens: an image, a series folder reached through a link with an
    absolute target inside, and links out of it (a folder, /etc, /proc, a file, /proc's files).
    It is opened through a link of its own, so "inside" must mean its real path."""
    real = tmp_path / "study"
    chest_png(real / "a.png", seed=91)
    chest_png(real / "z_series" / "b.png", seed=92)
    (real / "a_series").symlink_to(real / "z_series", target_is_directory=True)
    (real / "to_outside").symlink_to(outside, target_is_directory=True)
    (real / "to_etc").symlink_to("/etc", target_is_directory=True)
    (real / "to_proc").symlink_to("/proc", target_is_directory=True)
    (real / "linked_file.png").symlink_to(outside / "private.png")
    (real / "environ.dcm").symlink_to("/proc/self/environ")
    link = tmp_path / "study link"
    link.symlink_to(real, target_is_directory=True)
    return link


def shown(items: list) -> set[str]:
    return {i.display_path for i in items if isinstance(i, ScannedImage)}


def skipped(items: list) -> dict[str, SkippedFile]:
    return {i.display_path: i for i in items if isinstance(i, SkippedFile)}


def test_the_scan_walks_links_inside_and_reports_links_out_of_the_folder(opened: Path) -> None:
    budget = Budget()
    items = list(scan_folder(opened, cancelled=budget))
    assert not budget.exhausted, "the scan walked out of the folder"
    assert shown(items) == {"a.png", "a_series/b.png", "linked_file.png"}
    left_out = skipped(items)
    for name in ("to_outside", "to_etc", "to_proc"):
        assert left_out[name].folder and left_out[name].reason == NOT_FOLLOWED, left_out[name]
    assert "not followed" in left_out["environ.dcm"].reason and "/proc" in left_out["environ.dcm"].reason
    assert not any(path.startswith(("to_outside/", "to_etc/", "to_proc/")) for path in shown(items) | set(left_out))


def test_follow_links_follows_them_but_never_into_proc(opened: Path) -> None:
    budget = Budget(20_000)  # /etc has a few thousand entries
    items = list(scan_folder(opened, cancelled=budget, follow_links=True))
    assert not budget.exhausted, "the scan walked into /proc"
    assert {"to_outside/private.png", "a_series/b.png"} <= shown(items)
    left_out = skipped(items)
    assert left_out["to_proc"].folder and "/proc" in left_out["to_proc"].reason
    assert "never followed" in left_out["to_proc"].reason
    assert any(path.startswith("to_etc/") for path in shown(items) | set(left_out))


def test_the_batch_lists_the_links_it_did_not_follow(tmp_path: Path, outside: Path, tiny_model: Path) -> None:
    folder = tmp_path / "images"
    chest_png(folder / "a.png", seed=93)
    (folder / "to_outside").symlink_to(outside, target_is_directory=True)
    summary = run_batch(folder, tmp_path / "r.csv", tiny_model)
    assert summary.rows == 1 and summary.links_not_followed == ["to_outside"]
    assert "1 links to folders outside the folder not followed (--follow-links follows them): to_outside" \
        in summary.describe()

    out = tmp_path / "followed.csv"
    result = run_cli("batch", folder, "--model", tiny_model, "--out", out, "--follow-links", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "to_outside/private.png" in out.read_text(encoding="utf-8")
    assert "not followed" not in result.stderr
    result = run_cli("batch", folder, "--model", tiny_model, "--out", tmp_path / "plain.csv", cwd=tmp_path)
    assert "not followed (--follow-links follows them): to_outside" in result.stderr
    assert "private.png" not in (tmp_path / "plain.csv").read_text(encoding="utf-8")


def test_the_window_lists_links_out_of_the_folder_and_follows_them_when_asked(
        tmp_path: Path, outside: Path, tiny_model: Path, qtbot, settings) -> None:
    folder = tmp_path / "images"
    chest_png(folder / "a.png", seed=94)
    (folder / "to_outside").symlink_to(outside, target_is_directory=True)
    for follow in (False, True):
        window = MainWindow(settings, tiny_model, None, follow_links=follow)
        qtbot.addWidget(window)
        done: list[int] = []
        window.folder.scan_done.connect(done.append)
        window.open_path(folder)
        qtbot.waitUntil(lambda: bool(done), timeout=WAIT_MS)  # noqa: B023 - waited for here
        names = {image.display_path for image in window.folder.images}
        if follow:
            assert names == {"a.png", "to_outside/private.png"} and not window.errors.entries()
        else:
            assert names == {"a.png"} and window.errors.entries() == [("to_outside", NOT_FOLLOWED)]
        window.close()


def test_the_gui_command_line_passes_follow_links_to_the_window(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                tiny_model: Path) -> None:
    calls: list[bool] = []
    module = types.ModuleType("viewer.ui.app")
    module.run_gui = lambda *args, follow_links=False, **kwargs: calls.append(follow_links) or 0
    monkeypatch.setitem(sys.modules, "viewer.ui.app", module)
    monkeypatch.setenv("DISPLAY", ":0")  # no headless screenshot set-up
    assert cli.main([str(tmp_path), "--model", str(tiny_model), "--follow-links"]) == 0
    assert cli.main([str(tmp_path), "--model", str(tiny_model)]) == 0
    assert calls == [True, False]
    assert "--follow-links" in run_cli("--help", cwd=tmp_path).stdout
    assert "--follow-links" in run_cli("batch", "--help", cwd=tmp_path).stdout
