"""The heatmap-to-box function (Wang et al. 2017) against independent oracles and by hand."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from viewer.core.heatmap import (
    WANG_THRESHOLDS,
    Box,
    agreement,
    heatmap_boxes,
    iobb,
    iou,
    normalize_to_uint8,
    peak,
    pointing_hit,
    upsample,
)


# -- upsample ----------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [(224, 224), (1024, 1000), (9, 5)])
def test_upsample_is_bilinear_with_half_pixel_centres(size):
    """Oracle: scikit-image's order-1 resize without anti-aliasing (same sampling grid)."""
    from skimage.transform import resize

    heatmap = np.random.default_rng(0).random((7, 7)).astype(np.float32)
    expected = resize(heatmap, size, order=1, mode="edge", anti_aliasing=False)
    shown = upsample(heatmap, *size)
    assert shown.dtype == np.float32 and shown.shape == size
    np.testing.assert_allclose(shown, expected, atol=1e-5)


def test_upsample_refuses_what_is_not_a_map():
    with pytest.raises(ValueError, match="2-D"):
        upsample(np.zeros((1, 7, 7)), 10, 10)
    with pytest.raises(ValueError, match="cannot upsample"):
        upsample(np.zeros((7, 7)), 0, 10)


# -- normalisation -----------------------------------------------------------------------------
def test_normalize_spans_0_to_255_and_keeps_order():
    heatmap = np.array([[1.0, 2.0], [3.0, 5.0]])
    out = normalize_to_uint8(heatmap)
    assert out.dtype == np.uint8
    assert out.min() == 0 and out.max() == 255
    np.testing.assert_array_equal(out, [[0, 64], [128, 255]])  # rint((v - 1) / 4 * 255)


def test_normalize_flat_map_has_no_region():
    assert not normalize_to_uint8(np.full((7, 7), 3.0)).any()
    assert heatmap_boxes(normalize_to_uint8(np.zeros((7, 7))), 60) == []


def test_normalize_refuses_nan():
    with pytest.raises(ValueError, match="non-finite"):
        normalize_to_uint8(np.array([[np.nan, 1.0]]))


# -- boxes -------------------------------------------------------------------------------------
def test_boxes_of_two_regions_largest_first():
    m = np.zeros((10, 12), np.uint8)
    m[1:3, 1:4] = 200  # 2x3 region
    m[5:9, 6:11] = 100  # 4x5 region, above 60 only
    m[6, 7] = 250
    assert heatmap_boxes(m, 60) == [Box(6, 5, 5, 4), Box(1, 1, 3, 2)]
    assert heatmap_boxes(m, 180) == [Box(1, 1, 3, 2), Box(7, 6, 1, 1)]
    assert heatmap_boxes(m, 251) == []


def test_diagonal_neighbours_are_one_region():
    m = np.zeros((4, 4), np.uint8)
    m[0, 0] = m[1, 1] = m[2, 2] = 255
    assert heatmap_boxes(m, 60) == [Box(0, 0, 3, 3)]


def test_threshold_is_inclusive_and_checked():
    m = np.array([[60, 59]], np.uint8)
    assert heatmap_boxes(m, 60) == [Box(0, 0, 1, 1)]
    with pytest.raises(ValueError, match="between 1 and 255"):
        heatmap_boxes(m, 0)
    with pytest.raises(ValueError, match="uint8"):
        heatmap_boxes(m.astype(np.float32), 60)


@settings(max_examples=60, deadline=None)
@given(arrays(np.uint8, st.tuples(st.integers(1, 24), st.integers(1, 24))), st.integers(1, 255))
def test_boxes_match_scikit_image_regionprops(m, threshold):
    """Oracle: skimage.measure.label (8-connectivity) + regionprops bounding boxes."""
    from skimage.measure import label, regionprops

    labelled = label(m >= threshold, connectivity=2)
    expected = sorted(
        (Box(float(c0), float(r0), float(c1 - c0), float(r1 - r0)) for r0, c0, r1, c1 in
         (p.bbox for p in regionprops(labelled))),
    )
    assert sorted(heatmap_boxes(m, threshold)) == expected


# -- overlap measures --------------------------------------------------------------------------
def test_iobb_is_over_the_detected_box():
    gt = Box(0, 0, 10, 10)
    assert iobb(Box(2, 2, 4, 4), gt) == 1.0  # detection inside the truth: perfect IoBB
    assert iou(Box(2, 2, 4, 4), gt) == pytest.approx(16 / 100)
    assert iobb(Box(5, 5, 10, 10), gt) == pytest.approx(25 / 100)
    assert iobb(gt, Box(2, 2, 4, 4)) == pytest.approx(16 / 100)  # not symmetric
    assert iobb(Box(20, 20, 5, 5), gt) == 0.0
    assert iobb(Box(1, 1, 0, 5), gt) == 0.0  # empty detection


@settings(max_examples=100, deadline=None)
@given(*(st.tuples(st.floats(-50, 50), st.floats(-50, 50), st.floats(0, 60), st.floats(0, 60)) for _ in range(2)))
def test_iou_symmetric_bounded_and_below_both_iobbs(a, b):
    value = iou(a, b)
    assert value == pytest.approx(iou(b, a))
    assert 0.0 <= value <= 1.0 + 1e-9
    assert value <= iobb(a, b) + 1e-9 and value <= iobb(b, a) + 1e-9


# -- pointing ----------------------------------------------------------------------------------
def test_pointing_hit_uses_the_maximum():
    m = np.zeros((100, 100), np.float32)
    m[40, 70] = 1.0  # pixel centre (70.5, 40.5)
    assert peak(m) == (70.5, 40.5)
    assert pointing_hit(m, Box(60, 30, 20, 20))
    assert not pointing_hit(m, Box(0, 0, 50, 50))
    assert not pointing_hit(np.zeros((10, 10)), Box(0, 0, 10, 10))  # a flat map points nowhere


# -- agreement ---------------------------------------------------------------------------------
def _map_with_hot_cell(row: int, col: int, size: int = 7) -> np.ndarray:
    m = np.zeros((size, size), np.float32)
    m[row, col] = 1.0
    return m


def test_agreement_on_a_map_pointing_at_the_box():
    image_size = (1024, 1024)  # (height, width)
    cell = 1024 / 7
    hot_row, hot_col = 2, 5  # centre of the cell: x = 5.5 * cell, y = 2.5 * cell
    gt = (5 * cell, 2 * cell, cell, cell)
    result = agreement(_map_with_hot_cell(hot_row, hot_col), gt, image_size)
    assert result.pointing_hit
    assert set(result.boxes) == set(WANG_THRESHOLDS)
    # the tight region (>= 180) lies inside the hot cell, hence inside the box: IoBB 1
    assert result.iobb[180] == pytest.approx(1.0)
    assert result.iou[180] < result.iobb[180]
    assert result.localized(0.5, 180) and result.localized(0.5)
    # the loose region spreads over the bilinear ramp into the neighbouring cells
    (loose,) = result.boxes[60]
    (tight,) = result.boxes[180]
    assert loose.area > tight.area


def test_agreement_far_from_the_box():
    result = agreement(_map_with_hot_cell(0, 0), (800, 800, 100, 100), (1024, 1024))
    assert not result.pointing_hit
    assert result.iobb == {60: 0.0, 180: 0.0}
    assert not result.localized(0.1)


def test_agreement_honours_image_size_order():
    """(height, width): on a wide image a hot right-hand column lands on the right."""
    heatmap = np.zeros((7, 7), np.float32)
    heatmap[:, 6] = 1.0
    result = agreement(heatmap, (1800, 0, 200, 500), (500, 2000))
    assert result.pointing_hit
    assert all(b.x >= 1500 and b.y == 0 and b.h == 500 for b in result.boxes[180])


def test_agreement_with_a_flat_map_finds_nothing():
    result = agreement(np.zeros((7, 7)), (10, 10, 50, 50), (224, 224))
    assert result.peak is None and not result.pointing_hit
    assert result.boxes == {60: (), 180: ()}
