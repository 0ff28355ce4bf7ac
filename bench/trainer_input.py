"""Row 6: the trainer's input pipeline (cache against decoding each epoch) and a training step.

The cache comparison is ``bench/bench_trainer_input.py``'s: the same ``TrainImages`` dataset
(random crop, flip, rotation, jitter) fed by ``CachedSource`` (uint8 memmap at 1.15x the input,
what ``cxr-train train`` uses unless ``--no-cache``) or ``DecodeSource`` (THE preprocessing of
each PNG on every access), passes alternating. The training step is forward + backward + AdamW
on a batch of 16 from the cached pipeline, with the trainer's defaults (fp32, the card's arch).
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from .common import NO_SHARED, Row, Settings

THREADS = 2


def rows(settings: Settings) -> list[Row]:
    if settings.data is None:
        return [Row("6", "trainer input: cache vs decoding the PNGs each epoch", note=NO_SHARED),
                Row("6", "training step images/s", note=NO_SHARED)]
    import torch

    from trainer.config import TrainConfig
    from trainer.data.augment import AugmentConfig
    from trainer.data.cache import PixelCache
    from trainer.data.datasets import TrainImages
    from trainer.data.nih import load_labelled_images
    from trainer.data.sources import CachedSource, DecodeSource
    from viewer.core.onnx_card import read_card

    from .bench_trainer_input import _images_per_second

    torch.set_num_threads(THREADS)
    card = read_card(settings.model)
    size = card.input.height
    defaults = TrainConfig(data=str(settings.data))
    count, passes = (12, 1) if settings.quick else (120, 3)
    table = load_labelled_images(settings.data, max_images=count)
    paths, targets = [s.path for s in table.samples], table.targets()
    side = int(round(size * defaults.cache_scale))
    cache = PixelCache(settings.scratch / "cache", side, "uint8")
    _rows, report = cache.ensure(paths)
    cached = TrainImages(CachedSource(cache.pixels_path, "uint8", side, _rows), targets, size, AugmentConfig())
    decoded = TrainImages(DecodeSource(paths, side), targets, size, AugmentConfig())
    speeds: dict[str, list[float]] = {"cache": [], "decode": []}
    for epoch in range(passes):
        speeds["decode"].append(_images_per_second(decoded, epoch))
        speeds["cache"].append(_images_per_second(cached, epoch))
    cache_rate, decode_rate = statistics.median(speeds["cache"]), statistics.median(speeds["decode"])
    ratio = cache_rate / decode_rate
    by_default = not defaults.no_cache
    out = [Row(
        "6",
        f"trainer input: images/s from the cache vs decoding the PNGs each epoch ({len(paths)} NIH images, {size} px)",
        f"{cache_rate:.0f} images/s", f"{decode_rate:.0f} images/s decoding", ratio, ">= 10x, cache by default",
        ratio >= 10 and by_default,
        f"cache used by default: {'yes' if by_default else 'NO'} (TrainConfig.no_cache={defaults.no_cache}); "
        f"built once at {report.images_per_second:.0f} images/s; median of {passes} passes",
    )]

    arch = card.arch if card.arch in ("densenet121", "resnet18", "resnet50", "mobilenet_v3_large",
                                      "mobilenet_v3_small") else "tiny"
    batch = min(defaults.batch_size, len(cached))  # quick mode has fewer images than a batch
    out.append(_training_step(cached, card.labels, arch, batch, 1 if settings.quick else 3))
    return out


def _training_step(dataset, labels: tuple[str, ...], arch: str, batch_size: int, steps: int) -> Row:
    import torch
    from torch.utils.data import DataLoader

    from trainer.models.network import build_model

    net = build_model(arch, labels).train()
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-3)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, drop_last=True)
    rates, loading = [], []
    batches = iter(())
    for step in range(steps + 1):  # the first step warms up
        start = time.perf_counter()
        try:
            images, targets = next(batches)
        except StopIteration:  # next epoch (the first time: the first)
            batches = iter(loader)
            images, targets = next(batches)
        loaded = time.perf_counter()
        optimizer.zero_grad()
        loss = loss_fn(net(images), targets)
        loss.backward()
        optimizer.step()
        end = time.perf_counter()
        if step:
            rates.append(batch_size / (end - start))
            loading.append(batch_size / (loaded - start))
    rate = statistics.median(rates)
    return Row(
        "6", f"training step: forward + backward + AdamW, {arch}, batch {batch_size}, fp32, CPU",
        f"{rate:.1f} images/s", f"{statistics.median(loading):.0f} images/s input (cache)",
        float(np.float64(rate) / statistics.median(loading)), "input not the bottleneck (ratio << 1)",
        rate < 0.1 * statistics.median(loading), f"{THREADS} torch threads; median of {len(rates)} steps",
    )
