"""The data step of a run: find the labelled images, split them by patient, fill the pixel caches.

``prepare_data`` is the first thing ``cxr-train train`` and ``cxr-train export`` do; it reads the
data folder with the reader of ``--dataset`` (``trainer.data.readers``) unless another is passed,
splits it (``--split``, ``--split-lists``, ``--split-file``), leaves out (or stops at)
unreadable images, and returns a pixel source per split.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from viewer.core.errors import CxrError
from viewer.core.preprocess import preprocess

from ..config import TrainConfig, with_dataset
from ..data.cache import PixelCache
from ..data.combined import combined_reader
from ..data.labels import DatasetReader, LabelledImages
from ..data.readers import dataset_reader
from ..data.sources import CachedSource, DecodeSource, PixelSource
from ..data.split import (
    Split,
    check_patients_disjoint,
    format_split_summary,
    make_split,
    read_split_csv,
    resolve_split_lists,
    split_hash,
    split_summary,
    write_split_csv,
    write_split_lists,
)
from ..errors import TrainerError
from ..evaluation.metrics import with_unknown

log = logging.getLogger(__name__)


@dataclass
class PreparedData:
    """The labelled images, their split, and a pixel source per split."""

    table: LabelledImages
    split: Split
    split_hash: str
    sources: dict[str, PixelSource]  # "train" at the cache size, "val"/"test" at the input size

    def targets(self, name: str) -> np.ndarray:
        return self.table.targets(self.split.indices(name))

    def mask(self, name: str) -> np.ndarray:
        """The [N, L] mask of ``targets(name)``: 0 where the target is unknown (``LabelledImages.mask``)."""
        return self.table.mask(self.split.indices(name))

    def known_targets(self, name: str) -> np.ndarray:
        """``targets(name)`` for evaluation: NaN where the target is unknown, so that metrics,
        thresholds and calibration leave it out (``metrics.known_rows``); exactly ``targets(name)``
        where every target is known (NIH)."""
        mask = self.mask(name)
        return self.targets(name) if bool(mask.all()) else with_unknown(self.targets(name), mask)

    def aux_targets(self, name: str) -> np.ndarray:
        return self.table.aux_targets(self.split.indices(name))


def cache_size(config: TrainConfig) -> int:
    """Side of the cached training images: a little larger than the input, for random crops."""
    return max(config.size, int(round(config.size * config.cache_scale)))


def prepare_data(config: TrainConfig, out: Path, write: bool = True,
                 reader: DatasetReader | None = None) -> PreparedData:
    """Find the images, split them by patient, and decode them into the caches.

    ``write=False`` (the other processes of a distributed run): the same, without writing the
    split files (the main process did, and filled the caches first). ``reader`` finds the
    labelled images of ``config.data`` (default: the reader of ``config.dataset``, ``auto``
    resolved by ``config.with_dataset``)."""
    if reader is None:
        settled = with_dataset(config)
        reader = (combined_reader(settled.dataset, settled.uncertainty, settled.also_data) if settled.also_data
                  else dataset_reader(settled.dataset, settled.uncertainty))
    table = reader(config.data, config.labels_csv, config.views, config.max_images)
    log.info("%d labelled images of %d patients (labels from %s)", len(table.samples),
             len({s.patient_id for s in table.samples}), table.csv_path)
    if config.split_file:
        split = read_split_csv(Path(config.split_file), table.samples)
        check_patients_disjoint(table.samples, split)
    else:
        lists = resolve_split_lists(config.split_lists) if config.split_lists else None
        split = make_split(table.samples, table.labels, config.split, Path(config.data),
                           config.val_fraction, config.test_fraction, config.seed, lists=lists)
    if not split.train:
        raise TrainerError(f"{config.data}: the split leaves no training images ({split.method})")

    sources: dict[str, PixelSource] = {}
    if config.no_cache:
        split = _without_unreadable(config, table, split, _unreadable(table, split))
        for name in ("train", "val", "test"):
            size = cache_size(config) if name == "train" else config.size
            sources[name] = DecodeSource([table.samples[i].path for i in split.indices(name)], size)
    else:
        split, sources = _cached_sources(config, table, split, out)
    if write:
        write_split_csv(out / "split.csv", table.samples, split)
        write_split_lists(out, table.samples, split)
    digest = split_hash(table.samples, split)
    log.info("split: %s; hash %s", split.method, digest[:12])
    log.info("%s", format_split_summary(split_summary(table.samples, table.labels, split), table.labels))
    return PreparedData(table, split, digest, sources)


def _unreadable(table: LabelledImages, split: Split) -> dict[Path, str]:
    """--no-cache: decode every image once now, so an unreadable one is found before training
    (a DecodeSource would otherwise meet it in the middle of an epoch)."""
    errors: dict[Path, str] = {}
    for name in ("train", "val", "test"):
        for i in split.indices(name):
            path = table.samples[i].path
            try:
                preprocess(path, 32, 32)
            except CxrError as exc:
                errors[path] = str(exc)
    return errors


def _without_unreadable(config: TrainConfig, table: LabelledImages, split: Split, errors: dict[Path, str]) -> Split:
    """The split without the unreadable images: each named in the log and counted (the default),
    or, with ``--bad-images stop`` (``--strict-images``), one error naming the first."""
    if not errors:
        return split
    first_error = next(iter(errors.values()))
    total = len(split.train) + len(split.val) + len(split.test)
    if len(errors) == total:
        raise TrainerError(f"none of the {total} images can be read, e.g. {first_error} "
                           "(check that --data holds the dataset's images)")
    if config.bad_images == "stop":
        raise TrainerError(
            f"{len(errors)} image(s) cannot be read, e.g. {first_error} (remove or replace them, or "
            "train without them: leave out --strict-images, as --skip-bad-images is the default)"
        )
    for problem in errors.values():
        log.warning("left out: %s", problem)
    log.warning("%d unreadable images left out (each named above)", len(errors))
    bad = {path for path in errors}
    kept = {name: tuple(i for i in split.indices(name) if table.samples[i].path not in bad)
            for name in ("train", "val", "test")}
    return Split(kept["train"], kept["val"], kept["test"],
                 split.method + f"; {len(errors)} unreadable images left out")


def _cached_sources(
    config: TrainConfig, table: LabelledImages, split: Split, out: Path
) -> tuple[Split, dict[str, PixelSource]]:
    root = Path(config.cache_dir) if config.cache_dir else out / "cache"
    plans = {"train": PixelCache(root, cache_size(config), "uint8"), "val": PixelCache(root, config.size, "float32"),
             "test": PixelCache(root, config.size, "float32")}
    rows: dict[str, list[int | None]] = {}
    errors: dict[Path, str] = {}
    for name, cache in plans.items():
        paths = [table.samples[i].path for i in split.indices(name)]
        if not paths:
            rows[name] = []
            continue
        rows[name], report = cache.ensure(paths, workers=cache_workers(config.workers))
        errors.update(report.errors)
        if report.decoded:
            log.info("cache %s: decoded %d images in %.1f s (%.1f images/s), reused %d", cache.folder.name,
                     report.decoded, report.seconds, report.images_per_second, report.reused)
        else:
            log.info("cache %s: all %d images reused", cache.folder.name, report.reused)
    split = _without_unreadable(config, table, split, errors)
    sources: dict[str, PixelSource] = {
        name: CachedSource(cache.pixels_path, cache.dtype, cache.size, [r for r in rows[name] if r is not None])
        for name, cache in plans.items()
    }
    return split, sources


def cache_workers(workers: int) -> int:
    """Processes decoding images into the cache: ``--workers``, or with -1 (auto) the CPU's cores
    (nothing else runs yet: training starts once the cache is full)."""
    return workers if workers >= 0 else min(8, os.cpu_count() or 1)
