"""``cxr-viewer batch`` interrupted and run again: a SIGKILL at any moment, Ctrl+C or SIGTERM,
then the same command, ends with the CSV an uninterrupted run writes, byte for byte.

Each run is a real ``python -m viewer batch`` process on a folder of a few dozen small real
images the tests generate: chest PNGs, DICOMs of three patients, a few broken files, and a
folder named after its patient whose first file is broken (its row is written before the
header that names the patient is read, so the finished CSV must be scrubbed again). The
signal tests stop the process at a known row with ``tests/reliability/pausing_batch.py``; the
SIGKILL test kills it after a random number of its progress lines, or after a random delay.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.factories import card_dict, make_model_pair
from tests.reliability.corpus import TEXT, chest_pixels, dicom_dataset, save
from tests.ui.images import chest_dicom, chest_png

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(300)

# The patient whose name and ID a folder carries: never in the finished CSV.
NAME, PATIENT_ID = "Quill^Ottoline", "QOX-7Z9"
SECRETS = ("Quill", "Ottoline", "7Z9")
PROGRESS = re.compile(r"\] (\d+)/(\d+) files")


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """35 files, every one of which gets a row (so the files done are the rows done)."""
    root = tmp_path_factory.mktemp("archive") / "export"
    patient = root / f"{NAME}_{PATIENT_ID}"
    (patient / "00_broken.png").parent.mkdir(parents=True)
    (patient / "00_broken.png").write_bytes(TEXT)  # first in its folder: written before the name is known
    for i in range(1, 6):
        chest_png(patient / f"{i:02d}.png", seed=100 + i, size=96)
    save(dicom_dataset(chest_pixels(96, 96, seed=9), patient_name=NAME, patient_id=PATIENT_ID), patient / "09.dcm")
    for i in range(16):
        chest_png(root / "chest" / f"c{i:02d}.png", seed=i, size=96)
    for i in range(9):
        chest_dicom(root / "dicom" / f"IM{i:02d}.dcm", seed=i, size=96, patient_name=f"Brook^Ada{i % 3}",
                    patient_id=f"BA-{i % 3}0{i % 3}")
    (root / "broken").mkdir()
    (root / "broken" / "empty.jpg").write_bytes(b"")
    (root / "broken" / "text.png").write_bytes(TEXT)
    (root / "broken" / "truncated.dcm").write_bytes((root / "dicom" / "IM00.dcm").read_bytes()[:400])
    return root


TOTAL = 35


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The model the runs use, another model, and the first with other thresholds."""
    folder = tmp_path_factory.mktemp("models")
    lower = card_dict("0" * 64)["thresholds"] | {"values": {label: 0.4 for label in card_dict("0" * 64)["labels"]}}
    return {
        "model": make_model_pair(folder / "a"),
        "other model": make_model_pair(folder / "b", seed=1),
        "other thresholds": make_model_pair(folder / "c", card_overrides={"thresholds": lower}),
    }


def environment() -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    return {**base, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}


def batch_argv(archive: Path, out: Path, model: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "viewer", "batch", str(archive), "--out", str(out), "--model", str(model),
            "--threads", "1", *extra]


def paused_argv(row: int, archive: Path, out: Path, model: Path, *extra: str) -> list[str]:
    """The batch, stopping after its ``row``-th row until ``OUT.paused`` is removed."""
    return [sys.executable, "-m", "tests.reliability.pausing_batch", str(row), *batch_argv(archive, out, model,
                                                                                           *extra)[3:]]


def run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, env=environment(), capture_output=True, text=True, timeout=240)


def start(argv: list[str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(argv, cwd=cwd, env=environment(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)


def wait_for(marker: Path, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline, "the batch never reached its pause"
        time.sleep(0.01)


def partial_of(out: Path) -> Path:
    return out.with_name(out.name + ".partial")


def whole_rows(path: Path) -> int:
    """Rows a CSV holds whole (ended by their line end), header not counted: none of this
    folder's names has a line break, so a row is a line."""
    data = path.read_bytes()
    return max(0, data[: data.rfind(b"\n") + 1].count(b"\n") - 1)


def last_done(stderr: str) -> int:
    """The files done in the last progress line of ``stderr`` (0 before the first)."""
    found = PROGRESS.findall(stderr)
    return int(found[-1][0]) if found else 0


@pytest.fixture(scope="module")
def reference(archive: Path, models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """What an uninterrupted run writes."""
    work = tmp_path_factory.mktemp("reference")
    out = work / "whole.csv"
    done = run(batch_argv(archive, out, models["model"]), work)
    assert done.returncode == 0, done.stderr
    assert f"{TOTAL} rows" in done.stderr
    text = out.read_text(encoding="utf-8")
    assert not any(secret in text for secret in SECRETS)
    return out.read_bytes()


def kill_at_random(process: subprocess.Popen[str], rng: random.Random) -> str:
    """SIGKILL ``process`` after a random number of its progress lines or, one time in four,
    after a random delay from its start (often before its first row); its stderr."""
    assert process.stderr is not None
    read = ""
    if rng.random() < 0.25:
        try:
            process.wait(timeout=rng.uniform(0.0, 0.8))
        except subprocess.TimeoutExpired:
            process.kill()
    else:
        wanted = rng.randint(1, 10)
        while wanted:
            line = process.stderr.readline()
            if not line:
                break
            read += line
            wanted -= bool(PROGRESS.search(line))
        time.sleep(rng.uniform(0.0, 0.005))
        process.kill()
    return read + process.communicate(timeout=120)[1]


@pytest.mark.parametrize("seed", [0, 1, 2, *(pytest.param(s, marks=pytest.mark.slow) for s in range(3, 16))])
def test_sigkill_at_random_moments_then_the_same_command_gives_the_rows_of_an_uninterrupted_run(
    seed: int, archive: Path, models: dict[str, Path], reference: bytes, tmp_path: Path
) -> None:
    rng = random.Random(seed)
    out = tmp_path / "results.csv"
    partial = partial_of(out)
    for _ in range(3):
        batch_size = rng.choice(["1", "2", "4", "8"])
        stderr = kill_at_random(start(batch_argv(archive, out, models["model"], "--batch-size", batch_size),
                                      tmp_path), rng)
        assert "Traceback" not in stderr
        if out.exists():  # it finished before the kill
            break
        # every row the progress reported done was on disk when the process died
        assert (whole_rows(partial) if partial.exists() else 0) >= last_done(stderr), stderr
    if not out.exists():
        kept = whole_rows(partial) if partial.exists() else 0
        final = run(batch_argv(archive, out, models["model"]), tmp_path)
        assert final.returncode == 0, final.stderr
        if kept:
            assert f"{kept} kept from the interrupted run, {TOTAL - kept} scored now" in final.stderr, final.stderr
    assert out.read_bytes() == reference
    assert not partial.exists()


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_and_sigterm_stop_cleanly_and_the_same_command_resumes(
    signum: int, status: int, archive: Path, models: dict[str, Path], reference: bytes, tmp_path: Path
) -> None:
    out = tmp_path / "results.csv"
    marker = out.with_name(out.name + ".paused")
    process = start(paused_argv(12, archive, out, models["model"], "--batch-size", "1"), tmp_path)
    wait_for(marker, process)
    process.send_signal(signum)
    marker.unlink()
    stderr = process.communicate(timeout=120)[1]
    assert process.returncode == status, stderr
    assert "Traceback" not in stderr
    last = stderr.splitlines()[-1]
    assert "stopped" in last and "run the same command again to resume" in last, stderr
    # the rows done are in the partial file, whole, and scrubbed with every identity read so far
    partial = partial_of(out)
    data = partial.read_bytes()
    assert data.endswith(b"\r\n") and not out.exists()
    kept = whole_rows(partial)
    assert 12 <= kept < TOTAL
    assert not any(secret.encode() in data for secret in SECRETS)

    resumed = run(batch_argv(archive, out, models["model"]), tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{kept} kept from the interrupted run, {TOTAL - kept} scored now" in resumed.stderr
    assert out.read_bytes() == reference
    assert not partial.exists()


def assert_one_line(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and all(f in lines[0] for f in fragments), result.stderr


def test_another_model_or_other_thresholds_refuse_to_resume_and_say_so(
    archive: Path, models: dict[str, Path], reference: bytes, tmp_path: Path
) -> None:
    out = tmp_path / "results.csv"
    marker = out.with_name(out.name + ".paused")
    process = start(paused_argv(10, archive, out, models["model"], "--batch-size", "2"), tmp_path)
    wait_for(marker, process)
    process.kill()
    process.communicate(timeout=120)
    partial = partial_of(out)
    before = partial.read_bytes()
    for changed, words in (("other model", "another model"), ("other thresholds", "other thresholds")):
        refused = run(batch_argv(archive, out, models[changed]), tmp_path)
        assert_one_line(refused, words, "--overwrite")
        assert partial.read_bytes() == before and not out.exists()

    resumed = run(batch_argv(archive, out, models["model"]), tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "kept from the interrupted run" in resumed.stderr
    assert out.read_bytes() == reference


def test_a_finished_csv_is_kept_unless_overwrite_is_given(
    archive: Path, models: dict[str, Path], reference: bytes, tmp_path: Path
) -> None:
    out = tmp_path / "results.csv"
    out.write_bytes(b"a finished run's rows\r\n")
    refused = run(batch_argv(archive, out, models["model"]), tmp_path)
    assert_one_line(refused, "already exists", "--overwrite")
    assert out.read_bytes() == b"a finished run's rows\r\n"
    assert not partial_of(out).exists()

    replaced = run(batch_argv(archive, out, models["model"], "--overwrite"), tmp_path)
    assert replaced.returncode == 0, replaced.stderr
    assert out.read_bytes() == reference
