"""A damaged label or box file beside the images is reported, by name and problem, in the
errors panel and in the batch's output; the images still show (without its labels or boxes).

The files are real malformed CSVs written by the tests: a ``Data_Entry_2017_v2020.csv`` whose
header lacks the label columns, one that is not text at all, and a ``BBox_List_2017.csv`` with
a box that is not four numbers.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtWidgets import QFileDialog

from tests.core.test_scan import make_png
from tests.ui.conftest import WAIT_MS, make_window, settings  # noqa: F401  (fixtures)
from viewer.core.batch import run_batch
from viewer.core.scan import DataFileProblem, ScannedImage, scan_folder

REPO = Path(__file__).resolve().parents[2]
BAD_HEADER = "Image Index,Patient Age\n00000001_000.png,58\n"
NOT_TEXT = b"\xff\xfe\x00\x81\x82 this is not a CSV \x00\x00\x9c"
BBOX_HEADER = "Image Index,Finding Label,Bbox [x,y,w,h],,,\n"


def nih_folder(root: Path, data_entry: str | bytes | None = None, bbox: str | None = None) -> Path:
    """``root/images/`` with two NIH-named PNGs, the label and box files beside ``images/``."""
    for name in ("00000001_000.png", "00000002_000.png"):
        make_png(root / "images" / name, size=(256, 256), seed=len(name))
    if isinstance(data_entry, bytes):
        (root / "Data_Entry_2017_v2020.csv").write_bytes(data_entry)
    elif data_entry is not None:
        (root / "Data_Entry_2017_v2020.csv").write_text(data_entry, encoding="utf-8")
    if bbox is not None:
        (root / "BBox_List_2017.csv").write_text(bbox, encoding="utf-8")
    return root


@pytest.mark.parametrize("content", [BAD_HEADER, NOT_TEXT], ids=["no label columns", "not text"])
def test_the_scan_reports_an_unusable_label_file_once_and_shows_the_images(tmp_path: Path, content) -> None:
    root = nih_folder(tmp_path / "nih", content)
    items = list(scan_folder(root / "images"))
    problems = [i for i in items if isinstance(i, DataFileProblem)]
    images = [i for i in items if isinstance(i, ScannedImage)]
    assert len(problems) == 1, items
    assert problems[0].path == root / "Data_Entry_2017_v2020.csv"
    assert "Data_Entry_2017_v2020.csv" in problems[0].display_path
    assert problems[0].reason.startswith("NIH labels not used: ")
    assert len(problems[0].reason) > len("NIH labels not used: ") + 5  # says what is wrong
    assert len(images) == 2 and all(i.labels is None for i in images)


def test_a_good_label_file_gives_no_problem(tmp_path: Path) -> None:
    from tests.core.test_scan import HEADER_2020

    row = "00000001_000.png,Effusion,0,1,58,M,PA,2682,2749,0.143,0.143"
    root = nih_folder(tmp_path / "nih", HEADER_2020 + row + "\n")
    items = list(scan_folder(root / "images"))
    assert not [i for i in items if isinstance(i, DataFileProblem)]
    labelled = [i for i in items if isinstance(i, ScannedImage) and i.labels]
    assert [i.labels for i in labelled] == [("Effusion",)]


def test_batch_names_the_unusable_label_file_in_its_summary(tmp_path: Path, tiny_model: Path) -> None:
    root = nih_folder(tmp_path / "nih", BAD_HEADER)
    summary = run_batch(root / "images", tmp_path / "out.csv", tiny_model)
    assert summary.ok == 2 and summary.errors == 0
    assert len(summary.data_problems) == 1
    assert "Data_Entry_2017_v2020.csv" in summary.data_problems[0]
    assert "Data_Entry_2017_v2020.csv" in summary.describe() and "NIH labels not used" in summary.describe()


def test_cxr_viewer_batch_prints_the_problem(tmp_path: Path, tiny_model: Path) -> None:
    root = nih_folder(tmp_path / "nih", NOT_TEXT)
    result = subprocess.run(
        [sys.executable, "-m", "viewer", "batch", str(root / "images"), "--out", str(tmp_path / "out.csv"),
         "--model", str(tiny_model)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, env={"PYTHONPATH": str(REPO), "PATH": ""},
    )
    assert result.returncode == 0, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert "2 ok" in last and "Data_Entry_2017_v2020.csv" in last and "NIH labels not used" in last


def open_folder_from_the_menu(window, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """File > Open Folder..., the dialog answered with ``folder``."""
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(folder)))
    window.act_open_folder.trigger()


def test_the_errors_panel_lists_the_unusable_label_file(qtbot, make_window, tmp_path: Path,  # noqa: F811
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    root = nih_folder(tmp_path / "nih", BAD_HEADER)
    window = make_window(None, "no model in this test")
    open_folder_from_the_menu(window, root / "images", monkeypatch)
    qtbot.waitUntil(lambda: not window.folder.scanning, timeout=WAIT_MS)
    rows = window.errors.entries()
    assert [r for r in rows if "Data_Entry_2017_v2020.csv" in r[0] and r[1].startswith("NIH labels not used")], rows
    assert len(window.folder.images) == 2  # the images still show


def test_the_errors_panel_lists_an_unusable_box_file_once(qtbot, make_window, tmp_path: Path,  # noqa: F811
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    bbox = BBOX_HEADER + "00000001_000.png,Mass,12,thirty,40,40\n"
    root = nih_folder(tmp_path / "nih", bbox=bbox)
    window = make_window(None, "no model in this test")
    open_folder_from_the_menu(window, root / "images", monkeypatch)
    qtbot.waitUntil(lambda: window.canvas.radiograph is not None, timeout=WAIT_MS)

    def box_rows() -> list[tuple[str, str]]:
        return [r for r in window.errors.entries() if "BBox_List_2017.csv" in r[0]]

    qtbot.waitUntil(lambda: bool(box_rows()), timeout=WAIT_MS)
    ((file, reason),) = box_rows()
    assert reason.startswith("ground-truth boxes not shown: ") and "line 2" in reason
    window.browser.setFocus()
    window.act_next.trigger()  # the second image asks for the same table: no second row
    qtbot.waitUntil(lambda: window.image.loaded is not None and window.image.loaded.path.name == "00000002_000.png",
                    timeout=WAIT_MS)
    assert len(box_rows()) == 1
