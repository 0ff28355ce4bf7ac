"""The view transform: image <-> widget mapping under zoom, pan, rotation and flips."""

from __future__ import annotations

import itertools

import pytest

from viewer.viewmodel.view_transform import (
    FIT_MARGIN,
    MAX_ZOOM,
    MIN_ZOOM,
    ViewTransform,
    wheel_factor,
)

SIZE = (640.0, 480.0)
OPERATIONS = [lambda v: v.rotate(True), lambda v: v.rotate(False), lambda v: v.flip(True), lambda v: v.flip(False)]


def views() -> list[ViewTransform]:
    """Every orientation reachable with up to three operations, each zoomed and panned."""
    found = []
    for ops in itertools.chain.from_iterable(itertools.product(OPERATIONS, repeat=n) for n in range(4)):
        view = ViewTransform()
        view.zoom, view.center = 1.7, (120.0, 80.0)
        for op in ops:
            op(view)
        found.append(view)
    return found


def test_the_eight_orientations_are_reached_and_named() -> None:
    seen = {(v.rotation_degrees, v.flipped) for v in views()}
    assert seen == {(r, f) for r in (0, 90, 180, 270) for f in (False, True)}


@pytest.mark.parametrize("view", views())
def test_to_image_inverts_to_widget_and_the_centre_shows_the_centre(view: ViewTransform) -> None:
    for point in [(0.0, 0.0), (10.5, 3.25), (300.0, 200.0)]:
        back = view.to_image(*view.to_widget(*point, *SIZE), *SIZE)
        assert back == pytest.approx(point)
    assert view.to_widget(*view.center, *SIZE) == pytest.approx((SIZE[0] / 2, SIZE[1] / 2))


def test_the_matrix_is_the_mapping() -> None:
    view = ViewTransform()
    view.zoom, view.center = 2.0, (50.0, 40.0)
    view.rotate(True)
    m11, m12, m21, m22, dx, dy = view.matrix(*SIZE)
    x, y = 7.0, 9.0
    assert view.to_widget(x, y, *SIZE) == pytest.approx((m11 * x + m21 * y + dx, m12 * x + m22 * y + dy))
    # Clockwise on screen: one image pixel to the right goes one zoomed pixel down.
    a, b = view.to_widget(10, 10, *SIZE), view.to_widget(11, 10, *SIZE)
    assert (b[0] - a[0], b[1] - a[1]) == pytest.approx((0.0, 2.0))


@pytest.mark.parametrize("view", views()[::5])
def test_zooming_keeps_the_point_under_the_anchor(view: ViewTransform) -> None:
    anchor = (100.0, 70.0)
    under = view.to_image(*anchor, *SIZE)
    view.zoom_about(1.6, anchor, *SIZE)
    assert view.to_image(*anchor, *SIZE) == pytest.approx(under)
    assert not view.fitted


def test_zoom_stays_within_its_limits() -> None:
    view = ViewTransform()
    view.zoom_about(1e6, (0.0, 0.0), *SIZE)
    assert view.zoom == MAX_ZOOM
    view.zoom_about(1e-9, (0.0, 0.0), *SIZE)
    assert view.zoom == MIN_ZOOM
    assert wheel_factor(120) > 1.0 > wheel_factor(-120)
    assert wheel_factor(120) * wheel_factor(-120) == pytest.approx(1.0)


def test_panning_moves_the_image_with_the_mouse_in_every_orientation() -> None:
    for view in views()[::3]:
        before = view.to_widget(30.0, 40.0, *SIZE)
        view.pan_screen(15.0, -4.0)
        after = view.to_widget(30.0, 40.0, *SIZE)
        assert (after[0] - before[0], after[1] - before[1]) == pytest.approx((15.0, -4.0))
        assert not view.fitted


@pytest.mark.parametrize("rotated", [False, True])
def test_fit_shows_the_whole_image_within_the_margin(rotated: bool) -> None:
    view = ViewTransform()
    view.zoom_about(3.0, (0.0, 0.0), *SIZE)
    if rotated:
        view.rotate()
    view.fit(1000, 400, *SIZE)
    assert view.fitted and view.center == (500.0, 200.0)
    corners = [view.to_widget(x, y, *SIZE) for x in (0, 1000) for y in (0, 400)]
    xs, ys = [c[0] for c in corners], [c[1] for c in corners]
    assert min(xs) >= FIT_MARGIN / 2 - 1e-9 and max(xs) <= SIZE[0] - FIT_MARGIN / 2 + 1e-9
    assert min(ys) >= FIT_MARGIN / 2 - 1e-9 and max(ys) <= SIZE[1] - FIT_MARGIN / 2 + 1e-9
    # one side touches the margin: as large as it can be
    assert max(max(xs) - min(xs) - (SIZE[0] - FIT_MARGIN), max(ys) - min(ys) - (SIZE[1] - FIT_MARGIN)) \
        == pytest.approx(0.0, abs=1e-9)


def test_actual_size_is_one_pixel_per_pixel_and_leaves_the_fit() -> None:
    view = ViewTransform()
    view.fit(100, 100, *SIZE)
    view.actual_size()
    assert view.zoom == 1.0 and not view.fitted
    assert view.extent(30, 20) == (30.0, 20.0)
    view.rotate()
    assert view.extent(30, 20) == (20.0, 30.0)
    view.reset_orientation()
    assert view.rotation_degrees == 0 and not view.flipped


@pytest.mark.parametrize("rotate", [False, True])
def test_actual_size_puts_an_image_smaller_than_the_view_in_its_middle(rotate: bool) -> None:
    view = ViewTransform()
    view.fit(120, 80, *SIZE)
    if rotate:
        view.rotate()
    view.zoom_about(3.0, (10.0, 15.0), *SIZE)  # zoomed in over a corner: the centre moved
    view.actual_size((120, 80), SIZE)
    assert view.zoom == 1.0
    assert view.to_widget(60, 40, *SIZE) == pytest.approx((SIZE[0] / 2, SIZE[1] / 2))


def test_actual_size_keeps_the_centre_along_a_side_larger_than_the_view() -> None:
    view = ViewTransform()
    width = int(SIZE[0] * 3)  # wider than the view, not as tall
    view.center = (100.0, 5.0)
    view.actual_size((width, 40), SIZE)
    assert view.to_image(SIZE[0] / 2, SIZE[1] / 2, *SIZE) == pytest.approx((100.0, 20.0))
