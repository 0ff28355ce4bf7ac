"""Trainer input pipeline: images/s from the preprocessed cache against decoding the PNGs each epoch.

Both feed the same ``TrainImages`` dataset (random crop, flip, rotation, jitter at the input
size); only the pixel source differs: ``CachedSource`` (uint8 memmap at 1.15x the input) or
``DecodeSource`` (``preprocess`` of the PNG on every access). Passes alternate in one loop so
machine noise hits both alike; the table shows the median images/s and the ratio cache / decode.
Building the cache once is reported separately (it is paid on the first run only).

    python bench/bench_trainer_input.py [--data ../shared/data/nih-sample] [--images 120] [--size 224]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from trainer.data.augment import AugmentConfig
from trainer.data.cache import PixelCache
from trainer.data.datasets import TrainImages
from trainer.data.nih import load_labelled_images
from trainer.data.sources import CachedSource, DecodeSource

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def _images_per_second(dataset: TrainImages, epoch: int) -> float:
    dataset.set_epoch(epoch)
    start = time.perf_counter()
    for i in range(len(dataset)):
        dataset[i]
    return len(dataset) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(SHARED / "nih-sample"))
    parser.add_argument("--images", type=int, default=120, help="images per pass")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--passes", type=int, default=3)
    args = parser.parse_args()

    table = load_labelled_images(args.data, max_images=args.images)
    paths = [s.path for s in table.samples]
    targets = table.targets()
    cache_side = int(round(args.size * 1.15))
    with tempfile.TemporaryDirectory() as folder:
        cache = PixelCache(folder, cache_side, "uint8")
        rows, report = cache.ensure(paths)
        source = CachedSource(cache.pixels_path, "uint8", cache_side, rows)
        cached = TrainImages(source, targets, args.size, AugmentConfig())
        decoded = TrainImages(DecodeSource(paths, cache_side), targets, args.size, AugmentConfig())
        speeds: dict[str, list[float]] = {"cache": [], "decode": []}
        for epoch in range(args.passes):
            speeds["decode"].append(_images_per_second(decoded, epoch))
            speeds["cache"].append(_images_per_second(cached, epoch))

    cache_rate, decode_rate = statistics.median(speeds["cache"]), statistics.median(speeds["decode"])
    print(f"{len(paths)} images from {args.data}, input {args.size} px, cache {cache_side} px uint8, "
          f"{args.passes} passes each")
    print(f"{'source':<34} {'images/s':>10} {'ratio':>8}")
    print(f"{'decode PNG + preprocess each epoch':<34} {decode_rate:>10.1f} {1.0:>8.2f}")
    print(f"{'preprocessed cache (memmap)':<34} {cache_rate:>10.1f} {cache_rate / decode_rate:>8.2f}")
    print(f"(building the cache once: {report.images_per_second:.1f} images/s, {report.seconds:.1f} s)")


if __name__ == "__main__":
    main()
