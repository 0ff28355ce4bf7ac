"""Region statistics against a whole-image numpy oracle, and areas from the shape itself."""

from __future__ import annotations

import math

import numpy as np
import pytest

from viewer.viewmodel.roi_stats import region_area, region_mask, region_stats


def oracle_mask(kind: str, a: tuple[float, float], b: tuple[float, float], height: int, width: int) -> np.ndarray:
    """Every pixel of the image, inside when its centre is (written apart from the module)."""
    ys, xs = np.mgrid[0:height, 0:width] + 0.5
    left, right, top, bottom = min(a[0], b[0]), max(a[0], b[0]), min(a[1], b[1]), max(a[1], b[1])
    if kind == "rect":
        return (xs >= left) & (xs <= right) & (ys >= top) & (ys <= bottom)
    cx, cy, rx, ry = (left + right) / 2, (top + bottom) / 2, (right - left) / 2, (bottom - top) / 2
    return ((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2 <= 1


REGIONS = [
    ((3.2, 4.7), (40.9, 30.1)),
    ((40.9, 30.1), (3.2, 4.7)),  # corners the other way round
    ((-10.0, -5.0), (20.0, 12.0)),  # partly outside the image
    ((50.0, 40.0), (80.0, 70.0)),  # past the bottom-right corner
    ((10.5, 10.5), (11.5, 11.5)),  # one pixel centre exactly on every edge
]


@pytest.mark.parametrize("kind", ["rect", "ellipse"])
@pytest.mark.parametrize(("a", "b"), REGIONS)
def test_statistics_match_a_whole_image_oracle(kind: str, a: tuple[float, float], b: tuple[float, float]) -> None:
    rng = np.random.default_rng(7)
    pixels = rng.normal(100, 30, (48, 64)).astype(np.float32)
    truth = oracle_mask(kind, a, b, *pixels.shape)
    stats = region_stats(pixels, kind, a, b)  # type: ignore[arg-type]
    assert stats.count == int(truth.sum())
    if kind == "ellipse" and a == (10.5, 10.5):  # the pixel centres are the box's corners, outside the ellipse
        assert stats.count == 0 and math.isnan(stats.mean)
        return
    assert stats.count > 0
    values = pixels[truth].astype(np.float64)
    assert (stats.mean, stats.sd, stats.minimum, stats.maximum) == pytest.approx(
        (values.mean(), values.std(), values.min(), values.max()))


def test_the_mask_covers_only_the_region_rows_and_columns() -> None:
    rows, cols, mask = region_mask("ellipse", (100.0, 200.0), (110.0, 204.0), (4000, 4000))
    assert (rows.start, rows.stop, cols.start, cols.stop) == (200, 204, 100, 110)
    assert mask.shape == (4, 10)


@pytest.mark.parametrize("kind", ["rect", "ellipse"])
@pytest.mark.parametrize(("a", "b"), [((5.0, 5.0), (5.0, 20.0)), ((5.0, 5.0), (20.0, 5.0)),
                                      ((200.0, 5.0), (300.0, 9.0))])
def test_a_flat_or_outside_region_has_no_pixels(kind: str, a: tuple[float, float], b: tuple[float, float]) -> None:
    pixels = np.ones((30, 30), np.uint8)
    stats = region_stats(pixels, kind, a, b)  # type: ignore[arg-type]
    assert stats.count == 0 and math.isnan(stats.mean)


def test_integer_pixels_are_summed_without_overflow() -> None:
    pixels = np.full((20, 20), 65535, np.uint16)
    stats = region_stats(pixels, "rect", (0.0, 0.0), (20.0, 20.0))
    assert stats.count == 400 and stats.mean == 65535 and stats.sd == 0


def test_the_area_is_the_shapes_own_and_near_the_pixel_count_of_a_large_region() -> None:
    a, b = (10.0, 20.0), (410.0, 220.0)
    assert region_area("rect", a, b, None) == 400 * 200
    assert region_area("ellipse", a, b, None) == pytest.approx(math.pi * 200 * 100)
    assert region_area("ellipse", a, b, (0.5, 0.25)) == pytest.approx(math.pi * 50 * 50)
    count = region_stats(np.zeros((300, 500), np.uint8), "ellipse", a, b).count
    assert count == pytest.approx(region_area("ellipse", a, b, None), rel=0.01)
