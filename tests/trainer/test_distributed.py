"""Distributed training: torchrun with gloo, 2 processes on this CPU machine.

The claim tested: two processes compute what one process computes on the same data and seed,
up to the order of float summation. Stated tolerance: weights within 1e-5 absolute (observed
~3e-7), losses within 1e-6, the same validation and test AUROCs. It holds because nothing but
summation order differs: the two shards of each step are the single process's batch
(``ShardedPermutation``), BatchNorm normalises over the global batch (``GlobalBatchNorm2d``),
DDP averages gradients of per-process means of equal shards (= the global mean), and the
augmentation of image i in epoch e is seeded by (seed, e, i) whichever process draws it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.utils.data import RandomSampler

from trainer.errors import TrainerError
from trainer.training.distributed import Distributed, ShardedPermutation, check_batch

ROOT = Path(__file__).resolve().parents[2]
OPTIONS = ["--arch", "tiny", "--size", "64", "--epochs", "3", "--batch-size", "8", "--warmup-epochs", "0.5",
           "--bootstrap", "50", "--gallery", "0", "--threads", "1", "--log-every", "0", "--ood-sample", "100",
           "--workers", "0"]


def test_one_process_draws_the_batches_random_sampler_draws() -> None:
    seed = 0 * 100_003 + 4
    expected = list(RandomSampler(range(37), generator=torch.Generator().manual_seed(seed)))
    assert list(ShardedPermutation(37, 8, seed, drop_last=False)) == expected
    assert list(ShardedPermutation(37, 8, seed)) == expected[:32]  # whole batches only


@pytest.mark.parametrize("world", [2, 4])
def test_the_shards_of_a_step_are_the_single_process_batch(world: int) -> None:
    single = list(ShardedPermutation(50, 16, seed=9))
    shards = [list(ShardedPermutation(50, 16, 9, Distributed(rank, world, rank))) for rank in range(world)]
    local = 16 // world
    assert all(len(shard) == len(single) // world for shard in shards)
    for step in range(len(single) // 16):
        together = sorted(i for shard in shards for i in shard[step * local:(step + 1) * local])
        assert together == sorted(single[step * 16:(step + 1) * 16])


def test_the_global_batch_must_divide_among_the_processes() -> None:
    assert check_batch(Distributed(0, 2, 0), 16, 100) == 8
    with pytest.raises(TrainerError, match="global batch and must divide evenly among the 3 processes"):
        check_batch(Distributed(0, 3, 0), 16, 100)
    with pytest.raises(TrainerError, match="fewer than one global batch"):
        check_batch(Distributed(0, 2, 0), 16, 10)


def _torchrun(args: list[str], tmp_path: Path, processes: int = 2) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    env.pop("WORLD_SIZE", None)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}", *args]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{' '.join(args)}\n{done.stderr[-6000:]}"
    return done


def _train(args: list[str], tmp_path: Path, processes: int) -> subprocess.CompletedProcess[str]:
    if processes > 1:
        return _torchrun(["-m", "trainer", "train", *args], tmp_path, processes)
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    done = subprocess.run([sys.executable, "-m", "trainer", "train", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_global_batchnorm_is_batchnorm_of_the_whole_batch(tmp_path: Path) -> None:
    _torchrun([str(ROOT / "tests" / "trainer" / "ddp_batchnorm_worker.py"), str(tmp_path)], tmp_path)
    from tests.trainer.ddp_batchnorm_worker import batch, network

    model = network()
    x = batch().requires_grad_(True)
    y = model(x)
    weights = torch.cat([torch.arange(half.numel()).view_as(half).sin() for half in y.detach().chunk(2)])
    (y * weights).mean().backward()
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    torch.testing.assert_close(torch.cat([r["y"] for r in ranks]), y.detach(), atol=1e-5, rtol=1e-5)
    # each process's input gradient is that of the sum of both processes' losses: 2x the mean's
    torch.testing.assert_close(torch.cat([r["x_grad"] for r in ranks]) / 2, x.grad, atol=1e-8, rtol=1e-4)
    for name, parameter in model.named_parameters():
        for r in ranks:
            torch.testing.assert_close(r["grads"][name], parameter.grad, atol=1e-8, rtol=1e-4)
    for r in ranks:
        torch.testing.assert_close(r["running_mean"], model[1].running_mean, atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(r["running_var"], model[1].running_var, atol=1e-6, rtol=1e-5)


@pytest.fixture(scope="module")
def runs(tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same tiny run with one process, two processes, and two processes interrupted and resumed
    (all through the command line, as a user starts them)."""
    root = tmp_path_factory.mktemp("ddp")
    # torchrun takes --monitor for an abbreviation of its own --monitor-interval: a config file
    config = root / "options.yaml"
    config.write_text("monitor: val_auroc\naverage: ema\nema_decay: 0.9\n", encoding="utf-8")
    common = ["--config", str(config), "--data", str(tiny_data), *OPTIONS]
    out = {name: root / name for name in ("single", "ddp", "resumed")}
    _train([*common, "--out", str(out["single"])], root, 1)
    done = _train([*common, "--out", str(out["ddp"])], root, 2)
    (out["ddp"] / "stdout.txt").write_text(done.stdout, encoding="utf-8")
    _train([*common, "--out", str(out["resumed"]), "--stop-after", "1", "--no-export"], root, 2)
    _train(["--resume", str(out["resumed"] / "checkpoints" / "last.pt")], root, 2)
    return out


def _checkpoint(run: Path, name: str = "last.pt") -> dict:
    return torch.load(run / "checkpoints" / name, map_location="cpu", weights_only=True)


@pytest.mark.slow
def test_two_processes_train_what_one_process_trains(runs: dict[str, Path]) -> None:
    one, two = _checkpoint(runs["single"]), _checkpoint(runs["ddp"])
    for key, value in one["model"].items():
        torch.testing.assert_close(two["model"][key].float(), value.float(), atol=1e-5, rtol=0, msg=key)
    for a, b in zip(one["history"], two["history"], strict=True):
        assert b["train_loss"] == pytest.approx(a["train_loss"], abs=1e-6)
        assert b["val_loss"] == pytest.approx(a["val_loss"], abs=1e-6)
        assert b["val_auroc"] == pytest.approx(a["val_auroc"], abs=1e-9)
    chosen = [_checkpoint(run, "model.pt")["chosen"] for run in (runs["single"], runs["ddp"])]
    assert chosen[0] == chosen[1]
    metrics = [json.loads((run / "metrics.json").read_text())["metrics"] for run in (runs["single"], runs["ddp"])]
    assert metrics[1]["mean_auroc"] == pytest.approx(metrics[0]["mean_auroc"], abs=1e-9)


@pytest.mark.slow
def test_only_the_main_process_writes_and_reports(runs: dict[str, Path]) -> None:
    log = (runs["ddp"] / "train.log").read_text(encoding="utf-8")
    assert "(2 processes)" in log
    for epoch in (1, 2, 3):
        assert log.count(f"epoch {epoch}/3 ") == 1
    stdout = (runs["ddp"] / "stdout.txt").read_text(encoding="utf-8")
    assert stdout.count('"finished": true') == 1  # one summary, from rank 0
    assert (runs["ddp"] / "model.onnx").is_file() and (runs["ddp"] / "model.gradcam.onnx").is_file()
    assert not list(runs["ddp"].rglob("*.tmp"))


@pytest.mark.slow
def test_resume_under_ddp_continues_exactly(runs: dict[str, Path]) -> None:
    straight, resumed = _checkpoint(runs["ddp"]), _checkpoint(runs["resumed"])
    assert resumed["epoch"] == 3
    for key, value in straight["model"].items():
        assert torch.equal(resumed["model"][key], value), key
    assert [h["train_loss"] for h in resumed["history"]] == [h["train_loss"] for h in straight["history"]]
    log = (runs["resumed"] / "train.log").read_text(encoding="utf-8")
    assert "resumed" in log and log.count("epoch 2/3 ") == 1
