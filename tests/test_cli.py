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
    first, second = result.stdout.splitlines()
    assert first == f"cxr-viewer {__version__}"
    assert second.startswith("bundled model: ")
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
    module.run_gui = lambda path, model, demo, screenshot: calls.append((path, model, demo, screenshot)) or 0
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


def test_demo_opens_the_demo_study_and_falls_back_to_a_plain_viewer_without_a_model(
    fake_display_less: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    from viewer.core.resources import MissingResourceError

    def missing() -> Path:
        raise MissingResourceError("the bundled demo model is missing: test")

    monkeypatch.setenv("XDG_CACHE_HOME", str(fake_display_less / "cache"))
    monkeypatch.setattr("viewer.core.resources.demo_model_path", missing)
    calls = record_run_gui(monkeypatch)
    assert cli.main(["--demo"]) == 0
    ((path, model, demo, _),) = calls
    assert demo is True and model is None
    assert path == fake_display_less / "cache" / "cxr-viewer" / "demo-study"
    assert "plain viewer" in capsys.readouterr().err


def test_a_missing_ui_is_a_clear_error(
    fake_display_less: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tiny_model: Path,
) -> None:
    monkeypatch.setitem(sys.modules, "viewer.ui.app", None)  # import fails as if absent
    assert cli.main(["--model", str(tiny_model)]) == 1
    assert "desktop viewer" in capsys.readouterr().err
