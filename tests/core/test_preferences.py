"""viewer.core.preferences: the display preferences' own small JSON file, versioned, read
tolerantly (a bad value is a default, never an error) and written without following links."""

from __future__ import annotations

import json
from pathlib import Path

from viewer.core.preferences import PREFERENCES_VERSION, Preferences, PreferencesFile, parse_preferences


def test_preferences_round_trip_through_their_file(tmp_path: Path) -> None:
    store = PreferencesFile(tmp_path / "config" / "preferences.json")
    assert store.load() == Preferences()  # no file yet: every default
    prefs = Preferences(colormap="Viridis", heatmap_opacity=70, sort_mode="triage")
    prefs = prefs.with_operating_point("a" * 64, 2).with_operating_point("b" * 64, -1)
    store.save(prefs)
    assert json.loads(store.path.read_text())["version"] == PREFERENCES_VERSION
    assert PreferencesFile(store.path).load() == prefs
    assert prefs.operating_point("a" * 64) == 2 and prefs.operating_point("c" * 64) is None
    assert prefs.with_operating_point("a" * 64, 0).operating_point("a" * 64) == 0


def test_unusable_values_read_as_defaults(tmp_path: Path) -> None:
    text = json.dumps({"version": PREFERENCES_VERSION, "colormap": 7, "heatmap_opacity": 170,
                       "sort_mode": "x" * 10_000, "operating_points": {"a": 2, "b": "3", "c": True, "d": 1.5},
                       "unknown": 1})
    assert parse_preferences(text) == Preferences().with_operating_point("a", 2)
    for broken in ("", "{", "[]", "null", json.dumps({"version": "1"}), json.dumps({"colormap": "Hot"})):
        assert parse_preferences(broken) == Preferences(), broken


def test_a_broken_file_is_replaced_and_a_newer_one_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "preferences.json"
    path.write_text("{not json")
    store = PreferencesFile(path)
    assert store.load() == Preferences()
    store.save(Preferences(colormap="Hot"))
    assert PreferencesFile(path).load().colormap == "Hot"

    newer = json.dumps({"version": PREFERENCES_VERSION + 1, "colormap": "Inferno", "layout": "something new"})
    path.write_text(newer)
    store = PreferencesFile(path)
    assert store.load() == Preferences()  # a later viewer's file: not guessed at
    store.save(Preferences(colormap="Hot"))
    assert path.read_text() == newer  # and not overwritten by this older one


def test_saving_replaces_a_link_planted_at_the_name(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.txt"
    target.write_text("keep")
    path = tmp_path / "preferences.json"
    path.symlink_to(target)
    PreferencesFile(path).save(Preferences(heatmap_opacity=10))
    assert target.read_text() == "keep" and not path.is_symlink()
    assert PreferencesFile(path).load().heatmap_opacity == 10
