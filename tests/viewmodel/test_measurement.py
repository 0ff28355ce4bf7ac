"""Where labels go, the distance to a line, and the pixel under the cursor (the rulers are shapes:
test_shapes.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from viewer.viewmodel.measurement import (
    CursorInfo,
    distance_to_segment,
    label_origin,
    pixel_under,
    visible_part,
)


def test_the_pixel_under_a_point_is_the_one_containing_it() -> None:
    pixels = np.arange(12, dtype=np.uint16).reshape(3, 4)
    assert pixel_under((3.99, 2.5), pixels) == CursorInfo(3, 2, 11.0)
    assert pixel_under((0.0, 0.0), pixels) == CursorInfo(0, 0, 0.0)
    assert pixel_under((4.0, 0.0), pixels) is None
    assert pixel_under((-0.01, 1.0), pixels) is None


def test_the_distance_to_a_segment_is_to_its_nearest_point() -> None:
    assert distance_to_segment((5, 3), (0, 0), (10, 0)) == pytest.approx(3.0)
    assert distance_to_segment((-3, 4), (0, 0), (10, 0)) == pytest.approx(5.0)  # beyond an end
    assert distance_to_segment((1, 1), (2, 2), (2, 2)) == pytest.approx(math.sqrt(2))  # a point


def test_the_visible_part_of_a_ruler_is_clipped_to_the_view() -> None:
    assert visible_part((10, 10), (20, 20), (100, 100)) == ((10, 10), (20, 20))
    (ax, ay), (bx, by) = visible_part((-50, 50), (150, 50), (100, 100))
    assert (ax, ay, bx, by) == pytest.approx((0, 50, 100, 50))
    assert visible_part((-10, -10), (-5, 200), (100, 100)) is None
    assert visible_part((150, 10), (150, 90), (100, 100)) is None


@pytest.mark.parametrize("a, b", [((10, 10), (60, 20)), ((900, 300), (1000, 300)), ((40, 2), (80, 2)),
                                  ((500, 700), (600, 799)), ((-200, 400), (50, 400)), ((0, 0), (1000, 800))])
def test_a_label_is_always_inside_the_view(a: tuple[float, float], b: tuple[float, float]) -> None:
    size, viewport = (160.0, 18.0), (1000.0, 800.0)
    x, y = label_origin(a, b, size, viewport)
    assert 0 <= x and x + size[0] <= viewport[0] and 0 <= y and y + size[1] <= viewport[1]


def test_a_label_sits_beside_the_middle_of_the_ruler_and_none_out_of_view() -> None:
    x, y = label_origin((100, 100), (200, 100), (50.0, 10.0), (1000.0, 800.0))
    assert (x, y) == pytest.approx((158, 82))  # right of and above the middle
    x, _ = label_origin((900, 100), (1000, 100), (80.0, 10.0), (1000.0, 800.0))
    assert x + 80 <= 950  # no room on the right: on the left of the middle
    assert label_origin((-100, -100), (-10, -10), (50.0, 10.0), (1000.0, 800.0)) is None
