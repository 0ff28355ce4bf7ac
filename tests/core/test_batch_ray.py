"""viewer.core.batch_ray: ``batch --engine ray`` writes the thread engine's CSV, byte for byte.

On a real Ray cluster of three nodes (``ray start --head`` and two ``ray start`` workers, each on
its own loopback address: ``tests/core/ray_cluster.py``): the model ran on two nodes or more;
``--shard`` and a stopped run's resume are the thread engine's; the real NIH files score the
same; a worker node killed mid-run costs only time. From the command line, without an address,
on a private local instance. Without Ray installed, one clear line.

Byte equality, not a tolerance: both engines score with the same functions
(``batch.prepare_file``, ``batch.score_prepared``) and the same model, in batches of different
make-up; ONNX Runtime's results for one image do not depend on the others in its batch (the
thread engine's ``test_every_row_matches_the_model_on_that_image_for_any_batch_size`` holds it to
that), so the CSV's six decimals are the same strings.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.core.ray_cluster import LoopbackCluster, Node
from tests.test_cli import REPO, assert_one_clear_line, run_cli
from tests.ui.images import chest_dicom, chest_png
from viewer.core.batch import BatchSetupError, ThreadEngine, run_batch
from viewer.core.batch_ray import RAY_MISSING, RayEngine
from viewer.core.batch_shard import Shard
from viewer.core.resources import demo_model_path
from viewer.core.scan import ScannedImage, scan_folder

NEEDS_RAY = "needs the ray extra (pip install 'cxr-viewer[ray]')"


@pytest.fixture(scope="module")
def cluster() -> Iterator[LoopbackCluster]:
    """Three nodes of one CPU each, for the module's tests; the last test kills a worker."""
    if importlib.util.find_spec("ray") is None:  # not imported here: Ray reads its settings at import
        pytest.skip(NEEDS_RAY)
    if not sys.platform.startswith("linux"):
        pytest.skip("the nodes need loopback addresses past 127.0.0.1, which only Linux has without set-up")
    running = LoopbackCluster(workers=2, cpus=1).start()
    saved = {name: os.environ.get(name) for name in running.env}
    os.environ.update(running.env)  # this process, the driver, joins with the cluster's token (read once)
    try:
        yield running
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        running.stop()


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """PNGs in nested folders, DICOMs of two patients, a folder named after its patient (scrubbed
    from the paths), broken files, and a file that is no image (no row)."""
    root = tmp_path_factory.mktemp("ray") / "archive"
    for i in range(16):
        chest_png(root / ("a" if i % 3 else "b/c") / f"{i:02d}.png", seed=i, size=64)
    for i in range(4):
        chest_dicom(root / f"pat{i % 2}" / f"IM{i}.dcm", seed=i, size=64,
                    patient_name=f"Ward^Ann{i % 2}", patient_id=f"RY-{i % 2}00")
    chest_dicom(root / "Ward^Ann0" / "1.dcm", size=64, patient_name="Ward^Ann0", patient_id="RY-000")
    (root / "Ward^Ann0" / "0_broken.png").write_bytes(b"not a png")
    (root / "a" / "empty.dcm").write_bytes(b"")
    (root / "a" / "notes.txt").write_text("not an image")
    return root


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.factories import make_model_pair

    return make_model_pair(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def reference(archive: Path, tiny: Path, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The archive's CSV from the thread engine, this process alone."""
    return thread_csv(archive, tiny, tmp_path_factory.mktemp("reference") / "threads.csv")


def thread_csv(folder: Path, model: Path, out: Path, shard: Shard | None = None) -> bytes:
    assert run_batch(folder, out, model, shard=shard, engine=ThreadEngine(batch_size=3)).finished
    return out.read_bytes()


CLI = "import sys; from viewer.__main__ import main; sys.exit(main(sys.argv[1:]))"
RAY_SETTINGS = ("RAY_ADDRESS", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH",
                "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER")


def run_python(script: str, *args: str | os.PathLike[str], cwd: Path, env: dict[str, str] | None = None,
               timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``python -c SCRIPT ARGS`` as ``tests.test_cli.run_cli`` runs the command line, without any
    Ray setting of this process (a cluster's address or token)."""
    base = {k: v for k, v in os.environ.items()
            if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM", *RAY_SETTINGS)}
    base.update(PYTHONPATH=str(REPO), **(env or {}))
    return subprocess.run([sys.executable, "-c", script, *map(os.fspath, args)], cwd=cwd, env=base,
                          capture_output=True, text=True, timeout=timeout)


def start_python(script: str, *args: str | os.PathLike[str], cwd: Path,
                 env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """``run_python``, started and left running, its stderr a pipe to read as it goes."""
    base = {k: v for k, v in os.environ.items()
            if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM", *RAY_SETTINGS)}
    base.update(PYTHONPATH=str(REPO), **(env or {}))
    return subprocess.Popen([sys.executable, "-c", script, *map(os.fspath, args)], cwd=cwd, env=base,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def images_in(folder: Path) -> int:
    return sum(isinstance(item, ScannedImage) for item in scan_folder(folder))


# -- on a cluster: the key tests --------------------------------------------------------------------
@pytest.mark.loopback
@pytest.mark.slow
def test_a_cluster_writes_the_single_process_csv_and_the_model_ran_on_two_nodes(
    cluster: LoopbackCluster, archive: Path, tiny: Path, reference: bytes, tmp_path: Path
) -> None:
    engine = RayEngine(cluster.address, batch_size=2, actors=2)
    out = tmp_path / "ray.csv"
    summary = run_batch(archive, out, tiny, engine=engine)
    assert summary.finished and out.read_bytes() == reference
    assert (summary.rows, summary.other_files) == (23, 1)
    assert engine.stats.nodes == 3
    # two actors of one CPU each on nodes of one CPU each: two nodes, wherever Ray put them
    assert len(engine.stats.model_nodes) >= 2, engine.stats
    assert sum(engine.stats.rows_by_node.values()) == images_in(archive)  # files the scan could not read need no model
    from ray._common.usage import usage_lib

    assert not usage_lib.usage_stats_enabled()  # the driver reports nothing, whatever its environment said


@pytest.mark.loopback
@pytest.mark.slow
def test_nodes_that_cannot_see_the_images_are_found(cluster: LoopbackCluster, archive: Path, tmp_path: Path) -> None:
    """The engine refuses a cluster without the folder at the same path on every node. Here a
    path only this process sees: one of its own file descriptors, under /proc/self."""
    import ray

    from viewer.core.batch_ray import nodes_without

    image = next(archive.rglob("*.png"))
    ray.init(address=cluster.address, log_to_driver=False)
    try:
        assert nodes_without(ray, os.fsencode(image)) == (0, 3)
        with open(image, "rb") as handle:
            mine = os.dup2(handle.fileno(), 987)  # no worker process has that descriptor open
            try:
                assert os.path.exists(f"/proc/self/fd/{mine}")
                assert nodes_without(ray, os.fsencode(f"/proc/self/fd/{mine}")) == (3, 3)
            finally:
                os.close(mine)
    finally:
        ray.shutdown()


@pytest.mark.loopback
@pytest.mark.slow
def test_shards_and_a_stopped_run_resume_as_with_the_thread_engine(
    cluster: LoopbackCluster, archive: Path, tiny: Path, reference: bytes, tmp_path: Path
) -> None:
    shard = Shard(2, 3)
    out = tmp_path / "shard.csv"
    assert run_batch(archive, out, tiny, shard=shard, engine=RayEngine(cluster.address, batch_size=2)).finished
    assert out.read_bytes() == thread_csv(archive, tiny, tmp_path / "threads-shard.csv", shard=shard)

    # stopped once some rows are written: they are kept, and the next run scores only the rest
    out = tmp_path / "resumed.csv"
    written: list[int] = []
    stopped = run_batch(archive, out, tiny, engine=RayEngine(cluster.address, batch_size=2),
                        on_progress=lambda done, total, ok, errors, kept: written.append(ok + errors),
                        cancelled=lambda: bool(written) and written[-1] >= 5)
    assert not stopped.finished and 5 <= stopped.rows < 23 and not out.exists()
    resumed = run_batch(archive, out, tiny, engine=RayEngine(cluster.address, batch_size=2))
    assert resumed.finished and resumed.resume.kept == stopped.rows
    assert out.read_bytes() == reference


@pytest.mark.loopback
@pytest.mark.slow
@pytest.mark.shared_data
def test_the_real_nih_files_score_as_with_the_thread_engine(cluster: LoopbackCluster, tmp_path: Path) -> None:
    from tests.conftest import shared_path

    images = sorted(shared_path("nih-sample", "images").glob("*.png"))[:24]
    folder = tmp_path / "nih"
    folder.mkdir()
    for image in images:
        shutil.copy(image, folder / image.name)
    model = demo_model_path()
    out = tmp_path / "ray.csv"
    engine = RayEngine(cluster.address, batch_size=4, actors=2)
    assert run_batch(folder, out, model, engine=engine).finished
    assert out.read_bytes() == thread_csv(folder, model, tmp_path / "threads.csv")
    assert len(engine.stats.model_nodes) >= 2


@pytest.mark.loopback
@pytest.mark.slow
def test_a_worker_node_lost_mid_run_costs_only_time(cluster: LoopbackCluster, tmp_path: Path) -> None:
    """The last test of the module: it kills a worker node (its raylet, object store and actors).
    The real model, so that the node is busy when it goes: its block is scored again elsewhere,
    and the blocks it finished and the driver had not fetched yet are made again."""
    folder = tmp_path / "phantoms"
    for i in range(40):
        chest_png(folder / f"{i:02d}.png", seed=100 + i, size=256)
    model = demo_model_path()
    engine = RayEngine(cluster.address, batch_size=4, actors=2)
    import ray

    killed: list[tuple[Node, int, dict[str, int]]] = []

    def kill_a_worker_that_scored(done: int, total: int | None, ok: int, errors: int, kept: int) -> None:
        if killed:
            return
        ips = {node["NodeID"]: node["NodeManagerAddress"] for node in ray.nodes()}
        for worker in cluster.workers:
            if any(ips.get(node) == worker.ip for node in engine.stats.model_nodes):
                worker.kill()
                killed.append((worker, done, dict(engine.stats.rows_by_node)))
                return

    out = tmp_path / "ray.csv"
    summary = run_batch(folder, out, model, engine=engine, on_progress=kill_a_worker_that_scored)
    assert killed, "no worker node scored a block: nothing was killed"
    worker, done_then, rows_then = killed[0]
    assert not worker.alive and done_then <= 24, f"killed after {done_then} of 40 rows: too late to matter"
    assert summary.finished and out.read_bytes() == thread_csv(folder, model, tmp_path / "threads.csv")
    # the rows left when the node went were scored by the nodes that stayed
    after = {node: count - rows_then.get(node, 0) for node, count in engine.stats.rows_by_node.items()}
    assert sum(after.values()) == 40 - sum(rows_then.values()) > 0


# -- a local instance, from the command line ------------------------------------------------------
@pytest.mark.slow
def test_the_command_line_on_a_local_instance_stops_on_sigterm_and_resumes_to_the_same_csv(tmp_path: Path) -> None:
    """No --ray-address: a private Ray instance on 127.0.0.1, started and stopped by the command,
    with its own token (nothing written to ~/.ray) and its own temporary folder (removed). SIGTERM
    mid-run stops it as it stops the thread engine (Ray's own handler, which exits at once, is
    not left in place): exit 143, the rows done kept; the same command then finishes the CSV."""
    if importlib.util.find_spec("ray") is None:
        pytest.skip(NEEDS_RAY)
    folder = tmp_path / "phantoms"
    for i in range(24):  # the real model, so that there is time to stop it after the first rows
        chest_png(folder / f"{i:02d}.png", seed=200 + i, size=256)
    model = demo_model_path()
    home = tmp_path / "home"
    home.mkdir()
    out = tmp_path / "local.csv"
    command = ["batch", folder, "--out", out, "--model", model, "--engine", "ray", "--batch-size", "2"]
    temporary = set(Path("/tmp").glob("cxr-ray-*"))

    first = start_python(CLI, *command, cwd=tmp_path, env={"HOME": str(home)})
    try:
        assert first.stderr is not None
        for line in first.stderr:  # a progress line (rows written, the rest under way)
            if " ok " in line:
                break
        first.send_signal(signal.SIGTERM)
        stderr = first.stderr.read()
        assert first.wait(timeout=120) == 143, stderr
    finally:
        first.kill()
    assert "stopped by SIGTERM" in stderr and not out.exists() and out.with_name("local.csv.partial").exists()

    second = run_python(CLI, *command, cwd=tmp_path, env={"HOME": str(home)}, timeout=240)
    assert second.returncode == 0, second.stderr
    assert "kept from the interrupted run" in second.stderr
    assert "ran on a local Ray instance (1 node)" in second.stderr
    assert out.read_bytes() == thread_csv(folder, model, tmp_path / "threads.csv")
    assert not (home / ".ray").exists()
    assert set(Path("/tmp").glob("cxr-ray-*")) <= temporary


def test_a_local_instance_off_the_loopback_address_is_refused() -> None:
    """Ray, imported in this process before the batch with its default settings, would put a
    "local" instance on the machine's network address: the engine says so and stops."""

    class OnTheNetwork:
        class util:  # noqa: N801 - stands for the module ray.util
            @staticmethod
            def get_node_ip_address() -> str:
                return "192.0.2.7"

    with pytest.raises(BatchSetupError, match="would listen on 192.0.2.7, not only on the loopback address"):
        RayEngine()._check_loopback(OnTheNetwork, "local")
    RayEngine()._check_loopback(OnTheNetwork, "10.0.0.5:6379")  # a cluster's nodes are on its network


# -- without Ray ----------------------------------------------------------------------------------
def test_without_ray_the_engine_is_one_clear_line_and_nothing_is_written(archive: Path, tiny: Path,
                                                                          tmp_path: Path) -> None:
    out = tmp_path / "r.csv"
    result = run_python("import sys; sys.modules['ray'] = None; " + CLI,
                        "batch", archive, "--out", out, "--model", tiny, "--engine", "ray", cwd=tmp_path)
    assert_one_clear_line(result, RAY_MISSING)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_ray_options_need_the_ray_engine(archive: Path, tmp_path: Path) -> None:
    result = run_cli("batch", archive, "--out", tmp_path / "r.csv", "--ray-address", "127.0.0.1:6379", cwd=tmp_path)
    assert result.returncode == 2 and "--ray-address and --ray-actors go with --engine ray" in result.stderr
