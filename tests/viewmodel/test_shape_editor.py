"""What a press, a move and a release do to the shapes, without Qt: the order of the rules, a
drag as one step of undo, a save only when a change is complete, and labels kept per shape."""

from __future__ import annotations

import numpy as np
import pytest

from viewer.core.measure_spacing import CALIBRATED, MeasureSpacing
from viewer.viewmodel import shapes as shapes_module
from viewer.viewmodel.edit_history import EditHistory
from viewer.viewmodel.shape_editor import Gesture, ShapeEditor, spacing_note, status_text
from viewer.viewmodel.shapes import Distance, EllipseRoi, MeasureContext


def _editor() -> ShapeEditor:
    return ShapeEditor(EditHistory([Distance(((0, 0), (10, 0))), Distance(((0, 20), (10, 20)))]))


def test_a_press_selects_then_a_drag_of_the_selected_shape_moves_it_as_one_step() -> None:
    editor = _editor()
    assert editor.press((5, 20.5), 1.0, "distance") is Gesture.SELECT and editor.selected == 1
    assert not editor.move((9, 25)) and not editor.release((9, 25))  # selecting moves nothing
    assert editor.press((5, 20), 1.0, "distance") is Gesture.MOVE
    assert not editor.move((5.5, 20), slop=1.0)  # within the click's slop: not yet
    for x in (6, 7, 8):
        assert editor.move((x, 23), slop=1.0)
    assert editor.release((8, 23))
    assert editor.shapes[1].points == ((3, 23), (13, 23))
    assert editor.undo() and editor.shapes[1].points == ((0, 20), (10, 20)) and not editor.undo()


def test_a_handle_of_the_selected_shape_is_edited_and_a_press_elsewhere_draws_or_deselects() -> None:
    editor = _editor()
    editor.select(0)
    assert editor.press((10.4, 0), 1.0, None) is Gesture.HANDLE
    editor.move((12, 5))
    assert editor.release((12, 5)) and editor.shapes[0].points == ((0, 0), (12, 5))
    assert editor.press((50, 50), 1.0, None) is Gesture.NONE and editor.selected is None  # a view tool's
    assert editor.press((50, 50), 1.0, "angle") is Gesture.DRAW and editor.hint.startswith("drag")
    editor.move((60, 60))
    assert not editor.release((60, 60)) and editor.hint == "click the other arm's end"
    assert editor.press((5, 20), 1.0, "angle") is Gesture.DRAW  # the draft's, though a shape is there
    assert editor.release((5, 20)) and editor.shapes[-1].kind == "angle" and editor.selected == 2
    assert editor.press((70, 70), 1.0, "text") is Gesture.TEXT
    with pytest.raises(ValueError):
        editor.add_text((70, 70), "\x07")
    assert len(editor.shapes) == 3


def test_labels_are_kept_per_shape_and_follow_the_spacing(monkeypatch) -> None:
    pixels = np.arange(100, dtype=np.float32).reshape(10, 10)
    editor = ShapeEditor(EditHistory([EllipseRoi(((1, 1), (8, 8)))]))
    calls = []
    real = shapes_module._Region.label
    monkeypatch.setattr(shapes_module._Region, "label", lambda self, c: calls.append(1) or real(self, c))
    context = MeasureContext(None, pixels)
    first = editor.labels(context)
    assert editor.labels(context) == first and len(calls) == 1  # a repaint computes nothing
    mm = MeasureContext(MeasureSpacing(0.5, 0.5, "PixelSpacing"), pixels)
    assert editor.labels(mm)[0].endswith("mm²") and len(calls) == 2
    assert status_text(editor.shapes[0], editor.labels(mm)[0]).startswith("Ellipse: mean ")


def test_the_spacing_note_says_where_lengths_come_from() -> None:
    assert spacing_note(None).startswith("px: no pixel spacing")
    assert spacing_note(MeasureSpacing(1, 1, CALIBRATED)) == "mm, calibrated on a known length"
    assert spacing_note(MeasureSpacing(1, 1, "Data_Entry.csv: original 2 x 2")) == "mm from Data_Entry.csv"
