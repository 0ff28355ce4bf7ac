"""Window state, recent folders, the last exported files and the mouse layout in QSettings, and
nothing else (STYLE.md, Qt section).

Keys are constants here so a typo cannot create a second, silently ignored setting. The stored
``SETTINGS_VERSION`` lets a release that changes the dock layout discard the old layout
instead of restoring a broken one. The display preferences (colormap, opacity, operating
points, the browser's order) are a file of their own beside this store
(``viewer.core.preferences``, decision 0005): a layout thrown away must not take them along.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

from viewer.core.preferences import PREFERENCES_FILE

ORGANIZATION = "CXR Viewer"
APPLICATION = "cxr-viewer"

# Bump when the dock/toolbar layout changes: stored geometry and state are then ignored.
SETTINGS_VERSION = 1

KEY_VERSION = "settings/version"
KEY_GEOMETRY = "window/geometry"
KEY_STATE = "window/state"
KEY_RECENT_FOLDERS = "files/recent_folders"
KEY_MOUSE_PRESET = "view/mouse_preset"
KEY_HANGING = "view/hanging/{situation}"  # the layout the user chose for a situation ("1x2")
KEY_LINK_VIEWS = "view/link_views"
KEY_EXPORT = "exports/{kind}"  # the last file written by an export, per kind ("png", "csv")

MAX_RECENT = 8


class AppSettings:
    """Typed access to the viewer's QSettings.

    Pass a ``QSettings`` to use another store (tests point it at a temporary INI file);
    the default is the per-user store of the platform.
    """

    def __init__(self, store: QSettings | None = None) -> None:
        self._store = store if store is not None else QSettings(ORGANIZATION, APPLICATION)
        stored = self._store.value(KEY_VERSION)
        if stored is not None and _as_int(stored) != SETTINGS_VERSION:
            # A layout from another version: start afresh rather than restore a broken one.
            self._store.remove(KEY_GEOMETRY)
            self._store.remove(KEY_STATE)
        self._store.setValue(KEY_VERSION, SETTINGS_VERSION)

    @classmethod
    def at(cls, path: str | Path) -> AppSettings:
        """Settings kept in the INI file ``path`` (used by tests and portable installs)."""
        return cls(QSettings(str(path), QSettings.Format.IniFormat))

    @property
    def store(self) -> QSettings:
        return self._store

    def preferences_path(self) -> Path:
        """Where the display preferences file is: beside this store's INI file, or, for the
        platform's own store (the Windows registry is no folder), in the folder where the
        user's INI file would be."""
        if self._store.format() == QSettings.Format.IniFormat:
            return Path(self._store.fileName()).with_name(PREFERENCES_FILE)
        ini = QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANIZATION, APPLICATION)
        return Path(ini.fileName()).with_name(PREFERENCES_FILE)

    # -- window layout ------------------------------------------------------------------------
    def window_geometry(self) -> QByteArray | None:
        value = self._store.value(KEY_GEOMETRY)
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    def window_state(self) -> QByteArray | None:
        value = self._store.value(KEY_STATE)
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    def save_window(self, geometry: QByteArray, state: QByteArray) -> None:
        self._store.setValue(KEY_GEOMETRY, geometry)
        self._store.setValue(KEY_STATE, state)
        self._store.sync()

    # -- recent folders -----------------------------------------------------------------------
    def recent_folders(self) -> list[Path]:
        """Most recent first; folders that no longer exist are left out."""
        value = self._store.value(KEY_RECENT_FOLDERS)
        if value is None:
            return []
        items = [value] if isinstance(value, str) else list(value)
        return [Path(p) for p in items if isinstance(p, str) and p and Path(p).exists()]

    def add_recent_folder(self, folder: Path) -> list[Path]:
        """Put ``folder`` first in the recent list (without duplicates) and return the list."""
        folder = Path(folder).resolve()
        folders = [folder] + [p for p in self.recent_folders() if p.resolve() != folder]
        folders = folders[:MAX_RECENT]
        # No sync() here: QSettings writes it back on its own, and opening a folder should not
        # wait for the disk.
        self._store.setValue(KEY_RECENT_FOLDERS, [str(p) for p in folders])
        return folders

    def clear_recent_folders(self) -> None:
        self._store.remove(KEY_RECENT_FOLDERS)
        self._store.sync()

    # -- mouse layout -------------------------------------------------------------------------
    def mouse_preset(self) -> str:
        """The name of the mouse layout the user chose ("" when none was: the default)."""
        value = self._store.value(KEY_MOUSE_PRESET)
        return value if isinstance(value, str) else ""

    def set_mouse_preset(self, name: str) -> None:
        self._store.setValue(KEY_MOUSE_PRESET, name)
        self._store.sync()

    # -- hanging and linked views -------------------------------------------------------------
    def hanging_layout(self, situation: str, layouts: Collection[str]) -> str | None:
        """The layout the user chose for ``situation`` (one of ``layouts``), or None."""
        value = self._store.value(KEY_HANGING.format(situation=situation))
        return value if isinstance(value, str) and value in layouts else None

    def set_hanging_layout(self, situation: str, layout: str) -> None:
        self._store.setValue(KEY_HANGING.format(situation=situation), layout)
        self._store.sync()

    def link_views(self) -> bool:
        """Whether the viewports' window, zoom and pan move together (on unless turned off)."""
        value = self._store.value(KEY_LINK_VIEWS)
        return not (isinstance(value, (str, bool)) and str(value).lower() in ("false", "0"))

    def set_link_views(self, on: bool) -> None:
        self._store.setValue(KEY_LINK_VIEWS, "true" if on else "false")
        self._store.sync()

    # -- exports ------------------------------------------------------------------------------
    def last_export(self, kind: str) -> Path | None:
        """The file the last export of ``kind`` ("png", "csv") wrote, for its dialog to propose."""
        value = self._store.value(KEY_EXPORT.format(kind=kind))
        return Path(value) if isinstance(value, str) and value else None

    def set_last_export(self, kind: str, path: Path) -> None:
        self._store.setValue(KEY_EXPORT.format(kind=kind), str(path))


def _as_int(value: object) -> int | None:
    """A stored setting as an int (QSettings gives text from an INI file); None when it is not one."""
    if not isinstance(value, (int, float, str, bytes)):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
