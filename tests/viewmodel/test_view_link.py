"""Linked views: zoom relative to fit, pan as a point of the image, window relative to the default."""

from __future__ import annotations

import pytest

from viewer.core.radiograph import Window
from viewer.viewmodel.view_link import fit_zoom, link_view, link_window, same_window
from viewer.viewmodel.view_transform import ViewTransform


def test_a_fitted_view_fits_the_other() -> None:
    source, target = ViewTransform(), ViewTransform()
    source.fit(512, 512, 600, 600)
    target.zoom, target.fitted = 3.0, False
    link_view(source, (512, 512), (600, 600), target, (1024, 2048), (600, 600))
    assert target.fitted and target.zoom == pytest.approx(fit_zoom(target, (1024, 2048), (600, 600)))


def test_zoom_is_relative_to_fit_and_the_centre_a_point_of_the_image() -> None:
    source, target = ViewTransform(), ViewTransform()
    source.fit(512, 512, 600, 600)
    source.zoom_about(2.0, (150.0, 300.0), 600, 600)  # twice the fit, around a point left of centre
    link_view(source, (512, 512), (600, 600), target, (1024, 1024), (600, 600))
    assert not target.fitted
    assert target.zoom / fit_zoom(target, (1024, 1024), (600, 600)) == pytest.approx(
        source.zoom / fit_zoom(source, (512, 512), (600, 600)))
    assert target.center == pytest.approx((source.center[0] * 2, source.center[1] * 2))
    # so the same anatomy is under the same screen point
    assert target.to_image(150, 300, 600, 600) == pytest.approx(
        tuple(2 * v for v in source.to_image(150, 300, 600, 600)))


def test_the_same_image_gets_the_same_view() -> None:
    source, target = ViewTransform(), ViewTransform()
    source.fit(300, 400, 500, 500)
    source.pan_screen(40, -25)
    link_view(source, (300, 400), (500, 500), target, (300, 400), (500, 500))
    assert (target.zoom, *target.center) == pytest.approx((source.zoom, *source.center))


def test_window_relative_to_each_default() -> None:
    same = Window(2048, 4096)
    assert link_window(Window(1500, 1000), same, same) == Window(1500, 1000)
    eight_bit, fifteen_bit = Window(127.5, 255), Window(16000, 30000)
    linked = link_window(Window(127.5 + 25.5, 127.5), eight_bit, fifteen_bit)  # level up 10 % of width, half as wide
    assert linked.center == pytest.approx(16000 + 3000)
    assert linked.width == pytest.approx(15000)


def test_a_window_linked_from_the_default_is_the_others_default() -> None:
    a, b = Window(127.5, 255, "default"), Window(16000.1, 30000.3)
    assert same_window(link_window(a, a, b), b)
    assert not same_window(link_window(Window(130, 255), a, b), b)
    assert same_window(None, None) and not same_window(a, None)
