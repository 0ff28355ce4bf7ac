"""Each ``--arch``'s CPU forward pass: one 224 px image, PyTorch eager, relative to DenseNet121.

    python -m bench.arch_speed [--size 224] [--threads 1] [--repeats 10] [--arch NAME ...]

The networks have random weights (the time does not depend on them) and are timed in turn,
interleaved (``common.interleaved``: the median of ``--repeats`` calls each), so that the
machine's other load weighs on all of them alike and the ratios stay comparable. Prints one
line per arch: milliseconds, the ratio to densenet121, its parameters and the Grad-CAM map.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING

from .common import interleaved, ms

if TYPE_CHECKING:
    from torch import nn


def main(argv: list[str] | None = None) -> None:
    import torch

    from trainer.models.archs import ARCHITECTURES
    from trainer.models.network import build_model
    from viewer.core.nih import NIH_LABELS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--arch", nargs="+", default=[a for a in ARCHITECTURES if a != "tiny"])
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    archs = list(dict.fromkeys(["densenet121", *args.arch]))  # the reference is always timed
    image = torch.rand(1, 1, args.size, args.size)
    nets = {arch: build_model(arch, NIH_LABELS).eval() for arch in archs}

    def forward(net: nn.Module) -> Callable[[], None]:
        def run() -> None:
            with torch.inference_mode():
                net(image)
        return run

    times = interleaved({arch: forward(net) for arch, net in nets.items()}, args.repeats)
    print(f"{args.size} px, batch 1, {args.threads} thread(s), median of {args.repeats}, torch {torch.__version__}")
    for arch, net in nets.items():
        with torch.inference_mode():
            shape = tuple(net.feature_maps(image).shape[1:])
        params = sum(p.numel() for p in net.parameters()) / 1e6
        print(f"{arch:20s} {ms(times[arch]):>10s}  x{times[arch] / times['densenet121']:.2f}  "
              f"{params:5.1f}M parameters  Grad-CAM map {shape}")


if __name__ == "__main__":
    main()
