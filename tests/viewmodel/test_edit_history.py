"""One image frame's shapes: add, delete, move, edit, clear, and undo/redo of each."""

from __future__ import annotations

import pytest

from viewer.viewmodel.edit_history import EditHistory
from viewer.viewmodel.shapes import Distance, RectRoi, Text, shapes_from_dicts

A = Distance(((0, 0), (10, 0)))
B = RectRoi(((5, 5), (20, 20)))
C = Text(((1, 1),), "note")


def test_each_change_is_undone_and_redone_in_turn() -> None:
    history = EditHistory()
    assert history.add(A) == 0 and history.add(B) == 1 and history.add(C) == 2
    history.move(0, 5, 5)
    history.set_point(1, 1, (30, 30))
    history.replace(2, Text(((1, 1),), "edited"))
    history.delete(0)
    states = [history.shapes]
    while history.undo():
        states.append(history.shapes)
    assert states == [
        (B.with_point(1, (30, 30)), Text(((1, 1),), "edited")),
        (A.moved(5, 5), B.with_point(1, (30, 30)), Text(((1, 1),), "edited")),
        (A.moved(5, 5), B.with_point(1, (30, 30)), C),
        (A.moved(5, 5), B, C),
        (A, B, C),
        (A, B),
        (A,),
        (),
    ]
    assert not history.can_undo and history.can_redo
    while history.redo():
        pass
    assert history.shapes == states[0] and not history.can_redo


def test_a_new_change_after_undo_drops_what_could_be_redone() -> None:
    history = EditHistory([A, B])
    history.delete(1)
    history.undo()
    history.add(C)
    assert history.shapes == (A, B, C)
    assert not history.can_redo and not history.redo()


def test_clear_is_one_step() -> None:
    history = EditHistory([A, B])
    history.clear()
    assert history.shapes == ()
    history.clear()  # nothing to clear: no step
    assert history.undo() and history.shapes == (A, B)
    assert not history.undo()


def test_a_drag_is_one_step_however_many_moves_it_sends() -> None:
    history = EditHistory([A, B])
    for step in range(1, 11):
        history.drag(1, B.moved(step, 0))
    history.end_drag()
    assert history.shapes == (A, B.moved(10, 0))
    for step in range(1, 4):
        history.drag(1, B.moved(10, step))
    history.end_drag()
    assert history.undo() and history.shapes == (A, B.moved(10, 0))
    assert history.undo() and history.shapes == (A, B)
    assert not history.can_undo


def test_a_drag_of_another_shape_or_after_another_change_is_a_step_of_its_own() -> None:
    history = EditHistory([A, B])
    history.drag(0, A.moved(1, 0))
    history.drag(1, B.moved(1, 0))  # the canvas forgot end_drag: still two steps
    history.drag(1, B.moved(2, 0))
    history.add(C)
    history.drag(1, B.moved(3, 0))
    history.undo()
    assert history.shapes == (A.moved(1, 0), B.moved(2, 0), C)
    history.undo()
    history.undo()
    assert history.shapes == (A.moved(1, 0), B)


def test_the_history_is_bounded() -> None:
    history = EditHistory(limit=3)
    for i in range(10):
        history.add(Distance(((i, 0), (i, 1))))
    assert sum(1 for _ in iter(history.undo, False)) == 3
    assert len(history.shapes) == 7
    with pytest.raises(ValueError):
        EditHistory(limit=0)


def test_the_revision_changes_with_every_visible_change() -> None:
    history = EditHistory()
    seen = [history.revision]
    for change in (lambda: history.add(A), lambda: history.drag(0, A.moved(1, 1)),
                   lambda: history.drag(0, A.moved(2, 2)), history.undo, history.redo, history.clear):
        change()
        seen.append(history.revision)
    assert len(set(seen)) == len(seen)
    before = history.revision
    history.end_drag()  # changes nothing the user sees
    assert history.revision == before


def test_bad_indices_are_refused() -> None:
    history = EditHistory([A])
    for change in (lambda: history.delete(1), lambda: history.move(-1, 1, 1), lambda: history.replace(3, B),
                   lambda: history.set_point(0, 5, (1, 1)), lambda: history.drag(2, B)):
        with pytest.raises(IndexError):
            change()
    assert history.shapes == (A,) and not history.can_undo


def test_the_list_goes_to_the_store_and_back() -> None:
    history = EditHistory([A, B, C])
    shapes, problems = shapes_from_dicts(history.to_dicts())
    assert EditHistory(shapes).shapes == (A, B, C) and problems == []
