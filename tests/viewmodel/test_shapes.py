"""The shapes: what each measures, how a handle or a move edits it, and what the store may hold."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest

from viewer.core.measure_spacing import CALIBRATED, PIXEL_SPACING, MeasureSpacing
from viewer.viewmodel.shapes import (
    MAX_TEXT_CHARS,
    SHAPE_TYPES,
    Angle,
    Arrow,
    CardiothoracicRatio,
    CobbAngle,
    Distance,
    EllipseRoi,
    MeasureContext,
    RectRoi,
    Shape,
    Text,
    shape_from_dict,
    shapes_from_dicts,
)

PIXELS = MeasureContext()
SPACED = MeasureContext(MeasureSpacing(0.5, 0.25, PIXEL_SPACING))  # rows 0.5 mm apart, columns 0.25 mm

EXAMPLES: list[Shape] = [
    Distance(((1, 2), (3, 4))),
    Angle(((0, 0), (5, 5), (10, 0))),
    CobbAngle(((0, 0), (10, 1), (0, 5), (10, 7))),
    CardiothoracicRatio(((10, 50), (60, 50), (0, 80), (100, 80))),
    EllipseRoi(((2, 2), (8, 6))),
    RectRoi(((2, 2), (8, 6))),
    Arrow(((5, 5), (20, 25))),
    Text(((4, 4),), "effusion? \N{GREEK SMALL LETTER ALPHA}"),
]


def test_every_kind_has_an_example() -> None:
    assert sorted(s.kind for s in EXAMPLES) == sorted(SHAPE_TYPES)


@pytest.mark.parametrize("shape", EXAMPLES, ids=lambda s: s.kind)
def test_a_shape_comes_back_from_its_json(shape: Shape) -> None:
    data = json.loads(json.dumps(shape.to_dict()))
    assert shape_from_dict(data) == shape
    assert data["kind"] == shape.kind and len(data["points"]) == len(shape.points)


@pytest.mark.parametrize("shape", EXAMPLES, ids=lambda s: s.kind)
def test_moving_a_shape_moves_every_point(shape: Shape) -> None:
    moved = shape.moved(2.5, -1.0)
    assert type(moved) is type(shape)
    assert moved.points == tuple((x + 2.5, y - 1.0) for x, y in shape.points)
    assert moved.moved(-2.5, 1.0) == shape


def test_a_handle_edit_changes_one_point() -> None:
    ruler = Distance(((1, 2), (3, 4)))
    assert ruler.with_point(1, (9, 9)).points == ((1.0, 2.0), (9.0, 9.0))
    with pytest.raises(IndexError):
        ruler.with_point(2, (0, 0))


def test_a_distance_is_in_mm_per_axis_with_a_spacing_and_in_pixels_without() -> None:
    ruler = Distance(((10, 10), (50, 40)))
    assert ruler.label(SPACED) == f"{math.hypot(40 * 0.25, 30 * 0.5):.1f} mm"
    assert ruler.label(PIXELS) == "50.0 px"
    assert SPACED.units_note == "mm from PixelSpacing"
    assert "calibrate" in PIXELS.units_note


def test_an_angle_is_at_its_vertex_and_in_the_patients_geometry() -> None:
    right = Angle(((10, 0), (0, 0), (0, 10)))
    assert right.label(PIXELS) == "90.0°"
    assert Angle(((10, 0), (0, 0), (-10, 0))).label(PIXELS) == "180.0°"
    assert Angle(((10, 0), (0, 0), (10, 10))).label(PIXELS) == "45.0°"
    # a 45° diagonal in pixels is steeper in mm when rows are twice as far apart as columns
    assert Angle(((10, 0), (0, 0), (10, 10))).degrees(SPACED) == pytest.approx(math.degrees(math.atan2(5, 2.5)))
    assert Angle(((0, 0), (0, 0), (1, 1))).label(PIXELS) == "\N{EN DASH}°"


@pytest.mark.parametrize(("first", "second", "expected"), [
    (((0, 0), (10, 0)), ((0, 5), (10, 5)), 0.0),
    (((0, 0), (10, 0)), ((0, 0), (0, 10)), 90.0),
    (((0, 0), (10, 0)), ((0, 5), (10, 15)), 45.0),
    (((0, 0), (10, 0)), ((10, 15), (0, 5)), 45.0),  # drawn the other way: the same lines
    (((0, 0), (10, 0)), ((10, 5), (0, 15)), 45.0),  # 135° between the directions is 45° between lines
    (((0, 0), (10, 2)), ((0, 10), (10, 7)), math.degrees(math.atan2(2, 10) + math.atan2(3, 10))),
])
def test_the_cobb_angle_is_the_acute_angle_between_the_lines(first: Any, second: Any, expected: float) -> None:
    cobb = CobbAngle((*first, *second))
    degrees = cobb.degrees(PIXELS)
    assert degrees == pytest.approx(expected)
    assert 0 <= degrees <= 90
    assert cobb.label(PIXELS) == f"Cobb {expected:.1f}°"


def test_the_ctr_is_the_ratio_of_horizontal_widths_to_two_decimals() -> None:
    ctr = CardiothoracicRatio(((100, 300), (231, 300), (40, 360), (292, 360)))
    assert ctr.ratio() == pytest.approx(131 / 252)
    assert ctr.label(SPACED) == ctr.label(PIXELS) == "CTR 0.52"
    # the ends drawn right to left, the heart's line at a slant: horizontal extents still
    assert CardiothoracicRatio(((231, 300), (100, 310), (292, 360), (40, 360))).ratio() == pytest.approx(131 / 252)
    assert CardiothoracicRatio(((0, 0), (5, 0), (7, 9), (7, 9))).label(PIXELS) == "CTR \N{EN DASH}"


def test_moving_a_ctr_end_keeps_its_diameter_horizontal() -> None:
    ctr = CardiothoracicRatio(((100, 300), (231, 300), (40, 360), (292, 360)))
    edited = ctr.with_point(1, (250, 320))
    assert edited.points == ((100, 320), (250, 320), (40, 360), (292, 360))
    assert ctr.with_point(2, (30, 370)).points[2:] == ((30, 370), (292, 370))


def test_region_labels_without_pixels_give_the_shape_area() -> None:
    assert RectRoi(((2, 2), (8, 6))).label(PIXELS) == "area 24.0 px²"
    assert RectRoi(((8, 6), (2, 2))).label(SPACED) == f"area {6 * 0.25 * 4 * 0.5:.1f} mm²"
    assert EllipseRoi(((0, 0), (20, 10))).area(PIXELS) == pytest.approx(math.pi * 10 * 5)
    calibrated = MeasureContext(MeasureSpacing(0.2, 0.2, CALIBRATED))
    assert EllipseRoi(((0, 0), (20, 10))).area(calibrated) == pytest.approx(math.pi * 2 * 1)


def test_region_labels_with_pixels_give_their_statistics() -> None:
    pixels = np.arange(100, dtype=np.uint16).reshape(10, 10)
    context = MeasureContext(MeasureSpacing(1.0, 1.0, PIXEL_SPACING), pixels)
    values = pixels[2:4, 1:4].astype(float)  # centres (1.5..3.5, 2.5..3.5) inside [1, 4] x [2, 4]
    assert RectRoi(((1, 2), (4, 4))).label(context) == (
        f"mean {values.mean():.1f}  SD {values.std():.1f}\nmin 21  max 33\narea 6.0 mm²")
    assert RectRoi(((50, 50), (60, 60))).label(context).startswith("no pixel inside\n")


@pytest.mark.parametrize(("data", "message"), [
    ([1, 2], "JSON object"),
    ({"kind": "circle", "points": []}, "unknown shape kind 'circle'"),
    ({"points": [[0, 0], [1, 1]]}, "unknown shape kind"),
    ({"kind": "distance"}, "needs its points"),
    ({"kind": "distance", "points": [[0, 0]]}, "a distance has 2 points .got 1"),
    ({"kind": "angle", "points": [[0, 0], [1, 1]]}, "an angle has 3 points"),
    ({"kind": "distance", "points": [[0, 0], [1, "2"]]}, "are numbers"),
    ({"kind": "distance", "points": [[0, 0], [1, True]]}, "are numbers"),
    ({"kind": "distance", "points": [[0, 0], [1]]}, r"\[x, y\] pair"),
    ({"kind": "distance", "points": "0,0,1,1"}, "list of"),
    ({"kind": "distance", "points": [[0, 0]] * 10_000}, "short list"),
    ({"kind": "distance", "points": [[0, 0], [math.inf, 1]]}, "finite"),
    ({"kind": "distance", "points": [[0, 0], [1e9, 1]]}, "within"),
    ({"kind": "distance", "points": [[0, 0], [1, 1]], "colour": "red"}, "has no colour"),
    ({"kind": "arrow", "points": [[0, 0], [1, 1]], "text": "x"}, "has no text"),
    ({"kind": "text", "points": [[0, 0]]}, "1 to 500 characters"),
    ({"kind": "text", "points": [[0, 0]], "text": "   "}, "not only spaces"),
    ({"kind": "text", "points": [[0, 0]], "text": "x" * (MAX_TEXT_CHARS + 1)}, "1 to 500 characters"),
    ({"kind": "text", "points": [[0, 0]], "text": 12}, "characters"),
    ({"kind": "text", "points": [[0, 0]], "text": "a\x1b[31m"}, "control characters"),
])
def test_bad_stored_shapes_are_refused_saying_why(data: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        shape_from_dict(data)


def test_a_stored_list_keeps_its_good_shapes_and_says_which_were_left_out() -> None:
    good = [s.to_dict() for s in EXAMPLES[:2]]
    shapes, problems = shapes_from_dicts([good[0], {"kind": "blob"}, good[1]])
    assert shapes == EXAMPLES[:2]
    assert problems == ["stored shape 2 was left out: unknown shape kind 'blob' "
                        "(known: distance, angle, cobb, ctr, ellipse, rect, arrow, text)"]


def test_text_keeps_line_breaks_and_its_own_words_as_label() -> None:
    note = Text(((1, 1),), "line one\nline two")
    assert note.label(PIXELS) == "line one\nline two"
    assert Arrow(((0, 0), (1, 1))).label(SPACED) == ""
