"""viewer.core.batch: rows in scan order that match the model image by image, whatever the
batch size; bad files and model failures become rows; nothing written beside the images."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import numpy as np
import pytest

from tests.core.test_scan import SECRET_ID, deny, make_dicom, make_jpeg, make_png
from viewer.core.batch import BatchSetupError, TextProgress, run_batch
from viewer.core.identity import REMOVED
from viewer.core.inference import Predictor
from viewer.core.labels import NIH_LABELS
from viewer.core.predictions_csv import csv_columns


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "images"
    for i in range(5):
        make_png(root / "nih" / f"0000001{i}_000.png", (96 + 8 * i, 96), seed=i)
    make_dicom(root / "dicom" / "IM1.dcm", instance=1, seed=1)
    make_dicom(root / "dicom" / "IM2.dcm", instance=2, seed=2, photometric="MONOCHROME1")
    make_jpeg(root / "photo.jpg")
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 10)
    (root / "readme.md").write_text("# not an image")
    return root


def rows_of(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_every_row_matches_the_model_on_that_image_for_any_batch_size(
    folder: Path, tiny_model: Path, tmp_path: Path
) -> None:
    oracle = Predictor.open(tiny_model, cache_size=0)
    texts = []
    for batch_size in (1, 3, 64):
        out = tmp_path / f"bs{batch_size}.csv"
        summary = run_batch(folder, out, tiny_model, batch_size=batch_size, decode_workers=2)
        assert (summary.rows, summary.ok, summary.errors, summary.other_files) == (9, 8, 1, 1)
        for row in rows_of(out):
            if row["status"] != "ok":
                continue
            expected = oracle.predict(folder / row["path"])
            got = np.array([float(row[f"prob_{label}"]) for label in oracle.labels])
            np.testing.assert_allclose(got, expected.probabilities, atol=1e-6)
            assert [row[f"flag_{label}"] == "1" for label in oracle.labels] == list(expected.flags)
        texts.append(out.read_text(encoding="utf-8"))
    assert texts[0] == texts[1] == texts[2]  # batching changes nothing in the output


def test_rows_follow_the_scan_order_and_the_header_is_the_design_one(
    folder: Path, tiny_model: Path, tmp_path: Path
) -> None:
    out = tmp_path / "r.csv"
    run_batch(folder, out, tiny_model)
    with open(out, newline="", encoding="utf-8") as handle:
        header = next(csv.reader(handle))
    assert header == csv_columns(NIH_LABELS)
    assert [r["path"] for r in rows_of(out)] == [
        "broken.jpg", "photo.jpg", "dicom/IM1.dcm", "dicom/IM2.dcm",
        *(f"nih/0000001{i}_000.png" for i in range(5)),
    ]


def test_errors_say_what_is_wrong_and_nothing_is_left_beside_the_images(
    folder: Path, tiny_model: Path, tmp_path: Path
) -> None:
    before = sorted(os.fsdecode(p) for p in folder.rglob("*"))
    out = tmp_path / "r.csv"
    run_batch(folder, out, tiny_model)
    assert sorted(os.fsdecode(p) for p in folder.rglob("*")) == before
    assert not (tmp_path / "r.csv.partial").exists()
    (broken,) = [r for r in rows_of(out) if r["status"] == "error"]
    assert broken["Image Index"] == "broken.jpg" and "JPEG" in broken["error"]
    assert broken["prob_Mass"] == broken["flag_Mass"] == broken["ood_score"] == ""


def test_patient_ids_only_on_request(folder: Path, tiny_model: Path, tmp_path: Path) -> None:
    plain, with_ids = tmp_path / "plain.csv", tmp_path / "ids.csv"
    run_batch(folder, plain, tiny_model)
    run_batch(folder, with_ids, tiny_model, include_patient_id=True)
    assert SECRET_ID not in plain.read_text(encoding="utf-8")
    ids = {r["path"]: r["patient_id"] for r in rows_of(with_ids)}
    assert ids["dicom/IM1.dcm"] == SECRET_ID and ids["nih/00000012_000.png"] == "12"
    assert ids["photo.jpg"] == "" and ids["broken.jpg"] == ""
    keys = {r["path"]: (r["patient_key"], r["study_key"]) for r in rows_of(plain)}
    # same patient, two studies (make_dicom gives each file its own StudyInstanceUID)
    assert keys["dicom/IM1.dcm"][0] == keys["dicom/IM2.dcm"][0]
    assert keys["dicom/IM1.dcm"][1] != keys["dicom/IM2.dcm"][1]
    assert all(k.isdigit() and s.isdigit() for k, s in (keys[p] for p in keys if p != "broken.jpg"))


def test_a_model_failure_on_one_image_costs_only_that_row(
    folder: Path, tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    poison = Predictor.open(tiny_model).prepare(folder / "dicom" / "IM2.dcm")
    real_batch = Predictor.predict_batch

    def failing_on_poison(self: Predictor, images: list[np.ndarray]) -> list:
        if any(np.array_equal(image, poison) for image in images):
            raise RuntimeError("simulated ONNX Runtime failure")
        return real_batch(self, images)

    monkeypatch.setattr(Predictor, "predict_batch", failing_on_poison)
    out = tmp_path / "r.csv"
    summary = run_batch(folder, out, tiny_model, batch_size=4)
    statuses = {r["path"]: (r["status"], r["error"]) for r in rows_of(out)}
    assert statuses["dicom/IM2.dcm"][0] == "error" and "model failed" in statuses["dicom/IM2.dcm"][1]
    assert statuses["dicom/IM1.dcm"] == ("ok", "")
    assert (summary.ok, summary.errors) == (7, 2)


def test_identifiers_are_scrubbed_from_error_messages(
    folder: Path, tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_prepare = Predictor.prepare

    def leaky(self: Predictor, source: object) -> np.ndarray:
        if str(getattr(source, "path", source)).endswith("IM1.dcm"):
            raise ValueError(f"bad value in element PatientID={SECRET_ID}")
        return real_prepare(self, source)

    monkeypatch.setattr(Predictor, "prepare", leaky)
    out = tmp_path / "r.csv"
    run_batch(folder, out, tiny_model)
    (row,) = [r for r in rows_of(out) if r["path"] == "dicom/IM1.dcm"]
    assert row["status"] == "error" and REMOVED in row["error"]
    assert SECRET_ID not in out.read_text(encoding="utf-8")


def test_unreadable_folders_are_reported_in_the_summary(
    folder: Path, tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deny(folder / "dicom", monkeypatch)
    try:
        summary = run_batch(folder, tmp_path / "r.csv", tiny_model)
    finally:
        (folder / "dicom").chmod(0o755)
    assert summary.unscanned_folders == ["dicom (folder cannot be opened (permission denied))"]
    assert "1 folders could not be read" in summary.describe()


@pytest.mark.parametrize(
    ("make_out", "message"),
    [
        (lambda folder, tmp: folder / "r.csv", "inside the scanned folder"),
        (lambda folder, tmp: folder / "nih" / "r.csv", "inside the scanned folder"),
        (lambda folder, tmp: tmp / "no" / "such" / "r.csv", "does not exist"),
        (lambda folder, tmp: tmp, "is a folder"),
    ],
)
def test_bad_output_paths_stop_before_anything_runs(
    folder: Path, tiny_model: Path, tmp_path: Path, make_out, message: str
) -> None:
    with pytest.raises(BatchSetupError, match=message):
        run_batch(folder, make_out(folder, tmp_path), tiny_model)


def test_missing_folder_and_unusable_model(tmp_path: Path, tiny_model: Path) -> None:
    with pytest.raises(BatchSetupError, match="no such folder"):
        run_batch(tmp_path / "missing", tmp_path / "r.csv", tiny_model)
    (tmp_path / "images").mkdir()
    with pytest.raises(BatchSetupError, match="unusable model.*not found"):
        run_batch(tmp_path / "images", tmp_path / "r.csv", tmp_path / "none.onnx")
    assert not (tmp_path / "r.csv").exists() and not (tmp_path / "r.csv.partial").exists()


def test_progress_reaches_the_total(folder: Path, tiny_model: Path, tmp_path: Path) -> None:
    calls: list[tuple[int, int | None, int, int, int]] = []
    run_batch(folder, tmp_path / "r.csv", tiny_model, on_progress=lambda *a: calls.append(a))
    assert calls[-1] == (10, 10, 8, 1, 0)  # files done, files, ok, errors, rows kept from an interrupted run
    assert [c[0] for c in calls] == list(range(1, 11))


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_text_progress_redraws_on_a_terminal_and_prints_lines_in_a_log() -> None:
    log, terminal = io.StringIO(), _Terminal()
    for stream in (log, terminal):
        bar = TextProgress(stream)
        for done in range(1, 101):
            bar(done, 100, done, 0)
    lines = log.getvalue().splitlines()
    assert 10 <= len(lines) <= 11 and lines[-1].startswith("[" + "#" * 28 + "] 100/100 files")
    assert terminal.getvalue().startswith("\r[") and terminal.getvalue().endswith("\n")
    assert terminal.getvalue().count("\n") == 1
