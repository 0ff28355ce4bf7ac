"""The trainer under faults: killed while it writes a checkpoint, fed corrupt images, given an
output folder it cannot write or a disk without room. Each run is a real ``cxr-train train``
process on generated NIH-like data (tiny arch, 64 px).

The moment of the kill is made deterministic by running the trainer through
``tests/reliability/pausing_trainer.py``, which wraps ``torch.save`` in that process so that the
N-th write of the checkpoint file NAME stops half-way through, flushed to disk, and drops a
marker file beside it (the trainer itself has no test hook).
"""

from __future__ import annotations

import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.reliability.corpus import TEXT
from tests.trainer.synthetic import make_dataset

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.timeout(900), pytest.mark.slow]  # real cxr-train runs
TINY = ["--arch", "tiny", "--size", "64", "--batch-size", "8", "--bootstrap", "20", "--threads", "1",
        "--log-every", "0", "--ood-sample", "100", "--gallery", "0", "--no-export"]


def train_argv(*args: str | os.PathLike[str]) -> list[str]:
    return [sys.executable, "-m", "trainer", "train", *map(os.fspath, args)]


def paused_train_argv(pause: str, *args: str | os.PathLike[str]) -> list[str]:
    """``cxr-train train`` whose write ``pause`` (``NAME:N``) of a checkpoint stops half-way."""
    return [sys.executable, "-m", "tests.reliability.pausing_trainer", pause, "train", *map(os.fspath, args)]


def environment(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", **extra}


def run(argv: list[str], cwd: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, env=environment(**extra), capture_output=True, text=True, timeout=600)


def assert_one_error_before_training(result: subprocess.CompletedProcess[str], *fragments: str) -> str:
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("cxr-train: error:")]
    assert len(errors) == 1, result.stderr
    assert all(f in errors[0] for f in fragments), errors[0]
    assert "epoch 1/" not in result.stderr, "training started before the problem was found"
    return errors[0]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("nih") / "nih")


def model_state(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)["model"]


def test_sigkill_while_writing_a_checkpoint_keeps_the_last_one_and_resume_continues(data: Path,
                                                                                    tmp_path: Path) -> None:
    out = tmp_path / "run"
    last = out / "checkpoints" / "last.pt"
    marker = last.with_name("last.pt.tmp.paused")
    process = subprocess.Popen(paused_train_argv("last.pt:2", "--data", data, "--out", out, "--epochs", "2", *TINY),
                               cwd=tmp_path, env=environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    try:
        while not marker.exists():  # the wrapper's marker: the second last.pt is half written
            assert process.poll() is None, process.communicate()[1]
            time.sleep(0.05)
        partial = last.with_name("last.pt.tmp")
        assert 0 < partial.stat().st_size < last.stat().st_size
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.communicate()
    assert process.returncode == -signal.SIGKILL

    # The checkpoint of epoch 1 is whole and loads; the interrupted write never replaced it.
    state = torch.load(last, map_location="cpu", weights_only=True)
    assert state["epoch"] == 1 and len(state["history"]) == 1
    # the half-written file really is half a checkpoint: torch cannot read it
    with pytest.raises((RuntimeError, EOFError, pickle.UnpicklingError)):
        torch.load(partial, map_location="cpu", weights_only=True)

    resumed = run(train_argv("--resume", last, "--threads", "1"), tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "after epoch 1" in resumed.stderr and "epoch 2/2" in resumed.stderr and "epoch 1/2" not in resumed.stderr
    assert torch.load(last, map_location="cpu", weights_only=True)["epoch"] == 2

    # ... to the same weights as a run that was never interrupted
    straight = run(train_argv("--data", data, "--out", tmp_path / "straight", "--epochs", "2", *TINY), tmp_path)
    assert straight.returncode == 0, straight.stderr
    reference = model_state(tmp_path / "straight" / "checkpoints" / "last.pt")
    continued = model_state(last)
    assert reference.keys() == continued.keys()
    assert all(torch.equal(reference[k], continued[k]) for k in reference)


def corrupt_copy(data: Path, target: Path) -> list[str]:
    """A copy of ``data`` with four of its images broken in different ways; their names."""
    shutil.copytree(data, target)
    images = sorted((target / "images").iterdir())
    broken = [images[3], images[10], images[17], images[24]]
    broken[0].write_bytes(broken[0].read_bytes()[:100])  # truncated
    broken[1].write_bytes(TEXT)  # text named .png
    broken[2].write_bytes(b"")  # empty
    broken[3].unlink()
    os.mkfifo(broken[3])  # a pipe: reading it would block for ever
    return [p.name for p in broken]


def test_corrupt_images_are_skipped_and_counted_in_the_log(data: Path, tmp_path: Path) -> None:
    folder = tmp_path / "data"
    names = corrupt_copy(data, folder)
    stopped = run(train_argv("--data", folder, "--out", tmp_path / "stopped", "--epochs", "1",
            "--strict-images", *TINY), tmp_path)
    assert_one_error_before_training(stopped, "4 image(s) cannot be read", "--skip-bad-images")

    out = tmp_path / "run"
    result = run(train_argv("--data", folder, "--out", out, "--epochs", "1", "--skip-bad-images", *TINY), tmp_path)
    assert result.returncode == 0, result.stderr
    log = (out / "train.log").read_text(encoding="utf-8")
    assert "4 unreadable images left out" in log
    for name in names:
        assert any(name in line for line in log.splitlines() if "left out:" in line), name
        assert name not in (out / "split.csv").read_text()
    assert "epoch 1/1" in log


def in_mount_namespace(mount_options: str, folder: Path, argv: list[str],
        cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` in a private mount namespace where ``folder`` is a fresh tmpfs."""
    folder.mkdir(parents=True, exist_ok=True)
    script = f'mount -t tmpfs -o {mount_options} cxr-test "$1" && shift && exec "$@"'
    try:
        return subprocess.run(["unshare", "-m", "sh", "-c", script, "sh", str(folder), *argv], cwd=cwd,
                              env=environment(), capture_output=True, text=True, timeout=600)
    except FileNotFoundError:
        pytest.skip("unshare is not installed: cannot make a small or read-only disk")


def _mount_namespaces_work(tmp_path: Path) -> None:
    probe = subprocess.run(["unshare", "-m", "sh", "-c", f"mount -t tmpfs -o size=64k cxr-test {tmp_path}"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"no private mount namespace here ({probe.stderr.strip()}): cannot make a full or read-only disk")


def test_an_unwritable_output_folder_stops_before_training(data: Path, tmp_path: Path) -> None:
    _mount_namespaces_work(tmp_path)
    disk = tmp_path / "readonly"
    result = in_mount_namespace("ro,size=1m", disk, train_argv("--data", data, "--out", disk / "run",
                                                               "--epochs", "1", *TINY), tmp_path)
    line = assert_one_error_before_training(result, str(disk / "run"))
    assert "Read-only file system" in line or "cannot be written" in line


def test_a_full_disk_stops_before_training(data: Path, tmp_path: Path) -> None:
    """600 kB holds the preprocessed cache (~480 kB) but not the checkpoints as well."""
    _mount_namespaces_work(tmp_path)
    disk = tmp_path / "small"
    result = in_mount_namespace("size=600k", disk, train_argv("--data", data, "--out", disk / "run",
                                                              "--epochs", "2", *TINY), tmp_path)
    line = assert_one_error_before_training(result, str(disk / "run"))
    assert "space" in line
