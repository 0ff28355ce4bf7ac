"""The pixel spacing of NIH PNGs, from the Data_Entry CSV beside them, looked up from any thread.

An NIH PNG has no header: the spacing is the original radiograph's (``nih.OriginalImage``),
scaled per axis to the PNG's own size, and the window says where it came from. Each folder's
table is read once (``nih.read_original_images``, for the images in that folder only), on the
decoding thread, never on the GUI thread.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

from viewer.core.errors import display_name
from viewer.core.nih import DataEntryError, OriginalImage, find_data_entry, read_original_images


@dataclass(frozen=True)
class FoundSpacing:
    """A spacing for an image without one: (row, column) mm per pixel, and where it came from."""

    spacing: tuple[float, float]
    source: str  # "Data_Entry_2017_v2020.csv: original 2682 x 2749 px at 0.143 x 0.143 mm, scaled to 1024 x 1024"

    @property
    def description(self) -> str:
        """One sentence for the user."""
        row, column = self.spacing
        return f"Pixel spacing {row:.3f} x {column:.3f} mm (row x column), from {self.source}."


class NihSpacing:
    """Data_Entry's original sizes and spacings, one table per folder of images, read once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_folder: dict[Path, tuple[str, dict[str, OriginalImage]] | None] = {}

    def spacing_for(self, path: Path, width: int, height: int) -> FoundSpacing | None:
        """The spacing of the ``width`` x ``height`` image at ``path``, or None when no Data_Entry
        beside it knows its original."""
        table = self._table(path.parent)
        if table is None:
            return None
        csv_name, originals = table
        original = originals.get(path.name)
        spacing = original.spacing_at(width, height) if original is not None else None
        if original is None or spacing is None:
            return None
        source = (f"{csv_name}: original {original.width} x {original.height} px at "
                  f"{original.spacing_x:.3f} x {original.spacing_y:.3f} mm, scaled to {width} x {height}")
        return FoundSpacing(spacing, source)

    def clear(self) -> None:
        """Forget the tables (another folder is opened: its Data_Entry may have changed)."""
        with self._lock:
            self._by_folder.clear()

    def _table(self, folder: Path) -> tuple[str, dict[str, OriginalImage]] | None:
        with self._lock:
            if folder not in self._by_folder:
                self._by_folder[folder] = _read_table(folder)
            return self._by_folder[folder]


def _read_table(folder: Path) -> tuple[str, dict[str, OriginalImage]] | None:
    csv_path = find_data_entry(folder)
    if csv_path is None:
        return None
    try:
        names = {entry.name for entry in os.scandir(folder)}
        return display_name(csv_path.name), read_original_images(csv_path, names)
    except (DataEntryError, OSError):
        return None  # the scan already lists a Data_Entry it cannot read; the image shows in pixels
