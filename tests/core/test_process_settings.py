"""Process-wide settings belong to the programs, not to importing the library; CXR_THREADS is
read by the command line, checked, and reaches ONNX Runtime."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import viewer.__main__ as cli
from viewer.core.process_settings import SettingsError, threads_from_environment

REPO = Path(__file__).resolve().parents[2]


def python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("CXR_", "OPENCV_"))}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**clean, "PYTHONPATH": str(REPO), **env})


def test_importing_the_core_changes_no_global_setting() -> None:
    code = (
        "import os, pydicom.config as c\n"
        "before = c.settings.reading_validation_mode\n"
        "import viewer.core.loader, viewer.core.scan, viewer.core.preprocess, viewer.core.batch\n"
        "print(before == c.settings.reading_validation_mode, 'OPENCV_IO_MAX_IMAGE_PIXELS' in os.environ)\n"
    )
    result = python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "False"]


def test_the_command_line_quiets_pydicom_before_it_reads(tmp_path: Path) -> None:
    code = (
        "import sys, pydicom.config as c\n"
        "import viewer.__main__ as m\n"
        "m.main(['--version'])\n"
        "print('quiet' if c.settings.reading_validation_mode == c.IGNORE else 'loud', file=sys.stderr)\n"
    )
    result = python(code)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip().splitlines()[-1] == "quiet"


@pytest.mark.parametrize("value", ["0", "-2", "four", "1.5"])
def test_a_bad_cxr_threads_is_one_clear_line(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXR_THREADS", value)
    with pytest.raises(SettingsError, match="CXR_THREADS"):
        threads_from_environment()


def test_cxr_threads_unset_or_blank_means_ort_chooses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CXR_THREADS", raising=False)
    assert threads_from_environment() is None
    monkeypatch.setenv("CXR_THREADS", "  ")
    assert threads_from_environment() is None


def test_batch_takes_cxr_threads_and_threads_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int | None] = []

    def fake_run_batch(*args, threads=None, **kwargs):
        seen.append(threads)
        raise SettingsError("stop here")

    monkeypatch.setattr("viewer.core.batch.run_batch", fake_run_batch)
    folder = tmp_path / "in"
    folder.mkdir()
    monkeypatch.setenv("CXR_THREADS", "3")
    cli.main(["batch", str(folder), "--out", str(tmp_path / "o.csv")])
    cli.main(["batch", str(folder), "--out", str(tmp_path / "o.csv"), "--threads", "2"])
    assert seen == [3, 2]


def test_a_bad_cxr_threads_stops_batch_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "in").mkdir()
    monkeypatch.setenv("CXR_THREADS", "lots")
    assert cli.main(["batch", str(tmp_path / "in"), "--out", str(tmp_path / "o.csv")]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "CXR_THREADS" in err[0] and "lots" in err[0]


def test_the_threads_reach_onnx_runtime(tiny_model: Path) -> None:
    from viewer.core.inference import Predictor

    predictor = Predictor.open(tiny_model, threads=1, cache_size=0)
    options = predictor._model._classifier.get_session_options()
    assert options.intra_op_num_threads == 1


def test_help_texts_name_cxr_threads() -> None:
    assert "CXR_THREADS" in cli.batch_parser().format_help()
    assert "CXR_THREADS" in cli.gui_parser().format_help()
