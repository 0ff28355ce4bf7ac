"""The viewer's display preferences: a small, versioned JSON file of its own.

Why a file of its own rather than more QSettings keys is decision 0005 (``docs/decisions``): in
short, QSettings keeps the window's layout and recent folders, whose version may be bumped to
throw a broken layout away, while these are the user's choices, read whole, checked value by
value, and kept across layout versions. The file::

    {"version": 1, "colormap": "Viridis", "heatmap_opacity": 70,
     "sort_mode": "triage", "operating_points": {"<model_id>": 2}}

Every key is optional. A value of the wrong type or outside its range reads as "not set" (the
window's default), never as an error: a hand-edited or damaged file costs a preference, not the
window. A file written by a later viewer (a higher ``version``) is neither read nor overwritten.
Whether a colormap or sort mode name is one the window offers, and how far the operating point
may move, is the window's to check when it applies them.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .safe_write import write_bytes

PREFERENCES_VERSION = 1
PREFERENCES_FILE = "preferences.json"
MAX_NAME = 100  # characters: longer text is no colormap or sort mode name
MAX_MODELS = 200  # operating points kept; the oldest are dropped beyond it
MAX_FILE_BYTES = 1 << 20  # a preferences file is a few hundred bytes; more is not ours

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Preferences:
    """The display preferences; None (or no entry) means "not set": the window's default."""

    colormap: str | None = None
    heatmap_opacity: int | None = None  # percent, 0..100
    sort_mode: str | None = None
    operating_points: Mapping[str, int] = field(default_factory=dict)  # model_id -> step

    def operating_point(self, model_id: str) -> int | None:
        """The operating-point step last chosen for the model ``model_id``, if any."""
        return self.operating_points.get(model_id)

    def with_operating_point(self, model_id: str, step: int) -> Preferences:
        """These preferences with ``model_id``'s step set (kept last: the most recent)."""
        points = {k: v for k, v in self.operating_points.items() if k != model_id}
        points[model_id] = int(step)
        return replace(self, operating_points=dict(list(points.items())[-MAX_MODELS:]))

    def to_json(self) -> str:
        data: dict[str, Any] = {"version": PREFERENCES_VERSION}
        if self.colormap is not None:
            data["colormap"] = self.colormap
        if self.heatmap_opacity is not None:
            data["heatmap_opacity"] = self.heatmap_opacity
        if self.sort_mode is not None:
            data["sort_mode"] = self.sort_mode
        if self.operating_points:
            data["operating_points"] = dict(self.operating_points)
        return json.dumps(data, indent=2, sort_keys=True) + "\n"


def parse_preferences(text: str) -> Preferences:
    """Preferences from a file's text; what cannot be used reads as not set (module doc)."""
    found = _version_and_data(text)
    if found is None or found[0] != PREFERENCES_VERSION:
        return Preferences()
    data = found[1]
    points = data.get("operating_points")
    return Preferences(
        colormap=_name(data.get("colormap")),
        heatmap_opacity=_integer(data.get("heatmap_opacity"), 0, 100),
        sort_mode=_name(data.get("sort_mode")),
        operating_points={str(k)[:MAX_NAME]: v for k, v in (points.items() if isinstance(points, dict) else ())
                          if _integer(v, -1_000, 1_000) is not None},
    )


class PreferencesFile:
    """The preferences file at ``path``: ``load`` it, ``save`` preferences into it.

    Written whole each time through ``safe_write`` (a new file renamed over the old, so a crash
    leaves the old file and a link planted at the name is replaced, not followed). A file from
    a later viewer makes this one read-only: its preferences are the later viewer's to keep.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.read_only = False

    def load(self) -> Preferences:
        try:
            with open(self.path, "rb") as handle:
                raw = handle.read(MAX_FILE_BYTES + 1)
        except FileNotFoundError:
            return Preferences()
        except OSError as exc:
            log.warning("preferences not read from %s: %s", self.path, exc.strerror or exc)
            return Preferences()
        text = raw.decode("utf-8", errors="replace") if len(raw) <= MAX_FILE_BYTES else ""
        found = _version_and_data(text)
        self.read_only = found is not None and found[0] > PREFERENCES_VERSION
        return parse_preferences(text)

    def save(self, preferences: Preferences) -> None:
        """Write ``preferences``; a failure is logged (a preference is not worth an error box)."""
        if self.read_only:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_bytes(self.path, preferences.to_json().encode("utf-8"))
        except OSError as exc:
            log.warning("preferences not saved to %s: %s", self.path, exc.strerror or exc)


def _version_and_data(text: str) -> tuple[int, dict[str, Any]] | None:
    """The file's version and object, or None when it is not a preferences object at all."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        return None
    return version, data


def _name(value: object) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= MAX_NAME else None


def _integer(value: object, low: int, high: int) -> int | None:
    # bool is an int to Python, and 1.5 is not a step: both are refused
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        return None
    return value
