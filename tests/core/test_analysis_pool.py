"""The folder analysis's worker process (``viewer.core.analysis_pool``) and stopping a model run.

Oracles: ``Predictor.predict`` in this process for the worker's findings; the kernel's own view
of the worker (``/proc/PID/stat``) for a worker that must not outlive its window.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from tests.factories import make_model_pair
from tests.ui.images import chest_png
from viewer.core.analysis_pool import AnalysisPool, PoolStopped, WorkerSettings
from viewer.core.inference import Predictor
from viewer.core.model import RunStop, RunStopped
from viewer.core.resources import demo_model_path

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def _state(pid: int) -> str | None:
    """The process's state letter (R, S, T...), or None when it is gone (or a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    state = stat.rsplit(")", 1)[1].split()[0]
    return None if state in ("Z", "X") else state


def _wait(predicate, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def _receive_all(pool: AnalysisPool, chunks: int, seconds: float = 60.0) -> dict[int, list]:
    got: dict[int, list] = {}
    deadline = time.monotonic() + seconds
    while len(got) < chunks and time.monotonic() < deadline:
        received = pool.receive(timeout=0.1)
        if received is not None:
            got[received[0]] = received[1]
    return got


@pytest.fixture
def images(tmp_path: Path) -> list[Path]:
    return [chest_png(tmp_path / "images" / f"{i:03d}.png", seed=i, size=96) for i in range(6)]


def test_the_worker_gives_the_findings_predict_gives_in_the_order_sent(tmp_path: Path, images: list[Path]) -> None:
    model = make_model_pair(tmp_path / "model")
    broken = tmp_path / "images" / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 16)
    pool = AnalysisPool(WorkerSettings(model, threads=1))
    pool.start()
    try:
        pool.submit(1, images[:4])
        pool.submit(2, [broken, *images[4:]])
        got = _receive_all(pool, 2)
    finally:
        pool.close()
    assert sorted(got) == [1, 2]
    outcomes = got[1] + got[2]
    assert outcomes[4].findings is None and outcomes[4].thumbnail is None and outcomes[4].error
    here = Predictor.open(model, 1)
    for path, outcome in zip(images[:4] + images[4:], outcomes[:4] + outcomes[5:]):
        expected = here.predict(path)
        assert outcome.error is None and outcome.thumbnail is not None
        np.testing.assert_allclose(outcome.findings.probabilities, expected.probabilities, atol=1e-5)
        np.testing.assert_allclose(outcome.findings.heatmaps.astype(np.float32), expected.heatmaps, rtol=2e-3,
                                   atol=2e-3 * float(np.abs(expected.heatmaps).max()))


def test_a_paused_worker_starts_nothing_until_resumed_and_a_close_ends_it_even_then(tmp_path: Path,
                                                                                     images: list[Path]) -> None:
    model = make_model_pair(tmp_path / "model")
    pool = AnalysisPool(WorkerSettings(model, threads=1))
    pool.start()
    pid = pool.pid
    assert pid is not None
    try:
        pool.submit(1, images[:2])
        assert _receive_all(pool, 1), "the worker answered nothing"
        pool.pause()
        pool.submit(2, images[2:4])  # sent while it is paused: answered once it goes on
        assert pool.receive(timeout=1.0) is None, "a paused worker analysed a chunk"
        pool.resume()
        got = _receive_all(pool, 1)
        assert list(got) == [2]
        here = Predictor.open(model, 1)
        for path, outcome in zip(images[2:4], got[2]):
            np.testing.assert_allclose(outcome.findings.probabilities, here.predict(path).probabilities, atol=1e-5)
        pool.pause()
        pool.submit(3, images[4:])
    finally:
        pool.close()
    assert _wait(lambda: _state(pid) is None, 10), "a worker closed while paused is still there"
    with pytest.raises(PoolStopped):
        pool.submit(4, images[:1])


def test_a_pause_ends_the_model_run_under_way_and_the_chunk_is_run_again_whole(tmp_path: Path) -> None:
    """The demo model takes long enough on a chunk of eight for the pause to land mid-run."""
    paths = [chest_png(tmp_path / "big" / f"{i}.png", seed=i, size=512) for i in range(8)]
    pool = AnalysisPool(WorkerSettings(demo_model_path(), threads=1))
    pool.start()
    try:
        assert _wait(lambda: pool.receive(timeout=0.05) is not None or pool.ready, 60)
        pool.submit(1, paths)
        time.sleep(0.3)  # decoded by now, and in the model
        pool.pause()
        assert pool.receive(timeout=1.5) is None, "the chunk was answered during the pause"
        pool.resume()
        got = _receive_all(pool, 1)
    finally:
        pool.close()
    here = Predictor.open(demo_model_path(), 1)
    assert [o.error for o in got[1]] == [None] * 8
    for path, outcome in zip(paths, got[1]):
        np.testing.assert_allclose(outcome.findings.probabilities, here.predict(path).probabilities, atol=1e-4)


_ORPHAN_SCRIPT = textwrap.dedent("""
    import os, signal, sys, time
    from pathlib import Path
    from viewer.core.analysis_pool import AnalysisPool, WorkerSettings

    if __name__ == "__main__":
        pool = AnalysisPool(WorkerSettings(Path(sys.argv[1]), threads=1))
        pool.start()
        while pool.receive(timeout=0.1) is None and not pool.ready:
            pass
        pool.pause()
        pool.submit(1, [Path(p) for p in sys.argv[2:]])  # its decoders wait for the pause to end
        print(pool.pid, flush=True)
        time.sleep(0.3)
        os.kill(os.getpid(), signal.SIGKILL)  # the window's process dies with its worker paused
""")


def test_a_worker_paused_when_its_window_is_killed_does_not_stay_behind(tmp_path: Path,
                                                                         images: list[Path]) -> None:
    model = make_model_pair(tmp_path / "model")
    script = tmp_path / "window.py"
    script.write_text(_ORPHAN_SCRIPT)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    window = subprocess.Popen([sys.executable, str(script), str(model), *map(str, images)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    pid = None
    try:
        pid = int(window.stdout.readline())
        assert window.wait(60) == -signal.SIGKILL
        assert _wait(lambda: _state(pid) is None, 15), f"the paused worker {pid} outlived its window ({_state(pid)})"
    finally:
        window.kill()
        window.stdout.close()
        if pid is not None and _state(pid) is not None:
            os.kill(pid, signal.SIGKILL)


def test_a_model_run_stopped_from_another_thread_ends_and_the_model_goes_on_working() -> None:
    predictor = Predictor.open(demo_model_path(), 1)
    height, width = predictor.input_size
    rng = np.random.default_rng(0)
    batch = [rng.random((height, width), dtype=np.float32) for _ in range(8)]
    expected = predictor.predict_batch(batch[:1])[0]

    stop = RunStop()
    timer = threading.Timer(0.02, stop.stop)
    timer.start()
    with pytest.raises(RunStopped):
        predictor.predict_batch(batch, stop=stop)
    timer.join()
    with pytest.raises(RunStopped):  # a run started after the stop ends at once
        predictor.predict_prepared(batch[0], stop=stop)

    again = predictor.predict_prepared(batch[0], stop=RunStop())
    np.testing.assert_allclose(again.probabilities, expected.probabilities, atol=1e-6)
