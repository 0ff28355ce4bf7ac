"""The mouse layouts and the rule that picks what a press or a wheel turn does."""

from __future__ import annotations

import pytest

from viewer.viewmodel.bindings import KEYS, key_names, mouse_rows
from viewer.viewmodel.mouse_bindings import (
    DEFAULT_LAYOUT,
    LAYOUTS,
    WHEEL_NOTCH,
    MouseBindings,
    Tool,
    Wheel,
    layout_named,
    wheel_steps,
    zoom_drag_factor,
)


def test_the_default_is_today_s_layout() -> None:
    bindings = MouseBindings()
    assert bindings.layout.name == DEFAULT_LAYOUT == "classic"
    assert bindings.drag_for("left") is Tool.PAN and bindings.drag_for("middle") is Tool.PAN
    assert bindings.drag_for("right") is Tool.WINDOW and bindings.wheel_for() is Wheel.ZOOM


@pytest.mark.parametrize("name, left, middle, right, wheel", [
    ("radiant", Tool.WINDOW, Tool.PAN, None, Wheel.IMAGES),
    ("ohif", Tool.WINDOW, Tool.PAN, Tool.ZOOM, Wheel.IMAGES),
])
def test_the_layouts_users_bring_from_other_viewers(name: str, left: Tool, middle: Tool, right: Tool | None,
                                                    wheel: Wheel) -> None:
    bindings = MouseBindings(name)
    assert (bindings.drag_for("left"), bindings.drag_for("middle"), bindings.drag_for("right")) == (left, middle, right)
    assert bindings.wheel_for() is wheel and bindings.wheel_for(ctrl=True) is Wheel.ZOOM


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_modifiers_mean_the_same_in_every_layout(name: str) -> None:
    bindings = MouseBindings(name)
    bindings.tool = Tool.ZOOM
    assert bindings.drag_for("left") is Tool.ZOOM
    assert bindings.drag_for("left", ctrl=True) is Tool.WINDOW
    assert bindings.drag_for("left", shift=True) is Tool.MEASURE
    assert bindings.drag_for("back") is None


def test_a_new_layout_gives_the_left_button_its_tool_and_unknown_names_the_default() -> None:
    bindings = MouseBindings()
    bindings.tool = Tool.MEASURE
    bindings.set_layout("ohif")
    assert bindings.tool is Tool.WINDOW
    assert layout_named("no such layout").name == DEFAULT_LAYOUT and layout_named(None).name == DEFAULT_LAYOUT


def test_wheel_notches_step_images_and_small_turns_add_up() -> None:
    assert wheel_steps(0, -WHEEL_NOTCH) == (1, 0)  # towards the user: the next image
    assert wheel_steps(0, 2 * WHEEL_NOTCH) == (-2, 0)
    steps, rest = wheel_steps(0, -40)
    assert (steps, rest) == (0, -40)
    steps, rest = wheel_steps(rest, -40)
    steps, rest = wheel_steps(rest, -45)
    assert (steps, rest) == (1, -5)


def test_a_zoom_drag_up_zooms_in() -> None:
    assert zoom_drag_factor(-70) > 1.9 and zoom_drag_factor(70) < 0.55 and zoom_drag_factor(0) == 1.0
    assert zoom_drag_factor(-30) * zoom_drag_factor(30) == pytest.approx(1.0)


def test_every_layout_is_described_in_words() -> None:
    for layout in LAYOUTS.values():
        rows = dict(mouse_rows(layout))
        assert {"wheel", "Ctrl+wheel", "left-drag", "middle-drag", "right click", "double-click"} <= set(rows)
    assert dict(mouse_rows(LAYOUTS["classic"]))["right-drag"].startswith("window")
    assert dict(mouse_rows(LAYOUTS["radiant"]))["right click"] == "the menu"
    assert dict(mouse_rows(LAYOUTS["ohif"]))["wheel"] == "next / previous image"


def test_the_keys_table_names_every_key_once_with_what_it_does() -> None:
    assert {"PgDown", "Ctrl+1", "F11", "Esc", "W", "Right", "Down"} <= key_names()
    assert all(binding.keys and binding.what for binding in KEYS)
    on_the_image = [b for b in KEYS if b.where == "on the image"]
    assert {key for b in on_the_image for key in b.keys} == {"Right", "Down", "Left", "Up"}
