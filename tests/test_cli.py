"""The command line (viewer/__main__.py): arguments, --version, the headless rule, and batch
end to end on a generated folder (and on the real data when present)."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

import viewer.__main__ as cli
from tests.conftest import shared_path
from tests.core.test_scan import SECRET_ID, SECRET_NAME, make_dicom, make_jpeg, make_png
from viewer import __version__

REPO = Path(__file__).resolve().parents[1]


def run_cli(*args: str | os.PathLike[str], cwd: Path, env: dict[str, str] | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``python -m viewer ARGS`` in a clean, display-less environment."""
    base = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    base["PYTHONPATH"] = str(REPO)
    base.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "viewer", *map(os.fspath, args)],
        cwd=cwd, env=base, capture_output=True, text=True, timeout=timeout,
    )


def assert_one_clear_line(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines and all(f in lines[-1] for f in fragments), result.stderr


# -- arguments and --version ----------------------------------------------------------------
def test_version_names_the_app_and_the_bundled_model(tmp_path: Path) -> None:
    result = run_cli("--version", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    first, second, third = result.stdout.splitlines()
    assert first == f"cxr-viewer {__version__}"
    assert second.startswith("bundled model: ")
    assert third.startswith("ONNX Runtime: onnxruntime ") and "CPU" in third, third
    demo = REPO / "resources" / "models" / "demo.onnx"
    assert ("no model" in second) != demo.is_file()


def test_version_reads_the_name_from_the_model_card(tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("viewer.core.resources.demo_model_path", lambda: tiny_model)
    assert cli.version_text().splitlines()[1].startswith("bundled model: tiny-test-model (tiny-cnn, model_id ")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--demo", "somewhere"], "either PATH or --demo"),
        (["/no/such/folder"], "no such file or folder"),
        (["--model", "/no/such/model.onnx"], "--model"),
        (["--bogus"], "unrecognized arguments"),
        (["batch"], "required"),
        (["batch", "x"], "--out"),
        (["batch", "x", "--out", "r.csv", "--threads", "0"], "not a positive number"),
        (["batch", "x", "--out", "r.csv", "--batch-size", "many"], "not a whole number"),
    ],
)
def test_argument_errors_exit_2_with_usage(tmp_path: Path, args: list[str], message: str) -> None:
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert "usage:" in result.stderr and message in result.stderr and "Traceback" not in result.stderr


def test_batch_on_a_missing_folder_is_one_line_and_nonzero(tmp_path: Path) -> None:
    result = run_cli("batch", tmp_path / "missing", "--out", tmp_path / "r.csv", cwd=tmp_path)
    assert_one_clear_line(result, "missing", "no such folder")
    assert not (tmp_path / "r.csv").exists()


def test_batch_with_a_broken_model_is_one_line_and_nonzero(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    result = run_cli("batch", tmp_path / "images", "--model", broken, "--out", tmp_path / "r.csv", cwd=tmp_path)
    assert_one_clear_line(result, "broken.onnx")
    assert not (tmp_path / "r.csv").exists()


def test_batch_refuses_to_write_into_the_scanned_folder(tmp_path: Path, tiny_model: Path) -> None:
    folder = tmp_path / "images"
    make_png(folder / "a.png")
    result = run_cli("batch", folder, "--model", tiny_model, "--out", folder / "r.csv", cwd=tmp_path)
    assert_one_clear_line(result, "inside the scanned folder")
    assert sorted(p.name for p in folder.iterdir()) == ["a.png"]


# -- the GUI path (the UI itself is tested in tests/ui) ---------------------------------------
@pytest.fixture
def fake_display_less(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def record_run_gui(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    """Replace viewer.ui.app with a recorder: these tests check what the CLI hands the UI."""
    calls: list[tuple] = []
    module = types.ModuleType("viewer.ui.app")
    module.run_gui = lambda path, model, demo, screenshot, threads=None, follow_links=False: calls.append(
        (path, model, demo, screenshot)) or 0
    monkeypatch.setitem(sys.modules, "viewer.ui.app", module)
    return calls


def test_headless_linux_renders_offscreen_with_a_default_screenshot(
    fake_display_less: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tiny_model: Path,
) -> None:
    calls = record_run_gui(monkeypatch)
    folder = fake_display_less / "images"
    folder.mkdir()
    assert cli.main([str(folder), "--model", str(tiny_model)]) == 0
    assert os.environ["QT_QPA_PLATFORM"] == "offscreen"
    assert calls == [(folder, tiny_model, False, fake_display_less / "cxr-viewer-screenshot.png")]
    assert "cxr-viewer-screenshot.png" in capsys.readouterr().err


def test_an_explicit_screenshot_and_a_display_are_respected(
    fake_display_less: Path, monkeypatch: pytest.MonkeyPatch, tiny_model: Path,
) -> None:
    calls = record_run_gui(monkeypatch)
    monkeypatch.setenv("DISPLAY", ":0")
    assert cli.main(["--model", str(tiny_model), "--screenshot", "shot.png"]) == 0
    assert "QT_QPA_PLATFORM" not in os.environ
    assert calls == [(None, tiny_model, False, Path("shot.png"))]


def test_demo_opens_the_demo_study_and_leaves_the_default_model_to_the_ui(
    fake_display_less: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(fake_display_less / "cache"))
    calls = record_run_gui(monkeypatch)
    assert cli.main(["--demo"]) == 0
    ((path, model, demo, screenshot),) = calls
    assert demo is True and model is None and screenshot == fake_display_less / "cxr-viewer-screenshot.png"
    assert path == fake_display_less / "cache" / "cxr-viewer" / "demo-study"
    assert len(list(path.rglob("*.dcm"))) == 2


def test_demo_headless_end_to_end_prints_findings_and_saves_the_screenshot(tmp_path: Path) -> None:
    """The README's first command on a machine with no display (the real UI, offscreen)."""
    pytest.importorskip("PySide6")
    result = run_cli("--demo", cwd=tmp_path, env={"XDG_CACHE_HOME": str(tmp_path / "cache")}, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    shot = tmp_path / "cxr-viewer-screenshot.png"
    assert shot.is_file() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "cxr-viewer-screenshot.png" in result.stdout + result.stderr


def test_a_missing_ui_is_a_clear_error(
    fake_display_less: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tiny_model: Path,
) -> None:
    monkeypatch.setitem(sys.modules, "viewer.ui.app", None)  # import fails as if absent
    assert cli.main(["--model", str(tiny_model)]) == 1
    assert "desktop viewer" in capsys.readouterr().err
# -- batch end to end -------------------------------------------------------------------------
@pytest.fixture
def mixed_folder(tmp_path: Path) -> Path:
    """DICOM (with identifiers), PNGs, a JPEG, a broken file, an empty DICOM, a non-image."""
    folder = tmp_path / "incoming"
    make_dicom(folder / "PA1" / "ST1" / "SE1" / "IM000001.dcm", instance=1)
    make_dicom(folder / "PA1" / "ST1" / "SE1" / "IM000002.dcm", instance=2, photometric="MONOCHROME1")
    make_dicom(folder / "PA2" / "IM000001", patient_id="P2", patient_name="Roe^R", preamble=False)
    make_png(folder / "nih" / "00000013_000.png", (128, 128))
    make_png(folder / "nih" / "00000013_001.png", (96, 96), bits=16)
    make_jpeg(folder / "photo.jpg", (80, 64))
    make_png(folder / os.fsdecode(b"caf\xe9.png"), (64, 64))
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    (folder / "empty.dcm").write_bytes(b"")
    (folder / "notes.txt").write_text("not an image")
    return folder


def read_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def snapshot(folder: Path) -> list[tuple[str, int]]:
    return sorted((os.fsdecode(p), p.stat().st_size) for p in folder.rglob("*"))


def test_batch_end_to_end_on_a_generated_folder(mixed_folder: Path, tiny_model: Path, tmp_path: Path) -> None:
    before = snapshot(mixed_folder)
    out = tmp_path / "results.csv"
    result = run_cli("batch", mixed_folder, "--model", tiny_model, "--out", out, "--batch-size", "3", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert snapshot(mixed_folder) == before  # nothing written next to the images
    columns, rows = read_rows(out)
    assert columns[:5] == ["Image Index", "path", "status", "error", "notes"]
    assert columns[-4:] == ["ood_score", "ood_flag", "patient_key", "study_key"]
    assert len([c for c in columns if c.startswith("prob_")]) == 14
    by_path = {row["path"]: row for row in rows}
    assert set(by_path) == {
        "PA1/ST1/SE1/IM000001.dcm", "PA1/ST1/SE1/IM000002.dcm", "PA2/IM000001", "nih/00000013_000.png",
        "nih/00000013_001.png", "photo.jpg", "caf\\udce9.png", "broken.png", "empty.dcm",
    }
    ok = {p for p, r in by_path.items() if r["status"] == "ok"}
    assert ok == set(by_path) - {"broken.png", "empty.dcm"}
    for path in ok:
        probabilities = [float(by_path[path][c]) for c in columns if c.startswith("prob_")]
        assert all(0.0 <= p <= 1.0 for p in probabilities)
        assert {by_path[path][c] for c in columns if c.startswith("flag_")} <= {"0", "1"}
    assert by_path["broken.png"]["error"] and by_path["empty.dcm"]["error"] == "empty file (0 bytes)"
    assert by_path["broken.png"]["prob_Mass"] == ""
    dicom = [by_path["PA1/ST1/SE1/IM000001.dcm"], by_path["PA1/ST1/SE1/IM000002.dcm"]]
    assert dicom[0]["patient_key"] == dicom[1]["patient_key"] != by_path["PA2/IM000001"]["patient_key"]
    assert by_path["caf\\udce9.png"]["Image Index"] == "caf\\udce9.png"
    text = out.read_text(encoding="utf-8")
    assert SECRET_ID not in text and "Doe" not in text and "Roe" not in text and "patient_id" not in text
    assert "1 other files skipped" in result.stderr and "7 ok, 2 errors" in result.stderr


def test_batch_include_patient_id_adds_the_column(mixed_folder: Path, tiny_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "with-ids.csv"
    result = run_cli("batch", mixed_folder, "--model", tiny_model, "--out", out, "--include-patient-id", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    columns, rows = read_rows(out)
    assert columns[-1] == "patient_id"
    ids = {row["path"]: row["patient_id"] for row in rows}
    assert ids["PA1/ST1/SE1/IM000001.dcm"] == SECRET_ID and ids["nih/00000013_000.png"] == "13"
    assert SECRET_NAME not in out.read_text(encoding="utf-8")  # names never, even then


def test_batch_where_every_file_fails_still_exits_0(tmp_path: Path, tiny_model: Path) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "a.png").write_bytes(b"garbage")
    (folder / "b.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\xff" * 64)
    out = tmp_path / "r.csv"
    result = run_cli("batch", folder, "--model", tiny_model, "--out", out, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    _, rows = read_rows(out)
    assert [r["status"] for r in rows] == ["error", "error"] and all(r["error"] for r in rows)


@pytest.mark.shared_data
def test_batch_on_the_real_dicom_folder_and_nih_slice(tmp_path: Path, tiny_model: Path) -> None:
    slice_folder = tmp_path / "nih-slice"
    slice_folder.mkdir()
    for image in sorted(shared_path("nih-sample", "images").glob("*.png"))[:12]:
        os.symlink(image, slice_folder / image.name)
    for folder, expected in ((shared_path("dicom"), 4), (slice_folder, 12)):
        out = tmp_path / f"{folder.name}.csv"
        result = run_cli("batch", folder, "--model", tiny_model, "--out", out, cwd=tmp_path, timeout=300)
        assert result.returncode == 0, result.stderr
        _, rows = read_rows(out)
        assert len(rows) == expected
        assert all(r["status"] == "ok" for r in rows), [r["error"] for r in rows if r["status"] != "ok"]


def test_the_trainer_reads_the_batch_csv_unchanged(tmp_path: Path, tiny_model: Path) -> None:
    """docs/design.md: cxr-train evaluate --predictions reads what cxr-viewer batch writes."""
    from tests.core.test_scan import write_data_entry
    from trainer.evaluation.predictions import evaluate_predictions

    folder = tmp_path / "nih" / "images"
    entries = []
    for i in range(8):
        make_png(folder / f"000000{10 + i}_000.png", (64 + 8 * i, 64 + 8 * i), seed=i)
        entries.append(f"000000{10 + i}_000.png,{'Mass' if i % 2 else 'No Finding'},0,{10 + i},50,F,PA,1,1,0.1,0.1")
    write_data_entry(tmp_path / "nih" / "Data_Entry_2017_v2020.csv", entries)
    (folder / "broken.png").write_bytes(b"not a png")
    out = tmp_path / "predictions.csv"
    assert run_cli("batch", folder, "--model", tiny_model, "--out", out, cwd=tmp_path).returncode == 0
    report = evaluate_predictions(out, data=folder, resamples=20).to_dict()
    assert report["rows_not_ok"] == 1 and report["rows_not_in_labels"] == 0
    assert 0.0 <= report["auroc"]["Mass"]["value"] <= 1.0
