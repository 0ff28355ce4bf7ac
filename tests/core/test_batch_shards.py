"""``--shard I/N``: the k-th row (from 0) of the whole folder's CSV, in the scan's order, goes to
shard (k mod N) + 1, with the keys of the whole folder, so the shards' rows are the whole CSV's,
row for row; and the scan's order is the relative paths sorted folder by folder."""

from __future__ import annotations

import csv
from pathlib import Path, PurePosixPath

import pytest

from tests.test_cli import run_cli
from tests.ui.images import chest_dicom, chest_png
from viewer.core.batch import BatchSetupError, run_batch
from viewer.core.batch_shard import Shard, ShardError, parse_shard, scan_order_key
from viewer.core.scan import scan_folder

PATIENT_FOLDER = "Ward^Ann0"


def rows_of(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Names that sort differently by string and folder by folder ("a-b" < "a/" as strings),
    upper and lower case, DICOMs of two patients in two folders, broken files, a file that is
    not an image (no row), and files beside subfolders."""
    root = tmp_path / "archive"
    for i, name in enumerate(["a.png", "a/x.png", "a/z/1.png", "a/b.png", "a-b/y.png", "b.png", "B.png",
                              "a b/c.png", "z/deep/er/k.png"]):
        chest_png(root / name, seed=i, size=64)
    for i in range(6):
        chest_dicom(root / ("pat1" if i % 2 else "pat2") / f"IM{i}.dcm", seed=i, size=64,
                    patient_name=f"Ward^Ann{i % 2}", patient_id=f"SH-{i % 2}00")
    # a folder named after its patient: its broken first file is one shard's, the header that
    # names the patient another's, and the path is scrubbed in every shard
    (root / PATIENT_FOLDER).mkdir()
    (root / PATIENT_FOLDER / "0_broken.png").write_bytes(b"not a png either")
    chest_dicom(root / PATIENT_FOLDER / "1.dcm", size=64, patient_name="Ward^Ann0", patient_id="SH-000")
    (root / "a" / "broken.png").write_bytes(b"not a png")
    (root / "pat1" / "empty.dcm").write_bytes(b"")
    (root / "a" / "notes.txt").write_text("not an image")
    return root


def test_shard_values() -> None:
    assert parse_shard("1/3") == Shard(1, 3) and parse_shard(" 3 / 3 ") == Shard(3, 3) and str(Shard(2, 8)) == "2/8"
    assert [k for k in range(10) if Shard(2, 3).takes(k)] == [1, 4, 7]
    for text, words in (("0/3", "from 1 to 3"), ("4/3", "from 1 to 3"), ("a/b", "is not I/N"), ("3", "is not I/N"),
                        ("1/0", "at least 1"), ("-1/3", "is not I/N")):
        with pytest.raises(ShardError, match=words):
            parse_shard(text)


def test_the_scan_order_is_the_relative_paths_sorted_folder_by_folder(folder: Path) -> None:
    paths = [item.relative_path for item in scan_folder(folder) if hasattr(item, "relative_path")]
    assert paths == sorted(paths, key=scan_order_key)
    shown = [p.as_posix() for p in paths]
    assert shown.index("a.png") < shown.index("b.png") < shown.index("a/x.png") < shown.index("a-b/y.png")
    assert shown.index("B.png") < shown.index("a.png")  # by code point: capitals first


def test_shards_one_to_n_are_the_whole_csv_row_for_row(folder: Path, tiny_model: Path, tmp_path: Path) -> None:
    run_batch(folder, tmp_path / "whole.csv", tiny_model)
    header, *whole = rows_of(tmp_path / "whole.csv")
    shards = []
    for index in (1, 2, 3):
        out = tmp_path / f"shard{index}.csv"
        summary = run_batch(folder, out, tiny_model, shard=Shard(index, 3), batch_size=2)
        assert summary.finished and summary.rows == len(whole[index - 1 :: 3])
        assert f"shard {index}/3, {summary.rows} rows" in summary.describe()
        shard_header, *rows = rows_of(out)
        assert shard_header == header
        assert rows == whole[index - 1 :: 3]  # keys and scrubbed paths are the whole folder's
        shards.append(rows)
    concatenated = [row for rows in shards for row in rows]
    path = header.index("path")
    assert sum(row[path].startswith("[removed]^[removed]/") for row in concatenated) == 2

    def scan_order(row: list[str]) -> tuple[tuple[int, str], ...]:  # the path before its scrubbing
        return scan_order_key(PurePosixPath(row[path].replace("[removed]^[removed]", PATIENT_FOLDER)))

    assert sorted(concatenated, key=scan_order) == whole


def test_a_shard_resumes_only_as_the_same_shard(folder: Path, tiny_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "shard1.csv"
    rows: list[int] = []
    stopped = run_batch(folder, out, tiny_model, shard=Shard(1, 3), batch_size=1,
                        on_progress=lambda done, total, ok, errors, kept: rows.append(ok + errors),
                        cancelled=lambda: bool(rows) and rows[-1] >= 2)
    assert not stopped.finished and not out.exists() and stopped.rows >= 2
    with pytest.raises(BatchSetupError, match="as shard 1/3, not shard 2/3.*--overwrite"):
        run_batch(folder, out, tiny_model, shard=Shard(2, 3))
    with pytest.raises(BatchSetupError, match="as shard 1/3, not the whole folder"):
        run_batch(folder, out, tiny_model)
    resumed = run_batch(folder, out, tiny_model, shard=Shard(1, 3))
    assert resumed.finished and resumed.resume.kept == stopped.rows


@pytest.mark.parametrize("value", ["0/3", "4/3", "a/b"])
def test_a_bad_shard_value_is_one_clear_line(value: str, tmp_path: Path) -> None:
    result = run_cli("batch", tmp_path, "--out", tmp_path.parent / "r.csv", "--shard", value, cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    last = result.stderr.splitlines()[-1]
    assert last.startswith("cxr-viewer batch: error: argument --shard: ") and value in last, result.stderr
    assert "I/N" in last or "from 1 to 3" in last
