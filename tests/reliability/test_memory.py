"""Opening 500 images in a row keeps memory bounded: caches have limits and nothing per image is
kept once the next one is shown.

Resident memory is read after 100, 200, ..., 500 distinct generated images (after a garbage
collection and ``malloc_trim``, so freed memory is given back first) and may not grow after the
first 100 by more than a margin. Each test also measures what ONE image costs (what a leak would
keep) and checks that 400 of them would be several times the margin: the test can fail.
"""

from __future__ import annotations

import ctypes
import gc
import os
from pathlib import Path

import numpy as np
import pytest

from tests.factories import make_model_pair
from tests.reliability.corpus import chest_pixels, encode, write
from tests.ui.conftest import WAIT_MS
from viewer.core.inference import Predictor
from viewer.core.loader import load_radiograph

pytestmark = pytest.mark.timeout(900)
N_IMAGES = 500
MIB = 1 << 20
PAGE = os.sysconf("SC_PAGE_SIZE")


def resident() -> int:
    """Resident set size of this process in bytes, after giving freed memory back."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:  # not glibc: the margin still holds, with more noise
        pass
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * PAGE


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """500 distinct 224 x 224 chest-like PNGs."""
    folder = tmp_path_factory.mktemp("many")
    paths = []
    for i in range(N_IMAGES):
        grey = (chest_pixels(224, 224, seed=i) >> 4).astype(np.uint8)
        write(folder, f"{i:03d}.png", encode(".png", grey))
        paths.append(folder / f"{i:03d}.png")
    return paths


def growth(samples: dict[int, int]) -> int:
    return max(samples[n] for n in samples if n > 100) - samples[100]


def nbytes(*arrays: object) -> int:
    return sum(a.nbytes for a in arrays if isinstance(a, np.ndarray))


def test_predictor_and_loader_over_500_images(tmp_path: Path, images: list[Path]) -> None:
    # A model with 64 x 64 feature maps: each image's findings (14 maps) are ~230 kB, so a cache
    # without a limit would show.
    predictor = Predictor(make_model_pair(tmp_path / "model", size=512), threads=1, cache_size=16)
    samples: dict[int, int] = {}
    one_image = 0
    for n, path in enumerate(images, start=1):
        radiograph = load_radiograph(path)
        findings = predictor.predict(path)
        if n == 1:
            one_image = nbytes(radiograph.pixels) + nbytes(findings.probabilities, findings.heatmaps)
        del radiograph, findings
        if n % 100 == 0:
            samples[n] = resident()
    margin = 16 * MIB
    assert len(predictor.cached_keys()) == 16 and predictor.cache_misses == N_IMAGES
    assert 400 * one_image > 3 * margin  # a leak of each image's data would be seen
    assert growth(samples) < margin, {n: f"{v / MIB:.1f} MiB" for n, v in samples.items()}


@pytest.mark.slow
def test_the_viewer_over_500_images(qtbot, make_window, tiny_model: Path, images: list[Path]) -> None:
    window = make_window(tiny_model)
    qtbot.waitUntil(lambda: window.models.predictor is not None, timeout=WAIT_MS)
    samples: dict[int, int] = {}
    one_image = 0
    for n, path in enumerate(images, start=1):
        with qtbot.waitSignal(window.image.findings_shown, timeout=WAIT_MS):
            window.image.open(path)  # as stepping through images does: the last one is replaced
        assert window.image.analysed.path == path
        if n == 1:
            loaded, analysed = window.image.loaded, window.image.analysed
            renderer = loaded.renderer
            one_image = nbytes(loaded.radiograph.pixels, renderer._index, analysed.heatmaps.maps,
                               *analysed.heatmaps._rgba.values())
            del loaded, analysed, renderer
        if n % 100 == 0:
            window.image.wait()
            samples[n] = resident()
    margin = 32 * MIB
    predictor = window.models.predictor
    assert len(predictor.cached_keys()) <= predictor.cache_size
    assert 400 * one_image > 3 * margin
    assert growth(samples) < margin, {n: f"{v / MIB:.1f} MiB" for n, v in samples.items()}
