"""Run by tests/trainer/test_distributed.py under torchrun (2 processes, gloo): one step of a
small convolution + ``GlobalBatchNorm2d`` on this process's half of a fixed batch, saving the
output, the input gradient, the parameter gradients (as DDP averages them) and the running
statistics to ``OUT/rank<r>.pt``."""

from __future__ import annotations

import sys

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from trainer.training.distributed import global_batchnorm


def batch() -> torch.Tensor:
    return torch.randn(8, 3, 6, 5, generator=torch.Generator().manual_seed(7)) * 3 + 1


def network() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU())


def main(out: str) -> None:
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    model = DistributedDataParallel(global_batchnorm(network()))
    x = batch().chunk(world)[rank].clone().requires_grad_(True)
    y = model(x)
    # the single process's loss is the mean over the whole batch; each process's the mean of its half
    (y * torch.arange(y.numel()).view_as(y).sin()).mean().backward()
    bn = model.module[1]
    torch.save({"y": y.detach(), "x_grad": x.grad, "grads": {n: p.grad for n, p in model.module.named_parameters()},
                "running_mean": bn.running_mean, "running_var": bn.running_var}, f"{out}/rank{rank}.pt")
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
