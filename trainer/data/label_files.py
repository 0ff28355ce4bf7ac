"""The datasets' label CSVs, plain, gzipped or zipped, read with bounded cost.

MIMIC-CXR-JPG ships its tables gzipped (``mimic-cxr-2.0.0-chexpert.csv.gz``) and people often
unpack them; CheXpert's ``train.csv`` is plain; Kaggle's downloads (RSNA pneumonia) come as a
``.zip`` of one CSV. All are read here the same way: every line and
the whole text are bounded (a gzip file can unpack to anything), and every problem becomes one
``TrainerError`` that names the file and what to do, never a cell's content (a label file beside
images may hold identities; the messages say where, not what).
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TextIO

from viewer.core.csv_limits import MAX_LINE_CHARS

from ..errors import TrainerError

# MIMIC-CXR-JPG's metadata table, the largest, is about 60 MB unpacked (377,110 rows)
MAX_TEXT_CHARS = 1 << 30


def find_label_file(folder: Path, names: Sequence[str]) -> Path | None:
    """The first of ``names`` (each also tried with ``.gz`` and ``.zip``) in ``folder`` or one of
    its parents."""
    for place in (folder, *folder.parents):
        for name in names:
            for candidate in (place / name, place / f"{name}.gz", place / f"{name}.zip"):
                if candidate.is_file():
                    return candidate
    return None


def read_label_rows(path: Path, required: Sequence[str],
                    keep: Sequence[str] | None = None) -> list[dict[str, str]]:
    """The rows of a CSV (``.gz``: gzipped; ``.zip``: the one CSV in a zip archive) as dicts of
    stripped cells; raises ``TrainerError`` when it cannot be read or lacks one of the ``required``
    columns. ``keep``: only these columns (those the file has) go into the dicts, e.g. to leave
    PadChest's report text out."""
    try:
        with _open_text(path) as handle:
            reader = csv.reader(_bounded(handle))
            header = [cell.strip() for cell in next(reader, [])]
            missing = [name for name in required if name not in header]
            if missing:
                raise TrainerError(f"{path}: no column {', '.join(repr(m) for m in missing)} "
                                   "(is this the dataset's own label file?)")
            wanted = [(i, name) for i, name in enumerate(header) if keep is None or name in keep]
            rows = []
            for cells in reader:
                if cells:
                    rows.append({name: cells[i].strip() for i, name in wanted if i < len(cells)})
            return rows
    except TrainerError:
        raise
    except (OSError, EOFError, zlib.error, zipfile.BadZipFile, UnicodeDecodeError, csv.Error, ValueError) as exc:
        # OSError covers gzip.BadGzipFile; ValueError the bounds below and a zip of several files
        raise TrainerError(f"{path}: cannot be read as a label CSV: {type(exc).__name__} "
                           f"({_reason(exc)}); use the file as the dataset publishes it") from None


def read_header(path: Path) -> list[str]:
    """The column names of a CSV (``.gz``, ``.zip`` too), stripped; ``[]`` when it cannot be read,
    so that a caller can tell one dataset's file from another of the same name (``train.csv``)."""
    try:
        with _open_text(path) as handle:
            return [cell.strip() for cell in next(csv.reader([handle.readline(MAX_LINE_CHARS)]), [])]
    except (OSError, EOFError, zlib.error, UnicodeDecodeError, csv.Error, ValueError, zipfile.BadZipFile):
        return []


@contextlib.contextmanager
def _open_text(path: Path) -> Iterator[TextIO]:
    suffix = path.suffix.lower()
    if suffix == ".zip":
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            if len(members) != 1:
                raise ValueError(f"the archive holds {len(members)} files, not one CSV")
            with io.TextIOWrapper(archive.open(members[0]), encoding="utf-8", newline="") as handle:
                yield handle
        return
    with (gzip.open(path, "rt", encoding="utf-8", newline="") if suffix == ".gz"
          else path.open(encoding="utf-8", newline="")) as handle:
        yield handle


def _bounded(handle: TextIO) -> Iterator[str]:
    """The lines of ``handle``, refusing a line over ``MAX_LINE_CHARS`` or a text over
    ``MAX_TEXT_CHARS`` (ValueError)."""
    total = 0
    number = 0
    while line := handle.readline(MAX_LINE_CHARS + 1):
        number += 1
        total += len(line)
        if len(line) > MAX_LINE_CHARS:
            raise ValueError(f"line {number} is longer than {MAX_LINE_CHARS // 1024} kB")
        if total > MAX_TEXT_CHARS:
            raise ValueError(f"more than {MAX_TEXT_CHARS >> 20} MB of text")
        yield line


def _reason(exc: BaseException) -> str:
    # our own bounds and the decoders' messages carry no cell content; an OSError's file name is the path
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc).split(":")[0][:120]
