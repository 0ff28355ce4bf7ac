"""Picking a shape or a handle with a click, in image coordinates."""

from __future__ import annotations

import math

import pytest

from viewer.viewmodel.shape_hits import Handle, distance_to, inside, nearest_handle, nearest_shape, outline
from viewer.viewmodel.shapes import Angle, Arrow, CardiothoracicRatio, CobbAngle, Distance, EllipseRoi, RectRoi, Text


def test_a_click_picks_the_nearest_outline_within_the_tolerance() -> None:
    shapes = [Distance(((0, 0), (100, 0))), Distance(((0, 10), (100, 10)))]
    assert nearest_shape(shapes, (50, 2), 3) == 0
    assert nearest_shape(shapes, (50, 7), 3) == 1
    assert nearest_shape(shapes, (50, 5), 6) == 1  # a tie: the one on top
    assert nearest_shape(shapes, (50, 20), 3) is None
    assert nearest_shape([], (0, 0), 3) is None


def test_each_kind_is_picked_by_what_is_drawn_of_it() -> None:
    assert distance_to(Angle(((0, 0), (10, 0), (10, 10))), (12, 5)) == pytest.approx(2)
    cobb = CobbAngle(((0, 0), (10, 0), (0, 20), (10, 20)))
    assert distance_to(cobb, (5, 18)) == pytest.approx(2)
    assert distance_to(cobb, (5, 10)) == pytest.approx(10)  # not the gap between the lines
    ctr = CardiothoracicRatio(((10, 5), (20, 5), (0, 30), (30, 30)))
    assert distance_to(ctr, (15, 6)) == pytest.approx(1)
    assert distance_to(Arrow(((0, 0), (0, 10))), (3, 5)) == pytest.approx(3)
    assert distance_to(Text(((4, 4),), "x"), (7, 8)) == pytest.approx(5)
    assert distance_to(RectRoi(((0, 0), (10, 20))), (5, 21)) == pytest.approx(1)
    ellipse = EllipseRoi(((0, 0), (40, 20)))
    assert distance_to(ellipse, (20, -1)) == pytest.approx(1, abs=0.01)
    assert distance_to(ellipse, (41, 10)) == pytest.approx(1, abs=0.01)


def test_the_ellipse_outline_is_on_the_ellipse() -> None:
    (line,) = outline(EllipseRoi(((10, 10), (50, 30))))
    assert line[0] == pytest.approx(line[-1])
    for x, y in line:
        assert ((x - 30) / 20) ** 2 + ((y - 20) / 10) ** 2 == pytest.approx(1)


def test_a_click_inside_a_region_picks_it_after_any_outline_within_reach() -> None:
    roi = RectRoi(((0, 0), (100, 100)))
    ruler = Distance(((40, 50), (60, 50)))
    assert nearest_shape([roi, ruler], (50, 51), 3) == 1
    assert nearest_shape([ruler, roi], (50, 51), 3) == 0
    assert nearest_shape([roi, ruler], (20, 20), 3) == 0
    inner, outer = EllipseRoi(((40, 40), (60, 60))), EllipseRoi(((0, 0), (100, 100)))
    assert nearest_shape([outer, inner], (50, 50), 3) == 1  # the topmost region
    assert not inside(EllipseRoi(((0, 0), (100, 100))), (5, 5))  # in the box, outside the ellipse
    assert not inside(RectRoi(((0, 0), (0, 100))), (0, 5))
    assert not inside(ruler, (50, 50))


def test_a_handle_is_a_shape_point_within_the_tolerance() -> None:
    shapes = [Distance(((0, 0), (100, 0))), Angle(((10, 10), (0, 0), (10, -10)))]
    assert nearest_handle(shapes, (1, 1), 2) == Handle(1, 1)  # both have a point at (0, 0): the top one
    assert nearest_handle(shapes, (1, 1), 2, only=0) == Handle(0, 0)
    assert nearest_handle(shapes, (99, 1), 2) == Handle(0, 1)
    assert nearest_handle(shapes, (50, 0), 2) is None
    assert nearest_handle(shapes, (12, 12), math.sqrt(8)) == Handle(1, 0)
