"""The ruler and the pixel under the cursor."""

from __future__ import annotations

import math

import numpy as np
import pytest

from viewer.viewmodel.measurement import CursorInfo, measure, pixel_under


def test_with_a_pixel_spacing_the_ruler_is_in_mm_per_axis() -> None:
    m = measure((10, 10), (50, 40), (0.5, 0.25))  # rows 0.5 mm apart, columns 0.25 mm
    assert m.pixels == pytest.approx(50.0)
    assert m.mm == pytest.approx(math.hypot(40 * 0.25, 30 * 0.5))
    assert m.text == f"{m.mm:.1f} mm"


@pytest.mark.parametrize("spacing", [None, (0.0, 0.2), (0.2, -1.0)])
def test_without_a_usable_spacing_the_ruler_says_pixels(spacing: tuple[float, float] | None) -> None:
    m = measure((0, 0), (3, 4), spacing)
    assert m.mm is None and m.pixels == 5.0
    assert m.text == "5.0 px (no pixel spacing: length in pixels)"


def test_the_pixel_under_a_point_is_the_one_containing_it() -> None:
    pixels = np.arange(12, dtype=np.uint16).reshape(3, 4)
    assert pixel_under((3.99, 2.5), pixels) == CursorInfo(3, 2, 11.0)
    assert pixel_under((0.0, 0.0), pixels) == CursorInfo(0, 0, 0.0)
    assert pixel_under((4.0, 0.0), pixels) is None
    assert pixel_under((-0.01, 1.0), pixels) is None
