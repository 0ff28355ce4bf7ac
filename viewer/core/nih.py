"""The NIH ChestX-ray14 label file (``Data_Entry_2017.csv`` / ``Data_Entry_2017_v2020.csv``).

``read_data_entry`` turns the file into one ``NihEntry`` per image, keyed by its file name
(``Image Index``); ``find_data_entry`` finds the file for a folder of NIH images the way a user
lays out the official download (the CSV beside ``images/`` or in the same folder). The viewer's
folder scan and the trainer both read labels through this module, so both agree on them.

``read_original_images`` reads the size and pixel spacing of the radiograph each PNG was made
from (``OriginalImage[Width,Height]``, ``OriginalImagePixelSpacing[x,y]``): the PNGs carry no
spacing of their own, and were resized to squares (1024 x 1024, or smaller copies) without
keeping the aspect, so ``OriginalImage.spacing_at`` scales each axis by its own ratio. It is a
reader of its own, for the images asked about, because the labels' reader keeps every row of
the 112,120 and the scan has no use for these columns.
"""

from __future__ import annotations

import csv
import math
import os
import re
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from .csv_limits import LabelFileError, bounded_lines
from .errors import FileProblem
from .labels import NIH_LABELS

NO_FINDING = "No Finding"

# Newest first: the 2020 revision corrected the patient ages of the 2017 file.
DATA_ENTRY_NAMES: tuple[str, ...] = ("Data_Entry_2017_v2020.csv", "Data_Entry_2017.csv")

REQUIRED_COLUMNS = ("Image Index", "Finding Labels", "Patient ID")
# "OriginalImage[Width,Height]" is one header cell with a comma inside, so a CSV reader sees two
# columns, and the same for the spacing.
ORIGINAL_COLUMNS = ("OriginalImage[Width", "Height]", "OriginalImagePixelSpacing[x", "y]")
_ORDER = {label: i for i, label in enumerate(NIH_LABELS)}
_FOLLOW_UP_IN_NAME = re.compile(r"_(\d+)\.[A-Za-z]+$")
_AGE = re.compile(r"^\s*(\d+)\s*([YMWD]?)\s*$", re.IGNORECASE)
_MAX_AGE = 120  # the 2017 file has a few ages like 414 (typos the 2020 revision fixed)


T = TypeVar("T")


class DataEntryError(FileProblem):
    """The label CSV cannot be read or lacks what a Data_Entry file must have."""


@dataclass(frozen=True, slots=True)
class NihEntry:
    """One row of the Data_Entry file.

    ``labels`` holds the findings in official order; it is empty for "No Finding". Labels the
    official list does not know are kept (after the known ones) rather than silently dropped.
    ``age``/``sex``/``view`` are None where the file has no usable value.
    """

    image_index: str
    labels: tuple[str, ...]
    patient_id: int
    follow_up: int
    age: int | None
    sex: str | None
    view: str | None

    @property
    def no_finding(self) -> bool:
        return not self.labels


@dataclass(frozen=True, slots=True)
class OriginalImage:
    """The radiograph an NIH PNG was made from: its size in pixels, and its pixel spacing in mm
    along x (columns) and y (rows)."""

    width: int
    height: int
    spacing_x: float
    spacing_y: float

    def spacing_at(self, width: int, height: int) -> tuple[float, float] | None:
        """(row, column) mm per pixel of a copy of ``width`` x ``height`` pixels, each axis scaled
        by its own ratio; None for an empty size."""
        if width <= 0 or height <= 0:
            return None
        return self.spacing_y * self.height / height, self.spacing_x * self.width / width


def parse_labels(text: str) -> tuple[str, ...]:
    """``"Effusion|Cardiomegaly"`` -> ``("Cardiomegaly", "Effusion")``; "No Finding" -> ``()``."""
    found = {part.strip() for part in text.split("|")} - {"", NO_FINDING}
    return tuple(sorted(found, key=lambda label: (_ORDER.get(label, len(_ORDER)), label)))


def _parse_age(text: str) -> int | None:
    """Ages are plain years in the files, but early copies wrote them as ``058Y``/``011M``."""
    match = _AGE.match(text)
    if not match:
        return None
    value, unit = int(match.group(1)), match.group(2).upper()
    if unit in ("M", "W", "D"):  # months, weeks, days: younger than one year
        value = 0
    return value if value <= _MAX_AGE else None


def _follow_up(text: str | None, image_index: str) -> int:
    if text is not None and text.strip().isdigit():
        return int(text)
    match = _FOLLOW_UP_IN_NAME.search(image_index)  # NIH names are PATIENT_FOLLOWUP.png
    return int(match.group(1)) if match else 0


def read_data_entry(csv_path: str | os.PathLike[str]) -> dict[str, NihEntry]:
    """Every row of a Data_Entry CSV as ``{image file name: NihEntry}``.

    Raises ``DataEntryError`` naming the file when it cannot be read, lacks one of
    ``REQUIRED_COLUMNS`` or has a row whose ``Patient ID`` is not a number.
    Reads the official 112,120-row file in well under a second (plain ``csv``, no pandas).
    """
    return _read(Path(csv_path), lambda path, header, rows: _read_rows(path, rows, _column_indices(path, header)))


def read_original_images(csv_path: str | os.PathLike[str],
                         names: Collection[str] | None = None) -> dict[str, OriginalImage]:
    """``{image file name: OriginalImage}`` for the rows of a Data_Entry CSV named in ``names``
    (every row without it) whose original size and spacing are usable numbers.

    Empty for a file without those columns (a cut-down copy); raises ``DataEntryError`` as
    ``read_data_entry`` does for a file that is not a Data_Entry CSV at all.
    """
    wanted = None if names is None else frozenset(names)

    def originals(path: Path, header: list[str], rows: Iterator[list[str]]) -> dict[str, OriginalImage]:
        columns = _column_indices(path, header)
        cells = [name.strip() for name in header]
        if not all(name in cells for name in ORIGINAL_COLUMNS):
            return {}
        i_name = columns["Image Index"]
        indices = [cells.index(name) for name in ORIGINAL_COLUMNS]
        needed = max(indices) + 1
        found: dict[str, OriginalImage] = {}
        for row in rows:
            if len(row) < needed:
                continue
            name = row[i_name].strip()
            if wanted is not None and name not in wanted:
                continue
            original = _original(*(row[i] for i in indices))
            if original is not None:
                found[name] = original
        return found

    return _read(Path(csv_path), originals)


def _original(width: str, height: str, spacing_x: str, spacing_y: str) -> OriginalImage | None:
    """The cells of one row as an ``OriginalImage``, or None where one is not a usable number."""
    try:
        w, h, x, y = int(width), int(height), float(spacing_x), float(spacing_y)
    except ValueError:
        return None
    if w <= 0 or h <= 0 or not (math.isfinite(x) and math.isfinite(y) and x > 0 and y > 0):
        return None
    return OriginalImage(w, h, x, y)


def _read(path: Path, consume: Callable[[Path, list[str], Iterator[list[str]]], T]) -> T:
    """Open a Data_Entry CSV and hand its header and rows to ``consume``; every way the file can
    fail becomes one ``DataEntryError`` naming it."""
    try:
        # utf-8-sig: a spreadsheet that re-saved the file may have put a byte-order mark first.
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = csv.reader(bounded_lines(handle))
            header = next(rows, None)
            if header is None:
                raise DataEntryError(path, "is empty", "use the Data_Entry_2017 CSV of the NIH download")
            return consume(path, header, rows)
    except DataEntryError:
        raise
    except FileNotFoundError:
        raise DataEntryError(path, "not found") from None
    except LabelFileError as exc:
        raise DataEntryError(path, str(exc), "use the Data_Entry_2017 CSV of the NIH download") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataEntryError(path, f"cannot be read as a CSV file ({exc})") from None


def _column_indices(path: Path, header: list[str]) -> dict[str, int]:
    names = [name.strip() for name in header]
    missing = [name for name in REQUIRED_COLUMNS if name not in names]
    if missing:
        raise DataEntryError(
            path,
            f"has no column {', '.join(repr(m) for m in missing)} (found {', '.join(names[:8]) or 'none'})",
            "use the Data_Entry_2017 CSV of the NIH download, whose header starts "
            "'Image Index,Finding Labels,Follow-up #,Patient ID'",
        )
    wanted = ("Image Index", "Finding Labels", "Patient ID", "Follow-up #", "Patient Age",
              "Patient Gender", "View Position")
    return {name: names.index(name) for name in wanted if name in names}


def _read_rows(path: Path, rows: Iterator[list[str]], columns: dict[str, int]) -> dict[str, NihEntry]:
    i_name, i_labels, i_patient = columns["Image Index"], columns["Finding Labels"], columns["Patient ID"]
    i_follow, i_age = columns.get("Follow-up #"), columns.get("Patient Age")
    i_sex, i_view = columns.get("Patient Gender"), columns.get("View Position")
    needed = max(columns.values()) + 1
    label_cache: dict[str, tuple[str, ...]] = {}  # ~800 distinct label strings in 112k rows
    entries: dict[str, NihEntry] = {}
    for line, row in enumerate(rows, start=2):
        if not row or not row[0].strip():
            continue  # blank line (the 2017 file ends with one in some copies)
        if len(row) < needed:
            row = row + [""] * (needed - len(row))
        name = row[i_name].strip()
        try:
            patient = int(row[i_patient])
        except ValueError:
            raise DataEntryError(
                path, f"line {line}: Patient ID {row[i_patient]!r} is not a number"
            ) from None
        text = row[i_labels]
        labels = label_cache.get(text)
        if labels is None:
            labels = label_cache[text] = parse_labels(text)
        sex = row[i_sex].strip().upper() if i_sex is not None else ""
        view = row[i_view].strip().upper() if i_view is not None else ""
        entries[name] = NihEntry(
            image_index=name,
            labels=labels,
            patient_id=patient,
            follow_up=_follow_up(row[i_follow] if i_follow is not None else None, name),
            age=_parse_age(row[i_age]) if i_age is not None else None,
            sex=sex or None,
            view=view or None,
        )
    return entries


def find_data_entry(folder: str | os.PathLike[str]) -> Path | None:
    """The Data_Entry CSV for a folder of NIH images: in the folder or the nearest parent.

    Prefers the 2020 revision when both are in the same folder. Returns None when there is none.
    A file path starts the search at its folder.
    """
    return find_upwards(folder, DATA_ENTRY_NAMES)


def find_upwards(folder: str | os.PathLike[str], names: tuple[str, ...]) -> Path | None:
    """The first of ``names`` in ``folder`` or its nearest parent (a file path starts at its folder)."""
    start = Path(folder).absolute()
    if not start.is_dir():
        start = start.parent
    for directory in (start, *start.parents):
        for name in names:
            candidate = directory / name
            try:
                if candidate.is_file():
                    return candidate
            except OSError:  # an unreadable parent (permissions, stale mount): keep looking up
                continue
    return None
