"""The frame stack and cine player: scrolling clamps, cine wraps on elapsed time, the header's rate."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pydicom
import pytest
from pydicom.dataelem import RawDataElement
from pydicom.tag import Tag

from viewer.core.radiograph import SourceFormat
from viewer.core.scan import ScannedImage
from viewer.viewmodel.frame_stack import (
    DEFAULT_FPS,
    MAX_FPS,
    MIN_FPS,
    CinePlayer,
    FrameStack,
    StackItem,
    bounded_fps,
    default_fps,
    stack_of_file,
    stack_of_series,
)


def _image(name: str, instance: int | None, frames: int = 1) -> ScannedImage:
    base = ScannedImage(path=Path("/export") / name, relative_path=Path(name), format=SourceFormat.DICOM,
                        patient_key=1, study_key=1, series_key=1, patient_label="P", patient_id=None,
                        study_label="S", series_number=1, instance_number=instance)
    return replace(base, frames=frames)


def test_scrolling_stops_at_either_end_and_says_whether_it_moved() -> None:
    stack = FrameStack(5)
    assert stack.index == 0 and stack.at_start and not stack.step(-1)
    assert stack.step(3) and stack.index == 3
    assert stack.step(10) and stack.index == 4 and stack.at_end
    assert not stack.step(1) and stack.index == 4
    assert stack.go(1) and stack.index == 1 and not stack.go(1)
    assert stack.go(-7) and stack.index == 0


def test_the_counter_is_one_based_and_absent_for_one_image() -> None:
    stack = FrameStack(5, index=2)
    assert stack.counter_text() == "Frame 3/5"
    assert FrameStack(5, index=99).counter_text() == "Frame 5/5"  # a start past the end is clamped
    assert FrameStack(1).counter_text() == ""
    with pytest.raises(ValueError, match="at least one"):
        FrameStack(0)


def test_a_file_stack_holds_each_frame_of_the_file() -> None:
    stack = stack_of_file(Path("/a/cine.dcm"), 4, index=1)
    assert stack.items == tuple(StackItem(Path("/a/cine.dcm"), k) for k in range(4))
    assert stack.current == StackItem(Path("/a/cine.dcm"), 1) and stack.counter_text() == "Frame 2/4"
    assert stack.step(1) and stack.current.frame == 2
    assert stack_of_file(Path("/a/x.png"), 1).items == (StackItem(Path("/a/x.png"), 0),)


def test_a_series_stack_is_in_instance_order_and_spreads_multi_frame_images() -> None:
    images = [_image("c.dcm", 3), _image("none.dcm", None), _image("a.dcm", 1), _image("b.dcm", 2, frames=2)]
    stack = stack_of_series(images)
    assert [(item.path.name, item.frame) for item in stack.items] == [
        ("a.dcm", 0), ("b.dcm", 0), ("b.dcm", 1), ("c.dcm", 0), ("none.dcm", 0)]
    assert stack.counter_text() == "Image 1/5"
    assert stack.index_of(StackItem(Path("/export/c.dcm"), 0)) == 3
    assert stack.index_of(StackItem(Path("/export/gone.dcm"), 0)) is None
    with pytest.raises(ValueError):
        stack_of_series([])


def test_cine_plays_on_elapsed_time_and_wraps_round() -> None:
    player, stack = CinePlayer(10), FrameStack(5, index=3)
    assert not player.tick(stack, 100.0)  # not playing: nothing moves
    player.play(100.0, stack.index)
    assert player.playing and player.interval == pytest.approx(0.1)
    assert not player.tick(stack, 100.05) and stack.index == 3
    assert player.tick(stack, 100.1) and stack.index == 4
    assert player.tick(stack, 100.2) and stack.index == 0  # wraps: a loop, unlike the wheel
    assert player.frame_at(100.3, 5) == 1  # 0.3 s at 10 fps is three frames on, not two
    assert player.tick(stack, 101.0) and stack.index == 3  # a late tick skips frames, as a clock does
    assert player.frame_at(99.0, 5) == 3  # a clock earlier than the start: the starting frame
    player.stop()
    assert not player.playing and not player.tick(stack, 102.0) and stack.index == 3
    with pytest.raises(RuntimeError):
        player.frame_at(102.0, 5)


def test_changing_the_rate_while_playing_goes_on_from_the_frame_shown() -> None:
    player = CinePlayer(10)
    player.play(0.0, 0)
    player.set_fps(1, now=0.25, count=10)  # frame 2 is on screen at 0.25 s
    assert player.fps == 1
    assert player.frame_at(0.25, 10) == 2 and player.frame_at(1.2, 10) == 2 and player.frame_at(1.25, 10) == 3


def test_the_rate_is_bounded() -> None:
    assert CinePlayer(500).fps == MAX_FPS and CinePlayer(0).fps == MIN_FPS and CinePlayer(-3).fps == MIN_FPS
    assert bounded_fps(float("nan")) == DEFAULT_FPS and bounded_fps(float("inf")) == DEFAULT_FPS
    assert bounded_fps(24.0) == 24.0


def _header(**values: str) -> pydicom.Dataset:
    ds = pydicom.Dataset()
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    return ds


@pytest.mark.parametrize(("values", "fps"), [
    ({}, DEFAULT_FPS),
    ({"RecommendedDisplayFrameRate": "25", "CineRate": "12", "FrameTime": "100"}, 25.0),
    ({"CineRate": "12", "FrameTime": "100"}, 12.0),
    ({"FrameTime": "40"}, 25.0),  # ms per frame
    ({"FrameTime": "5"}, MAX_FPS),  # 200 fps asked: bounded
    ({"FrameTime": "4000"}, MIN_FPS),
    ({"RecommendedDisplayFrameRate": "0", "FrameTime": "50"}, 20.0),  # an unusable rate is passed over
    ({"CineRate": "-5"}, DEFAULT_FPS),
    ({"FrameTime": "0"}, DEFAULT_FPS),
], ids=lambda v: str(v))
def test_the_default_rate_comes_from_the_header(values: dict[str, str], fps: float) -> None:
    assert default_fps(_header(**values)) == pytest.approx(fps)


def test_a_damaged_rate_reads_as_the_default() -> None:
    ds = pydicom.Dataset()  # FrameTime that is no number, as a file read would hold it (not yet converted)
    ds[0x00181063] = RawDataElement(Tag(0x00181063), "DS", 4, b"fast", 0, False, True)  # type: ignore[assignment]
    assert default_fps(ds) == DEFAULT_FPS
    assert default_fps(None) == DEFAULT_FPS
