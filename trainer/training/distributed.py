"""Training on several processes with ``torchrun``: PyTorch's DistributedDataParallel.

    torchrun --nproc_per_node 4 -m trainer train --config configs/full.yaml --data DIR --out DIR

``torchrun`` starts N copies of ``cxr-train`` with ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and the
rendezvous address in their environment. Each process takes one GPU (``cuda:LOCAL_RANK``, NCCL)
or, without GPUs, a share of the CPU (gloo). The N processes compute what one process would:

* ``--batch-size`` is the *global* batch: each process takes ``batch_size / N`` images a step,
  so the learning rate and schedule mean the same with any N;
* one permutation of the training images per epoch, the one a single process draws, dealt out
  so that the N shards of step k are together the single process's batch k
  (``ShardedPermutation``);
* BatchNorm normalises with the statistics of the whole global batch: torch's ``SyncBatchNorm``
  on CUDA, and on the CPU (where torch's refuses to run) ``GlobalBatchNorm2d``, which
  all-reduces the sums with autograd so the backward pass is the global batch's too;
* DDP averages the gradients, and each process's loss is the mean over its equal shard, so the
  update is the single process's up to the order of float summation;
* the validation images are shared out and their logits gathered, the training loss is reduced,
  so every process takes the same decisions (best epoch, early stopping);
* only rank 0 writes: caches, checkpoints, logs, history, the evaluation and the model.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import Sampler

from ..errors import TrainerError

# rank 0 builds the caches of 112,120 images while the others wait at a barrier
TIMEOUT = datetime.timedelta(hours=4)


@dataclass(frozen=True)
class Distributed:
    """This process's place among the training processes (one process: rank 0 of 1)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """The one process that writes files and logs."""
        return self.rank == 0

    def device(self, device: torch.device) -> torch.device:
        """This process's GPU when training on CUDA (one per process), else ``device``."""
        if self.enabled and device.type == "cuda":
            return torch.device("cuda", self.local_rank)
        return device

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def sum(self, values: list[float]) -> list[float]:
        """Element-wise sum of ``values`` over all processes (float64, on the CPU for gloo)."""
        if not self.enabled:
            return list(values)
        tensor = torch.tensor(values, dtype=torch.float64, device=self._collective_device())
        dist.all_reduce(tensor)
        return tensor.cpu().tolist()

    def max(self, value: float) -> float:
        if not self.enabled:
            return value
        tensor = torch.tensor([value], dtype=torch.float64, device=self._collective_device())
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
        return float(tensor.item())

    def shard(self, n: int) -> list[int]:
        """This process's share of ``n`` evaluation items: every ``world_size``-th from ``rank``."""
        return list(range(self.rank, n, self.world_size))

    def gather_rows(self, shard_rows: np.ndarray, n: int) -> np.ndarray:
        """The ``[n, ...]`` array whose rows ``shard(n)`` of each process are its ``shard_rows``."""
        if not self.enabled:
            return shard_rows
        parts: list[np.ndarray | None] = [None] * self.world_size
        dist.all_gather_object(parts, shard_rows)
        out = np.empty((n, *shard_rows.shape[1:]), dtype=shard_rows.dtype)
        for rank, part in enumerate(parts):
            out[rank::self.world_size] = part
        return out

    def _collective_device(self) -> torch.device:
        # NCCL reduces CUDA tensors only; gloo CPU tensors
        return torch.device("cuda", self.local_rank) if dist.get_backend() == "nccl" else torch.device("cpu")


SINGLE = Distributed()


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def start(device: torch.device) -> Distributed:
    """Join the process group torchrun set up (NCCL for CUDA, gloo for the CPU), or ``SINGLE``."""
    if not launched_by_torchrun():
        return SINGLE
    try:
        rank, world, local = (int(os.environ[k]) for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))
    except (KeyError, ValueError) as exc:
        raise TrainerError(f"WORLD_SIZE is set but {exc} is missing or not a number: start several "
                           "processes with torchrun --nproc_per_node N -m trainer train ...") from None
    context = Distributed(rank, world, local)
    if device.type == "cuda":
        if local >= torch.cuda.device_count():
            raise TrainerError(f"process {rank} wants GPU {local}, but torch sees {torch.cuda.device_count()}: "
                               "--nproc_per_node must not exceed the GPUs of a machine")
        torch.cuda.set_device(local)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=TIMEOUT)
    return context


def stop(context: Distributed, clean: bool = True) -> None:
    """Leave the process group after the last collective call.

    ``clean``: all processes got here; they leave together (a barrier first: a process that
    tears down its connections while another still uses them makes gloo abort). After an
    error the others are elsewhere, so no barrier: torchrun stops them once this one exits."""
    if context.enabled and dist.is_initialized():
        if clean:
            dist.barrier()
        dist.destroy_process_group()


def check_batch(context: Distributed, batch_size: int, train_images: int) -> int:
    """This process's share of the global batch; refuses batches that do not divide evenly."""
    if batch_size % context.world_size:
        example = context.world_size * max(1, batch_size // context.world_size)
        raise TrainerError(f"--batch-size {batch_size} is the global batch and must divide evenly among "
                           f"the {context.world_size} processes (e.g. {example})")
    if context.enabled and train_images < batch_size:
        raise TrainerError(f"{train_images} training images are fewer than one global batch of {batch_size}")
    return batch_size // context.world_size


class ShardedPermutation(Sampler[int]):
    """One epoch's order of the training images, this process's share of it.

    The permutation is ``torch.randperm(n)`` from a generator seeded by (seed, epoch), as a
    single process's ``RandomSampler`` draws it; without a remainder (``drop_last``) it is cut to
    whole global batches, then process r takes positions r, r + N, r + 2N, ... so that the
    shards of step k are together the positions ``[k B, (k + 1) B)``: the single-process batch.
    """

    def __init__(self, n: int, batch_size: int, seed: int, context: Distributed = SINGLE,
                 drop_last: bool = True) -> None:
        self.n, self.batch_size, self.seed, self.context, self.drop_last = n, batch_size, seed, context, drop_last

    def _order(self) -> list[int]:
        order = torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed)).tolist()
        if self.drop_last:
            order = order[: self.n // self.batch_size * self.batch_size]
        return order[self.context.rank::self.context.world_size]

    def __iter__(self) -> Iterator[int]:
        return iter(self._order())

    def __len__(self) -> int:
        return len(self._order())


class _SumOverProcesses(torch.autograd.Function):
    """All-reduce (sum) whose backward is the all-reduce of the gradients: every process's loss
    depends on every process's input through the sum. (torch.distributed.nn's version of this
    is deprecated, and the functional collectives that replace it have no autograd all-reduce.)"""

    @staticmethod
    def forward(ctx: Any, tensor: torch.Tensor) -> torch.Tensor:
        total = tensor.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(total)
        return total

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        total = grad.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(total)
        return total


class GlobalBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d normalising with the statistics of the global batch of all processes.

    Works on any device and backend (gloo included). The per-channel sums go through an
    autograd-aware all-reduce (``_SumOverProcesses``), so the gradient flowing back
    through the statistics reaches every process's images, as in one large batch. Two passes
    (mean, then the centred sum of squares) as ``F.batch_norm`` computes them. Outside training,
    or in one process, it is an ordinary ``BatchNorm2d`` (same parameters and buffers).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        self._check_input_dim(x)
        all_reduce = _SumOverProcesses.apply
        values = x.float()
        dims = (0, 2, 3)
        count = torch.tensor([values.numel() / values.shape[1]], dtype=values.dtype, device=values.device)
        totals = all_reduce(torch.cat([values.sum(dims), count]))
        n = totals[-1]
        mean = totals[:-1] / n
        centred = values - mean.view(1, -1, 1, 1)
        var = all_reduce((centred * centred).sum(dims)) / n
        y = centred * torch.rsqrt(var + self.eps).view(1, -1, 1, 1)
        if self.affine:
            y = y * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)
        tracked, running_mean, running_var = self.num_batches_tracked, self.running_mean, self.running_var
        # the three buffers exist exactly when track_running_stats is set
        if self.track_running_stats and tracked is not None and running_mean is not None and running_var is not None:
            with torch.no_grad():
                tracked.add_(1)
                momentum = (1.0 / float(tracked)) if self.momentum is None else self.momentum
                unbiased = var * (n / (n - 1).clamp(min=1))
                running_mean.lerp_(mean.detach(), momentum)
                running_var.lerp_(unbiased.detach(), momentum)
        return y.to(x.dtype)


def global_batchnorm(module: nn.Module) -> nn.Module:
    """``module`` with every ``BatchNorm2d`` replaced by a ``GlobalBatchNorm2d`` of the same state."""
    if isinstance(module, nn.BatchNorm2d) and not isinstance(module, GlobalBatchNorm2d):
        replacement = GlobalBatchNorm2d(module.num_features, module.eps, module.momentum, module.affine,
                                        module.track_running_stats)
        replacement.to(module.running_mean.device if module.running_mean is not None else "cpu")
        replacement.load_state_dict(module.state_dict())
        replacement.train(module.training)
        return replacement
    for name, child in module.named_children():
        module.add_module(name, global_batchnorm(child))
    return module


def wrap_model(model: nn.Module, context: Distributed, device: torch.device) -> nn.Module:
    """The module the training steps call: ``model`` itself in one process, else a DDP wrapper
    around it with batch-global BatchNorm (converted in place; the state dict keys stay)."""
    if not context.enabled:
        return model
    from torch.nn.parallel import DistributedDataParallel

    if device.type == "cuda":
        nn.SyncBatchNorm.convert_sync_batchnorm(model)  # replaces the children in place
        return DistributedDataParallel(model, device_ids=[device.index], output_device=device.index)
    global_batchnorm(model)
    return DistributedDataParallel(model)
