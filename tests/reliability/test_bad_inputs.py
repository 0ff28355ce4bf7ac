"""The bad-input corpus (corpus.py) through the core, the batch and the scan.

For every kind: the core returns a radiograph or raises ``ImageLoadError`` naming the file and
the problem; ``run_batch`` writes one row per file (an error row where it cannot be read) and
goes on; nothing is written into the scanned folder. The viewer's side is test_bad_inputs_ui.py.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from tests.reliability.corpus import (
    Case,
    Snapshot,
    chest_pixels,
    empty_files,
    encode,
    unreadable_file,
    write,
)
from viewer.core.batch import run_batch
from viewer.core.errors import ImageLoadError, display_name
from viewer.core.loader import load_radiograph
from viewer.core.preprocess import preprocess
from viewer.core.scan import ScannedImage, SkippedFile, scan_folder

pytestmark = pytest.mark.timeout(300)  # a hang fails the test instead of stalling the suite
GENERIC = "could not be read: unexpected"  # the loader's last resort: not a clear message


def rows_by_path(out: Path) -> dict[str, dict[str, str]]:
    with open(out, newline="", encoding="utf-8") as handle:
        return {row["path"]: row for row in csv.DictReader(handle)}


def test_the_corpus_has_more_than_30_kinds(corpus: tuple[Path, list[Case]]) -> None:
    root, cases = corpus
    assert len({case.kind for case in cases}) >= 30
    assert sum(not case.loads for case in cases) >= 30
    for case in cases:  # every file is really there (links and pipes included)
        assert os.path.lexists(case.path(root)), case.kind


def test_the_core_loads_each_file_or_names_it_and_its_problem(corpus: tuple[Path, list[Case]]) -> None:
    root, cases = corpus
    wrong = []
    for case in cases:
        path = case.path(root)
        try:
            radiograph = load_radiograph(path)
        except ImageLoadError as exc:
            message = str(exc)
            if case.loads:
                wrong.append(f"{case.kind}: refused ({message})")
            elif display_name(path) not in message or GENERIC in message:
                wrong.append(f"{case.kind}: message does not name the file, or is not specific: {message}")
            elif not all(f in message for f in case.fragments):
                wrong.append(f"{case.kind}: expected {case.fragments} in: {message}")
            continue
        if not case.loads:
            wrong.append(f"{case.kind}: loaded, but it is broken")
            continue
        notes = " ".join(radiograph.notes)
        if not all(f in notes for f in case.fragments):
            wrong.append(f"{case.kind}: expected a note with {case.fragments}, notes: {radiograph.notes}")
        grey = preprocess(radiograph, 32, 32)
        if grey.shape != (32, 32) or not np.isfinite(grey).all() or grey.min() < 0 or grey.max() > 1:
            wrong.append(f"{case.kind}: preprocessing gave {grey.shape}, range {grey.min()}..{grey.max()}")
    assert not wrong, "\n".join(wrong)


def test_the_scan_lists_every_file_once_and_says_why_it_skips_one(corpus: tuple[Path, list[Case]]) -> None:
    root, cases = corpus
    items = list(scan_folder(root))
    by_path = {os.fsencode(item.relative_path): item for item in items}
    assert len(by_path) == len(items)
    for case in cases:
        item = by_path[case.name]
        if isinstance(item, SkippedFile):  # skipped from its header: the reason says the same
            assert not case.loads and item.claimed_format is not None, case.kind
            assert all(f in item.reason for f in case.fragments), (case.kind, item.reason)
        else:
            assert isinstance(item, ScannedImage)
    # the folder link back to its parent is reported, not followed
    assert "already scanned" in by_path[b"links/parent"].reason


def test_batch_writes_a_row_for_every_file_and_goes_on(corpus: tuple[Path, list[Case]], tiny_model: Path,
                                                       tmp_path: Path) -> None:
    root, cases = corpus
    before = Snapshot.of(root)
    out = tmp_path / "results.csv"
    summary = run_batch(root, out, tiny_model, threads=1, batch_size=4)
    rows = rows_by_path(out)
    assert Snapshot.of(root).difference(before) == []
    assert not out.with_name(out.name + ".partial").exists()
    assert summary.rows == len(cases) and summary.ok == sum(c.loads for c in cases)
    assert summary.other_files == 1  # links/parent
    wrong = []
    for case in cases:
        row = rows.get(display_name(case.path_text))
        if row is None:
            wrong.append(f"{case.kind}: no row")
            continue
        if row["Image Index"] != display_name(os.fsdecode(os.path.basename(case.name))):
            wrong.append(f"{case.kind}: Image Index {row['Image Index']!r}")
        if case.loads:
            if row["status"] != "ok" or not row["prob_Effusion"]:
                wrong.append(f"{case.kind}: {row['status']} {row['error']}")
        elif row["status"] != "error" or not all(f in row["error"] for f in case.fragments):
            wrong.append(f"{case.kind}: expected an error with {case.fragments}, got {row['status']}: {row['error']}")
        elif row["prob_Effusion"] or row["ood_score"]:
            wrong.append(f"{case.kind}: an error row with findings")
    assert not wrong, "\n".join(wrong)


@pytest.mark.slow
def test_a_folder_of_10000_empty_files(tmp_path: Path, tiny_model: Path) -> None:
    root = empty_files(tmp_path / "exported", 10_000)
    before = Snapshot.of(root)
    items = list(scan_folder(root))
    assert len(items) == 10_000
    assert all(isinstance(i, SkippedFile) and i.reason == "empty file (0 bytes)" for i in items)
    out = tmp_path / "empty.csv"
    summary = run_batch(root, out, tiny_model, threads=1)
    assert (summary.rows, summary.ok, summary.errors) == (10_000, 0, 10_000)
    rows = rows_by_path(out)
    assert rows["00000.dcm"]["error"] == rows["09999.dcm"]["error"] == "empty file (0 bytes)"
    assert Snapshot.of(root).difference(before) == []


# -- a file without read permission: only binds a process that is not root ------------------------

def test_a_file_without_read_permission_as_an_unprivileged_user(tmp_path: Path) -> None:
    """The core, the scan, the batch and the window each name the file and say 'permission denied'.

    The check runs in a child process that drops root privileges (to uid/gid 65534, nobody)
    before touching the folder, because permissions do not bind root.
    """
    base = Path(tempfile.mkdtemp(prefix="cxr-unprivileged-"))  # under /tmp: reachable for nobody
    try:
        base.chmod(0o755)
        folder, work = base / "folder", base / "work"
        case = unreadable_file(folder)
        write(folder, "readable.png", encode(".png", (chest_pixels() >> 4).astype(np.uint8)))
        work.mkdir()
        work.chmod(0o777)
        for path in (folder, folder / "unreadable"):
            path.chmod(0o755)
        before = Snapshot.of(folder)
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), "HOME": str(work),
               "XDG_RUNTIME_DIR": str(work), "QT_QPA_PLATFORM": "offscreen"}
        done = subprocess.run([sys.executable, "-m", "tests.reliability.unprivileged", str(folder), str(work)],
                              capture_output=True, text=True, env=env, cwd=work, timeout=600)
        if done.returncode != 0 and "setuid" in done.stderr and "Operation not permitted" in done.stderr:
            pytest.skip("cannot drop root privileges here (setuid refused): a file's permissions do not bind root")
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout.strip().splitlines()[-1])
        assert result["uid"] != 0
        name = case.path_text
        assert "secret.png" in result["load"][name] and "permission denied" in result["load"][name]
        assert result["load"]["readable.png"] == "ok"
        assert "permission denied" in result["scan"][name]
        assert result["batch"][name][0] == "error" and "permission denied" in result["batch"][name][1]
        assert result["batch"]["readable.png"][0] == "ok"
        assert result["ui"]["finished"] == ["analysis", "scan", "shown"]
        assert [reason for file, reason in result["ui"]["errors"] if file == name] == [
            "cannot be read: permission denied"]
        assert Snapshot.of(folder).difference(before) == []
    finally:
        for folder_name, _subfolders, _files in os.walk(base):
            os.chmod(folder_name, 0o755)
        shutil.rmtree(base)


def test_cxr_viewer_batch_on_the_corpus_exits_0_with_a_row_per_file(corpus: tuple[Path, list[Case]],
                                                                    tiny_model: Path, tmp_path: Path) -> None:
    root, cases = corpus
    before = Snapshot.of(root)
    out = tmp_path / "cli.csv"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run([sys.executable, "-m", "viewer", "batch", str(root), "--out", str(out), "--model",
                           str(tiny_model)], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    loads = sum(c.loads for c in cases)
    assert f"{len(cases)} rows ({loads} ok, {len(cases) - loads} errors)" in last, last
    assert len(rows_by_path(out)) == len(cases)
    assert Snapshot.of(root).difference(before) == []
