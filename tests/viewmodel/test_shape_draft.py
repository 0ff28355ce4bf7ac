"""Drawing each kind from presses, moves and releases: drags, clicks, and what is painted meanwhile."""

from __future__ import annotations

import pytest

from viewer.viewmodel.shape_draft import HINTS, ShapeDraft
from viewer.viewmodel.shapes import (
    SHAPE_TYPES,
    Angle,
    Arrow,
    CardiothoracicRatio,
    CobbAngle,
    Distance,
    EllipseRoi,
    MeasureContext,
    Point,
    RectRoi,
    Text,
)


def drag(draft: ShapeDraft, start: Point, end: Point) -> None:
    draft.press(start)
    draft.move(((start[0] + end[0]) / 2, (start[1] + end[1]) / 2))
    draft.move(end)
    draft.release(end)


def click(draft: ShapeDraft, at: Point) -> None:
    draft.press(at)
    draft.release(at)


@pytest.mark.parametrize("cls", [Distance, Arrow, EllipseRoi, RectRoi])
def test_two_point_shapes_take_one_drag(cls: type) -> None:
    draft = ShapeDraft(cls.KIND, slop=2)
    assert draft.shape is None and not draft.complete
    draft.press((10, 10))
    draft.move((30, 25))
    assert draft.shape == cls(((10, 10), (30, 25))) and not draft.complete  # painted while dragging
    draft.move((40, 30))
    draft.release((40, 30))
    assert draft.complete and draft.shape == cls(((10, 10), (40, 30)))
    assert draft.hint == ""


def test_two_clicks_make_a_ruler_too_and_the_end_follows_the_pointer_between_them() -> None:
    draft = ShapeDraft("distance", slop=2)
    click(draft, (10, 10))
    assert not draft.complete and draft.placed == 1
    draft.move((50, 10))
    assert draft.shape == Distance(((10, 10), (50, 10)))
    click(draft, (60, 20))
    assert draft.complete and draft.shape == Distance(((10, 10), (60, 20)))


def test_a_release_within_the_slop_is_a_click() -> None:
    draft = ShapeDraft("distance", slop=3)
    draft.press((10, 10))
    draft.release((12, 11))
    assert draft.placed == 1 and not draft.complete


def test_an_angle_is_a_drag_to_the_vertex_then_a_click() -> None:
    draft = ShapeDraft("angle", slop=2)
    assert draft.hint == HINTS["angle"][0]
    drag(draft, (100, 0), (0, 0))
    assert draft.placed == 2 and draft.hint == "click the other arm's end"
    draft.move((0, 80))
    assert draft.shape == Angle(((100, 0), (0, 0), (0, 80)))
    click(draft, (0, 100))
    assert draft.complete and draft.shape == Angle(((100, 0), (0, 0), (0, 100)))


def test_an_angle_can_be_three_clicks() -> None:
    draft = ShapeDraft("angle", slop=2)
    for point in ((100, 0), (0, 0), (0, 100)):
        assert not draft.complete
        click(draft, point)
    assert draft.complete and draft.shape == Angle(((100, 0), (0, 0), (0, 100)))


def test_a_cobb_angle_is_two_drags() -> None:
    draft = ShapeDraft("cobb", slop=2)
    drag(draft, (0, 0), (50, 5))
    assert not draft.complete and draft.placed == 2
    draft.press((0, 40))
    draft.move((50, 30))
    assert draft.shape == CobbAngle(((0, 0), (50, 5), (0, 40), (50, 30)))
    draft.release((50, 35))
    assert draft.complete and draft.shape == CobbAngle(((0, 0), (50, 5), (0, 40), (50, 35)))


def test_a_ctr_is_two_horizontal_drags_heart_then_thorax() -> None:
    draft = ShapeDraft("ctr", slop=2)
    assert "heart" in draft.hint
    drag(draft, (100, 300), (231, 310))  # a slightly slanted drag is levelled
    assert "thorax" in draft.hint
    draft.press((40, 360))
    draft.move((200, 380))
    assert draft.shape == CardiothoracicRatio(((100, 300), (231, 300), (40, 360), (200, 360)))
    draft.release((292, 355))
    assert draft.complete
    shape = draft.shape
    assert shape == CardiothoracicRatio(((100, 300), (231, 300), (40, 360), (292, 360)))
    assert shape is not None and shape.label(MeasureContext()) == "CTR 0.52"


def test_text_is_one_click_with_words_given_first() -> None:
    draft = ShapeDraft("text", text="pleural line")
    draft.press((5, 6))
    draft.move((7, 8))
    draft.release((7, 8))
    assert draft.complete and draft.shape == Text(((7, 8),), "pleural line")
    with pytest.raises(ValueError, match="characters"):
        ShapeDraft("text")


def test_a_finished_draft_ignores_further_events_and_an_unknown_kind_is_refused() -> None:
    draft = ShapeDraft("arrow")
    drag(draft, (0, 0), (5, 5))
    done = draft.shape
    drag(draft, (50, 50), (60, 60))
    assert draft.shape == done
    with pytest.raises(ValueError, match="unknown shape kind 'circle'"):
        ShapeDraft("circle")


def test_every_kind_has_hints_for_each_of_its_points() -> None:
    assert set(HINTS) == set(SHAPE_TYPES)
    for kind, cls in SHAPE_TYPES.items():
        assert len(HINTS[kind]) in (1, cls.COUNT)
