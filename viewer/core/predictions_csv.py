"""The predictions CSV (docs/design.md): its columns, its rows, its writer and its reader.

Written by ``cxr-viewer batch`` (``batch.py``), by the viewer's CSV export of a folder's findings
and by the trainer (``predictions_val.csv``/``predictions_test.csv`` of a run); read by
``cxr-train evaluate --predictions``. Columns, in order:

* ``Image Index`` (the file name), ``path`` (relative to the opened folder, ``/``-separated),
  ``status`` (``ok`` or ``error``), ``error`` (why, on an error row), ``notes`` (on an ``ok``
  row, what was noticed and how it was handled: a header value ignored, the first of several
  frames shown, an image that does not look like a chest X-ray; ``; ``-separated); with a
  scrubber (the batch and the window's export give the folder's), the names, IDs and birth
  dates of the folder's DICOM headers are removed from these cells in all their forms
  (``identity``);
* ``prob_<Label>`` (6 decimals) and ``flag_<Label>`` (``1``/``0``) for each label of the model,
  in the card's order;
* ``ood_score`` (6 decimals) and ``ood_flag`` (``1``/``0``), both empty when the model has no
  out-of-distribution check;
* ``patient_key`` and ``study_key``: pseudonymous numbers (1, 2, ... in the order first seen),
  never an identifier from the file;
* ``patient_id`` only when asked for (``include_patient_id``).

An error row leaves every probability, flag and OOD cell empty. A text cell (``Image Index``,
``path``, ``error``, ``notes``, ``patient_id``) that starts with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return is written with an apostrophe before it, so that a spreadsheet shows it as text
instead of running it as a formula (file names are chosen by whoever made the folder); one that
starts with an apostrophe gets a second, so the reader can undo exactly what the writer did.
The reader also takes CSVs of other tools: an ``Image Index`` (or ``path``) column and one
probability column per label, named ``prob_<Label>`` or just by the label, in any spelling
``labels.canonical_label`` knows.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import numpy as np

from .errors import FileProblem
from .identity import Scrubber
from .labels import canonical_label
from .safe_write import ReplacingFile

PROB_PREFIX = "prob_"
FLAG_PREFIX = "flag_"
LEADING_COLUMNS: tuple[str, ...] = ("Image Index", "path", "status", "error", "notes")
TRAILING_COLUMNS: tuple[str, ...] = ("ood_score", "ood_flag", "patient_key", "study_key")
PATIENT_ID_COLUMN = "patient_id"
# What makes a cell a formula to Excel, LibreOffice and Google Sheets (OWASP, "CSV injection"),
# and the usual defence: an apostrophe, which spreadsheets take as "this cell is text".
FORMULA_STARTS: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")
TEXT_MARK = "'"


class PredictionsCsvError(FileProblem):
    """A predictions CSV cannot be read or lacks what one must have."""


def csv_columns(labels: Sequence[str], include_patient_id: bool = False) -> list[str]:
    """The header for a model with ``labels`` (in the card's output order)."""
    columns = [*LEADING_COLUMNS, *(PROB_PREFIX + x for x in labels), *(FLAG_PREFIX + x for x in labels),
               *TRAILING_COLUMNS]
    return columns + ([PATIENT_ID_COLUMN] if include_patient_id else [])


def neutralise(cell: str) -> str:
    """``cell`` as a spreadsheet will show it rather than run it: an apostrophe before a cell that
    starts with a formula character, and before one that starts with an apostrophe (so that
    ``restore`` gives back exactly ``cell``)."""
    return TEXT_MARK + cell if cell.startswith((*FORMULA_STARTS, TEXT_MARK)) else cell


def restore(cell: str) -> str:
    """The text ``neutralise`` was given. A cell of another tool that merely starts with an
    apostrophe (not one before a formula character or a second apostrophe) is kept as it is."""
    if cell.startswith(TEXT_MARK) and cell[1:].startswith((*FORMULA_STARTS, TEXT_MARK)):
        return cell[1:]
    return cell


def _key(value: int | None) -> str:
    return "" if value is None else str(int(value))


# The cells a path or a message can be in: the scrubber's business (``patient_id`` is asked for).
SCRUBBED_COLUMNS: tuple[int, ...] = (0, 1, 3, 4)  # Image Index, path, error, notes


class PredictionsWriter:
    """Writes the header, then one row per image, to an open text ``handle`` (``newline=""``);
    with ``continued_rows`` (the number of rows already in the file), no header: the rows go on
    after those an interrupted writer left.

    With a ``scrubber`` (``identity.Scrubber``), the identifying values of the headers it knows
    are removed from the file name, path and error cells as each row is written; ``stale`` says
    whether it learned new ones after the first row (``PredictionsFile`` then redoes the file).
    """

    def __init__(self, handle: IO[str], labels: Sequence[str], include_patient_id: bool = False,
                 scrubber: Scrubber | None = None, *, continued_rows: int | None = None) -> None:
        self.labels = tuple(labels)
        self.include_patient_id = include_patient_id
        self.rows = 0
        self.scrubber = scrubber
        self._handle = handle
        self._writer = csv.writer(handle)
        # Rows an earlier writer left in the file were scrubbed with what it knew then, which
        # is not known here: they count as scrubbed with nothing, so any identity learned makes
        # the file stale.
        self._version_at_first_row: int | None = 0 if continued_rows else None
        if continued_rows is None:
            self._writer.writerow(csv_columns(self.labels, include_patient_id))

    def flush(self) -> None:
        """Hand the rows written so far to the system, whole: a process killed after this loses
        none of them (a row cut by a kill during a later write is the reader's to drop)."""
        self._handle.flush()

    @property
    def stale(self) -> bool:
        """Whether rows were written before the scrubber learned all it knows now."""
        return (self.scrubber is not None and self._version_at_first_row is not None
                and self.scrubber.version != self._version_at_first_row)

    def write_findings(self, name: str, path: str, findings: Any, *, patient_key: int | None = None,
                       study_key: int | None = None, patient_id: str | None = None) -> None:
        """An ``ok`` row from a ``findings.Findings`` (its flags as they are: re-flag it first with
        ``at_thresholds`` for another operating point), its notes in the ``notes`` cell."""
        self.write_ok(name, path, findings.probabilities, findings.flags, ood_score=findings.ood_score,
                      ood_flag=bool(findings.ood_flag), patient_key=patient_key, study_key=study_key,
                      patient_id=patient_id, notes=findings.notes)

    def write_ok(self, name: str, path: str, probabilities: Any, flags: Any, *, ood_score: float | None = None,
                 ood_flag: bool = False, patient_key: int | None = None, study_key: int | None = None,
                 patient_id: str | None = None, notes: Sequence[str] = ()) -> None:
        """An ``ok`` row. ``ood_score`` None or NaN: the model has no OOD check (both cells empty)."""
        probs = np.asarray(probabilities, np.float64).reshape(-1)
        marks = np.asarray(flags, bool).reshape(-1)
        if probs.shape != (len(self.labels),) or marks.shape != probs.shape:
            raise ValueError(f"expected {len(self.labels)} probabilities and flags, got {probs.size} and {marks.size}")
        if ood_score is None or not math.isfinite(float(ood_score)):
            ood = ["", ""]
        else:
            ood = [f"{float(ood_score):.6f}", "1" if ood_flag else "0"]
        self._row(name, path, "ok", "", "; ".join(notes), [f"{p:.6f}" for p in probs],
                  ["1" if f else "0" for f in marks], ood, patient_key, study_key, patient_id)

    def write_error(self, name: str, path: str, error: str, *, patient_key: int | None = None,
                    study_key: int | None = None, patient_id: str | None = None) -> None:
        """An ``error`` row: the reason, and empty probability, flag and OOD cells."""
        empty = [""] * len(self.labels)
        self._row(name, path, "error", error, "", empty, empty, ["", ""], patient_key, study_key, patient_id)

    def _row(self, name: str, path: str, status: str, error: str, notes: str, probs: list[str], flags: list[str],
             ood: list[str], patient_key: int | None, study_key: int | None, patient_id: str | None) -> None:
        if self.scrubber is not None:
            if self._version_at_first_row is None:
                self._version_at_first_row = self.scrubber.version
            name, path, error, notes = (self.scrubber.scrub(text) for text in (name, path, error, notes))
        row = [neutralise(name), neutralise(path), status, neutralise(error), neutralise(notes), *probs, *flags,
               *ood, _key(patient_key), _key(study_key)]
        if self.include_patient_id:
            row.append(neutralise(patient_id or ""))
        self._writer.writerow(row)
        self.rows += 1


class PredictionsFile:
    """A predictions CSV written to a new ``<out>.partial`` and renamed to ``out`` once complete
    (``safe_write.ReplacingFile``): a half-written file never carries the final name, and a link
    planted at either name is replaced, never written through.

    Opening raises ``OSError``; ``with PredictionsFile(...) as writer`` gives the
    ``PredictionsWriter``. The rename happens when the block ends without an exception; after
    one, the ``.partial`` file is left for inspection and ``out`` is untouched. ``commit`` and
    ``keep`` do the same without a block; ``continuing`` goes on with an interrupted one.
    """

    def __init__(self, out: str | os.PathLike[str], labels: Sequence[str], include_patient_id: bool = False,
                 scrubber: Scrubber | None = None) -> None:
        self._open(ReplacingFile(out), labels, include_patient_id, scrubber, None)

    @classmethod
    def continuing(cls, out: str | os.PathLike[str], handle: IO[bytes], keep: int, rows: int, labels: Sequence[str],
                   include_patient_id: bool = False, scrubber: Scrubber | None = None) -> PredictionsFile:
        """Go on with the ``<out>.partial`` an interrupted writer left (``handle``, from
        ``safe_write.open_partial``), cut after its first ``keep`` bytes: its header and ``rows``
        whole rows (``keep`` 0: nothing of it is kept, and the header is written again)."""
        self = cls.__new__(cls)
        self._open(ReplacingFile.continuing(out, handle, keep), labels, include_patient_id, scrubber,
                   rows if keep else None)
        return self

    def _open(self, file: ReplacingFile, labels: Sequence[str], include_patient_id: bool, scrubber: Scrubber | None,
              continued_rows: int | None) -> None:
        self._file = file
        self.out, self.partial = file.out, file.partial
        try:
            self.writer = PredictionsWriter(file.handle, labels, include_patient_id, scrubber,
                                            continued_rows=continued_rows)
        except BaseException:
            file.abandon()
            raise

    def __enter__(self) -> PredictionsWriter:
        return self.writer

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if exc_type is None:
            self.commit()
        else:
            self._file.abandon()

    def commit(self) -> Path:
        """Finish: scrub the rows again if the scrubber learned an identity after they were
        written, then rename the file onto ``out``; returns ``out``."""
        if self.writer.stale:
            self._rescrub()
        return self._file.commit()

    def keep(self) -> None:
        """Stop without finishing: the rows written so far stay in ``<out>.partial`` (scrubbed
        again with what the scrubber knows now), and ``out`` is untouched."""
        if self.writer.stale:
            self._rescrub()
        self._file.abandon()

    def _rescrub(self) -> None:
        """Write the rows again with what the scrubber knows now: a path written before the
        header naming its patient was read (a broken file first in its folder) loses it too.

        The copy is written beside the file and renamed onto it, so that a process killed
        half-way leaves the rows as they were, all of them."""
        scrubber = self.writer.scrubber
        assert scrubber is not None
        self._file.handle.close()
        fd = os.open(self._file.partial, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, newline="", encoding="utf-8") as old:
            copy = ReplacingFile(self.partial)  # <out>.partial.partial, renamed onto <out>.partial
            try:
                rows, writer = csv.reader(old), csv.writer(copy.handle)
                writer.writerow(next(rows))
                for row in rows:
                    for column in SCRUBBED_COLUMNS:
                        row[column] = scrubber.scrub(row[column])
                    writer.writerow(row)
            except BaseException:
                copy.abandon()
                os.unlink(copy.partial)  # the rows are all still in the file it was copying
                raise
            copy.commit()


# -- reading ------------------------------------------------------------------------------------
@dataclass
class PredictionsTable:
    """The usable (``ok``) rows of a predictions CSV."""

    names: list[str]  # the images' file names
    scores: np.ndarray  # [N, L]
    labels: list[str]  # NIH spelling for NIH's findings, else as the prob_<Label> column names it
    flags: np.ndarray | None  # [N, L] 0/1 from flag_<Label> columns, when every label has one
    skipped: int  # rows whose status is not ok
    paths: list[str] = field(default_factory=list)  # each row's ``path`` cell ("" when none)


def read_predictions(path: str | os.PathLike[str]) -> PredictionsTable:
    """Read a predictions CSV; ``PredictionsCsvError`` naming the file and what is missing.

    Label columns are ``prob_<Label>`` when any exist (any label: a model trained on CheXpert
    writes ``prob_Pleural Effusion``), else columns named like the NIH labels.
    ``flag_<Label>`` columns are read too. Rows whose ``status`` is not ``ok`` are counted, not read.
    Names come back as they were before ``neutralise`` (a name's own blanks kept).
    """
    path = Path(os.fspath(path))
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
            columns = [c.strip() for c in (rows[0].keys() if rows else []) if c is not None]
    except FileNotFoundError:
        raise PredictionsCsvError(path, "predictions file not found") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise PredictionsCsvError(path, f"cannot be read as a CSV file ({exc})") from None
    if not rows:
        raise PredictionsCsvError(path, "has no rows of predictions")
    prob_columns, labels = _label_columns(path, columns)
    flag_of = {canonical_label(c[len(FLAG_PREFIX):]): c for c in columns if c.startswith(FLAG_PREFIX)}
    flag_columns = [flag_of.get(x) for x in labels]
    has_flags = all(c is not None for c in flag_columns)
    names, paths, scores, flags, skipped = [], [], [], [], 0
    for line, row in enumerate(rows, start=2):
        row = {(k or "").strip(): v for k, v in row.items()}
        if (row.get("status") or "ok").strip() not in ("ok", ""):
            skipped += 1
            continue
        name = _text_cell(row.get("Image Index")) or os.path.basename(_text_cell(row.get("path")))
        try:
            values = [float(row[c]) for c in prob_columns]
            if has_flags:
                flags.append([int(float(row[c])) for c in flag_columns if c is not None])
        except (TypeError, ValueError):
            raise PredictionsCsvError(path, f"line {line} has a prediction that is not a number") from None
        scores.append(values)
        names.append(name)
        paths.append(_text_cell(row.get("path")))
    shape = (len(names), len(labels))
    return PredictionsTable(names, np.asarray(scores, np.float64).reshape(shape), labels,
                            np.asarray(flags, np.float64).reshape(shape) if has_flags else None, skipped, paths)


def _text_cell(cell: str | None) -> str:
    """A name cell's text: a neutralised one restored exactly (a tab at its start is part of the
    name), any other with the blanks around it (other tools' CSVs) removed."""
    cell = cell or ""
    restored = restore(cell)
    return restored if restored != cell else cell.strip()


def _label_columns(path: Path, columns: list[str]) -> tuple[list[str], list[str]]:
    """(probability columns, their NIH labels) of a header."""
    prefixed = [c for c in columns if c.startswith(PROB_PREFIX)]
    if prefixed:
        # a prob_ column is a label whatever its name: the model's own (NIH's findings in NIH's spelling)
        names = [c[len(PROB_PREFIX):].strip() for c in prefixed]
        if not all(names):
            raise PredictionsCsvError(path, f"a '{PROB_PREFIX}' column names no label")
        prob_columns = prefixed
        labels = [canonical_label(name) or name for name in names]
    else:
        prob_columns = [c for c in columns if canonical_label(c) is not None]
        labels = [canonical_label(c) or c for c in prob_columns]
    if not labels:
        raise PredictionsCsvError(
            path, "no prediction columns",
            "expected an 'Image Index' column and one probability column per label, named prob_<Label> "
            "as cxr-viewer batch writes them or just <Label>, e.g. prob_Effusion",
        )
    if len(set(labels)) != len(labels):
        raise PredictionsCsvError(path, f"two columns give the same label ({', '.join(prob_columns)})")
    if "Image Index" not in columns and "path" not in columns:
        raise PredictionsCsvError(path, "needs an 'Image Index' column naming each image (the NIH file name)")
    return prob_columns, labels
