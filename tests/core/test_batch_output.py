"""A batch stopped and run again, in this process: the rows kept, what is dropped and scored
again (a torn row, a folder that changed), what is refused, and the progress of a resumed run.
The same with real processes, SIGKILL and signals: tests/reliability/test_batch_resume.py."""

from __future__ import annotations

import errno
import io
import json
from pathlib import Path

import pytest

from tests.core.test_scan import make_dicom, make_png
from viewer.core.batch import BatchSetupError, BatchWriteError, TextProgress, run_batch
from viewer.core.batch_record import record_path
from viewer.core.predictions_csv import PredictionsWriter


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "images"
    for i in range(8):
        make_png(root / "nih" / f"0000002{i}_000.png", (80, 80), seed=i)
    make_dicom(root / "dicom" / "IM1.dcm", instance=1, seed=1)
    (root / "broken.png").write_bytes(b"not a png")
    return root


def stopping_at_row(rows: int) -> dict:
    """``run_batch`` arguments that ask the run to stop once ``rows`` rows are written."""
    reached = False

    def progress(done: int, total: int | None, ok: int, errors: int, kept: int) -> None:
        nonlocal reached
        reached = reached or ok + errors >= rows

    return {"on_progress": progress, "cancelled": lambda: reached, "batch_size": 1}


def test_a_stopped_run_resumes_to_the_rows_of_an_uninterrupted_one(folder: Path, tiny_model: Path,
                                                                   tmp_path: Path) -> None:
    whole = tmp_path / "whole.csv"
    run_batch(folder, whole, tiny_model)
    out = tmp_path / "r.csv"
    stopped = run_batch(folder, out, tiny_model, **stopping_at_row(4))
    partial = tmp_path / "r.csv.partial"
    assert not stopped.finished and not out.exists() and record_path(out).exists()
    assert 4 <= stopped.rows < 10 and "run the same command again to resume" in stopped.describe()
    assert partial.read_bytes().count(b"\n") == stopped.rows + 1

    progress: list[tuple[int, int | None, int, int, int]] = []
    resumed = run_batch(folder, out, tiny_model, on_progress=lambda *a: progress.append(a))
    assert resumed.finished and resumed.resume.kept == stopped.rows and resumed.rows == 10
    assert f"{stopped.rows} kept from the interrupted run, {10 - stopped.rows} scored now" in resumed.describe()
    assert out.read_bytes() == whole.read_bytes()
    assert not partial.exists() and not record_path(out).exists()
    assert [p[4] for p in progress[: stopped.rows]] == list(range(1, stopped.rows + 1))  # kept, counted


def test_a_torn_last_row_and_rows_of_a_changed_folder_are_scored_again(folder: Path, tiny_model: Path,
                                                                       tmp_path: Path) -> None:
    out = tmp_path / "r.csv"
    stopped = run_batch(folder, out, tiny_model, **stopping_at_row(5))
    partial = tmp_path / "r.csv.partial"
    with open(partial, "ab") as handle:
        handle.write(b"00000099_000.png,nih/00000099_0")  # a row cut by a kill
    # a new file after the first row kept: the rows kept after it are no longer the folder's
    make_png(folder / "dicom" / "A.png", (80, 80), seed=9)
    resumed = run_batch(folder, out, tiny_model)
    assert resumed.resume.kept == 1 and resumed.resume.dropped == stopped.rows - 1 and resumed.resume.torn
    assert "no longer matched the folder" in resumed.describe() and "last row was cut" in resumed.describe()
    fresh = tmp_path / "fresh.csv"
    run_batch(folder, fresh, tiny_model)
    assert out.read_bytes() == fresh.read_bytes()


def test_what_is_refused_and_what_is_replaced(folder: Path, tiny_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.csv"
    run_batch(folder, out, tiny_model, **stopping_at_row(3))
    before = (tmp_path / "r.csv.partial").read_bytes()
    with pytest.raises(BatchSetupError, match="written without --include-patient-id: run as it was started"):
        run_batch(folder, out, tiny_model, include_patient_id=True)
    with pytest.raises(BatchSetupError, match="on another folder"):
        run_batch(folder / "nih", out, tiny_model)
    assert (tmp_path / "r.csv.partial").read_bytes() == before
    # a damaged record is no record: the partial file cannot be trusted, and is replaced
    record = json.loads(record_path(out).read_text())
    record_path(out).write_text(json.dumps({**record, "labels": "Mass"}))
    replaced = run_batch(folder, out, tiny_model)
    assert replaced.resume.kept == 0 and "had no resume record" in replaced.describe()
    with pytest.raises(BatchSetupError, match="already exists: pass --overwrite"):
        run_batch(folder, out, tiny_model)
    assert run_batch(folder, out, tiny_model, overwrite=True).finished


def test_the_eta_of_a_resumed_run_leaves_the_kept_rows_out() -> None:
    log = io.StringIO()
    bar = TextProgress(log)
    for done in range(1, 51):  # 50 rows kept in a moment
        bar(done, 100, done, 0, done)
    bar.since -= 10.0  # then 10 s for 10 files of its own
    bar(60, 100, 60, 0, 50)
    last = log.getvalue().splitlines()[-1]
    assert "60/100 files  60 ok  0 errors (50 kept)  1.0 img/s  ETA 0:40" in last


def test_a_full_disk_is_one_line_and_the_rows_written_are_resumed(folder: Path, tiny_model: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    real_flush, flushes = PredictionsWriter.flush, 0

    def filling_up(self: PredictionsWriter) -> None:
        nonlocal flushes
        flushes += 1
        if flushes > 4:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_flush(self)

    monkeypatch.setattr(PredictionsWriter, "flush", filling_up)
    out = tmp_path / "r.csv"
    with pytest.raises(BatchWriteError, match="r.csv.partial: cannot be written .No space left on device.; the rows "
                                              "written so far are kept: run the same command again to resume"):
        run_batch(folder, out, tiny_model, batch_size=1)
    monkeypatch.undo()
    resumed = run_batch(folder, out, tiny_model)
    assert resumed.finished and resumed.resume.kept >= 3
    whole = tmp_path / "whole.csv"
    run_batch(folder, whole, tiny_model)
    assert out.read_bytes() == whole.read_bytes()
