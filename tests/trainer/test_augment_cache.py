"""trainer.data.augment and trainer.data.cache: the training-time pixel pipeline."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from trainer.data.augment import AugmentConfig, augment, random_affine
from trainer.data.cache import PixelCache
from viewer.core.preprocess import preprocess


def test_without_augmentation_the_warp_is_the_identity() -> None:
    image = np.random.default_rng(0).random((32, 32)).astype(np.float32)
    out = augment(image, 32, np.random.default_rng(1), AugmentConfig.none())
    np.testing.assert_allclose(out, image, atol=1e-6)


def test_a_forced_flip_mirrors_the_image() -> None:
    image = np.random.default_rng(0).integers(0, 256, (16, 16)).astype(np.uint8)
    config = AugmentConfig(crop_scale=1.0, aspect=(1.0, 1.0), rotate=0.0, hflip=1.0, jitter=0.0)
    out = augment(image, 16, np.random.default_rng(0), config)
    np.testing.assert_allclose(out, image[:, ::-1] / 255.0, atol=1e-6)


def test_augmentation_stays_in_range_and_is_seeded() -> None:
    image = np.random.default_rng(0).integers(0, 256, (74, 74)).astype(np.uint8)
    config = AugmentConfig(jitter=0.5, rotate=15)
    a = augment(image, 64, np.random.default_rng(5), config)
    b = augment(image, 64, np.random.default_rng(5), config)
    assert a.shape == (64, 64) and a.dtype == np.float32
    assert a.min() >= 0.0 and a.max() <= 1.0
    np.testing.assert_array_equal(a, b)


def test_crops_stay_inside_the_source_without_rotation() -> None:
    config = AugmentConfig(crop_scale=0.3, rotate=0.0, hflip=0.5)
    rng = np.random.default_rng(0)
    for _ in range(200):
        matrix = random_affine(rng, 74, 64, config)
        corners = np.array([[-0.5, -0.5, 1], [63.5, -0.5, 1], [-0.5, 63.5, 1], [63.5, 63.5, 1]]).T
        mapped = matrix @ corners
        assert mapped.min() >= -0.5 - 1e-9 and mapped.max() <= 73.5 + 1e-9


def test_cache_holds_preprocess_output_and_is_reused(tiny_data: Path, tmp_path: Path) -> None:
    paths = sorted((tiny_data / "images").glob("*.png"))[:6]
    exact = PixelCache(tmp_path / "cache", 64, "float32")
    rows, report = exact.ensure(paths)
    assert report.decoded == 6 and report.reused == 0 and not report.errors
    array = exact.open()
    for path, row in zip(paths, rows):
        np.testing.assert_array_equal(array[row], preprocess(path, 64, 64))  # bit for bit

    small = PixelCache(tmp_path / "cache", 74, "uint8")
    rows8, _ = small.ensure(paths, workers=2)  # two worker processes give the same rows
    for path, row in zip(paths, rows8):
        np.testing.assert_array_equal(small.open()[row], np.round(preprocess(path, 74, 74) * 255).astype(np.uint8))

    again_rows, again = PixelCache(tmp_path / "cache", 64, "float32").ensure(paths)
    assert again.decoded == 0 and again.reused == 6 and again_rows == rows


def test_cache_redecodes_changed_files_and_reports_bad_ones(tiny_data: Path, tmp_path: Path) -> None:
    folder = tmp_path / "images"
    shutil.copytree(tiny_data / "images", folder)
    paths = sorted(folder.glob("*.png"))[:3]
    cache = PixelCache(tmp_path / "cache", 64, "uint8")
    cache.ensure(paths)
    shutil.copy(paths[1], paths[0])  # new content under an old name
    os.utime(paths[0], ns=(1, 1))
    bad = folder / "broken.png"
    bad.write_text("not an image")
    rows, report = cache.ensure(paths + [bad])
    assert report.decoded == 1 and report.reused == 2
    assert rows[3] is None and "broken.png" in report.errors[bad]
    np.testing.assert_array_equal(cache.open()[rows[0]], cache.open()[rows[1]])


def test_cache_recovers_from_an_interrupted_append(tiny_data: Path, tmp_path: Path) -> None:
    paths = sorted((tiny_data / "images").glob("*.png"))[:2]
    cache = PixelCache(tmp_path / "cache", 64, "uint8")
    cache.ensure(paths[:1])
    with open(cache.pixels_path, "ab") as handle:  # a run that died while writing its row
        handle.write(b"\x07" * 1000)
    rows, _ = cache.ensure(paths)
    assert rows == [0, 1]
    assert cache.pixels_path.stat().st_size == 2 * 64 * 64
    np.testing.assert_array_equal(cache.open()[1], np.round(preprocess(paths[1], 64, 64) * 255).astype(np.uint8))


def test_an_unwritable_cache_names_its_folder(tiny_data: Path, tmp_path: Path) -> None:
    from trainer.errors import TrainerError

    cache = PixelCache(tmp_path / "cache", 64, "uint8")
    cache.pixels_path.mkdir(parents=True)  # a folder where the pixel file must go: the write fails
    with pytest.raises(TrainerError, match="cache cannot be written .*--cache-dir"):
        cache.ensure(sorted((tiny_data / "images").glob("*.png"))[:2])
