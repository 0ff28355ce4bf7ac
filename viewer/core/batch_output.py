"""The CSV a batch writes, afresh or resumed: which rows of an interrupted run are kept, and
every other row written in order, flushed whole.

``BatchOutput.open`` decides what happens to ``--out`` before anything is scored:

* ``<out>.partial`` is there with a resume record (``batch_record``) equal to this run's: the
  run resumes it. Its whole rows (``csv_records``: a torn last row is dropped) are kept one by
  one, as long as each is the row of the next work item (the same path, allowing for the
  identities removed from it then or now, and the same pseudonymous keys); from the first that
  is not (the folder changed), the rest of the file is dropped and scored again. The file is
  reopened only when it is a plain file of this user's own (``safe_write.open_partial``).
* a record that differs: refused, saying what changed; ``overwrite`` starts afresh.
* ``out`` exists, and there is no partial file to resume: it is a finished run's, and is
  refused unless ``overwrite``: a finished CSV is never replaced by accident.
* otherwise the run starts afresh: any old partial file is removed, then the record written,
  then the header, so that a record never describes rows that another run wrote.

``write`` is the one way a row gets into the file, ``flush`` hands the rows written so far to
the system whole (a row cut by a SIGKILL is the next run's to drop), ``finish`` scrubs the
file again where needed (``predictions_csv``), renames it onto ``out`` and removes the record,
and ``stop`` leaves the partial file and its record for the next run to resume.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from .batch_record import RunRecord, read_record, record_path, remove_record, write_record
from .csv_records import Record, WholeRecords
from .errors import CxrError, display_name
from .identity import REMOVED, Scrubber
from .predictions_csv import PredictionsFile, PredictionsWriter, csv_columns, restore
from .safe_write import NotOwnFileError, open_partial, partial_path
from .scan import ScannedImage, SkippedFile

RowItem = ScannedImage | SkippedFile
_PATH, _STATUS = 1, 2  # columns of the predictions CSV


class OutputRefused(CxrError):
    """``--out`` cannot be written without losing something: a finished CSV, or an interrupted
    run's rows written with another model, thresholds, folder or shard; or it cannot be opened."""


@dataclass
class ResumeNotes:
    """What became of an earlier run's rows: ``kept`` (``kept_ok`` of them ok), ``dropped``
    (whole rows that no longer matched the folder), ``torn`` (its last row was cut), and
    ``not_resumed``: why a partial file found there was replaced instead (or "")."""

    resumed: bool = False
    kept: int = 0
    kept_ok: int = 0
    dropped: int = 0
    torn: bool = False
    not_resumed: str = ""


class BatchOutput:
    """The predictions CSV ``out`` of one batch run (module doc); use ``BatchOutput.open``."""

    def __init__(self, out: Path, record: RunRecord, labels: tuple[str, ...], include_patient_id: bool,
                 scrubber: Scrubber) -> None:
        self.out, self.partial = out, partial_path(out)
        self.record, self.labels, self.include_patient_id, self.scrubber = record, labels, include_patient_id, scrubber
        self.columns = csv_columns(labels, include_patient_id)
        self._keys = (self.columns.index("patient_key"), self.columns.index("study_key"))
        self.notes = ResumeNotes()
        self._file: PredictionsFile | None = None  # None while rows of the interrupted run are being kept
        self._handle: IO[bytes] | None = None
        self._records: WholeRecords | None = None
        self._pending: Any = iter(())  # the interrupted run's whole rows not matched yet
        self._keep_until = 0  # bytes of the interrupted run's file kept so far

    @classmethod
    def open(cls, out: Path, record: RunRecord, labels: tuple[str, ...], include_patient_id: bool,
             scrubber: Scrubber, *, overwrite: bool = False) -> BatchOutput:
        """The output of a run with ``record``, resumed or afresh (module doc). Raises
        ``OutputRefused`` (one line) before writing anything, and ``OSError`` when it cannot
        be written."""
        self = cls(out, record, labels, include_patient_id, scrubber)
        if not overwrite and os.path.lexists(self.partial):
            handle = self._resumable()
            if handle is not None:
                self._resume(handle)
                return self
        if not overwrite and os.path.lexists(out):
            raise OutputRefused(f"--out {display_name(out)} already exists: pass --overwrite "
                                "to replace it, or choose another name")
        self._start_afresh()
        return self

    def _resumable(self) -> IO[bytes] | None:
        """The partial file, opened, when this run may go on with it; None when it is to be
        replaced (``notes.not_resumed`` says why); ``OutputRefused`` when it must be kept."""
        previous = read_record(self.out)
        if previous is None:
            self.notes.not_resumed = (f"{display_name(self.partial)} had no resume record "
                                      f"({display_name(record_path(self.out).name)}) beside it: replaced")
            return None
        changed = previous.difference(self.record)
        if changed is not None:
            raise OutputRefused(f"{display_name(self.partial)} holds rows written {changed}: run as it was started "
                                "to resume it, or pass --overwrite to start afresh")
        try:
            return open_partial(self.out)
        except NotOwnFileError as exc:
            self.notes.not_resumed = f"{display_name(self.partial)} was {exc.strerror}: replaced"
            return None
        except OSError as exc:
            raise OutputRefused(f"{display_name(self.partial)}: cannot be reopened to resume it "
                                f"({exc.strerror or exc})") from None

    def _resume(self, handle: IO[bytes]) -> None:
        records = WholeRecords(handle)
        pending = iter(records)
        header = next(pending, None)
        if header is not None and header.cells != self.columns:
            handle.close()
            raise OutputRefused(f"{display_name(self.partial)} does not start with this run's columns (damaged): "
                                "pass --overwrite to start afresh")
        self._handle, self._records, self._pending = handle, records, pending
        self._keep_until = header.end if header is not None else 0  # 0: a torn header is written again
        self.notes.resumed = True

    def _start_afresh(self) -> None:
        try:  # first: a record must never sit beside another run's rows
            os.unlink(self.partial)
        except FileNotFoundError:
            pass
        write_record(self.out, self.record)
        self._file = PredictionsFile(self.out, self.labels, self.include_patient_id, self.scrubber)
        self._file.writer.flush()

    # -- the interrupted run's rows ------------------------------------------------------------
    def keeps(self, item: RowItem) -> bool:
        """Whether the row of ``item`` (the next work item) is kept from the interrupted run.
        Once one is not, none after it is: every later item is to be scored and written."""
        if self._file is not None:
            return False
        row = next(self._pending, None)
        if row is not None and self._same_row(row.cells, item):
            self._keep_until = row.end
            self.notes.kept += 1
            self.notes.kept_ok += row.cells[_STATUS] == "ok"
            return True
        self._cut(row)
        return False

    def _same_row(self, cells: list[str], item: RowItem) -> bool:
        if len(cells) != len(self.columns) or not _same_path(restore(cells[_PATH]), item.display_path):
            return False
        keys = ((str(item.patient_key), str(item.study_key)) if isinstance(item, ScannedImage) else ("", ""))
        return (cells[self._keys[0]], cells[self._keys[1]]) == keys

    def _cut(self, unmatched: Record | None) -> PredictionsFile:
        """Stop keeping: the interrupted run's file is cut after the rows kept, and written on."""
        assert self._handle is not None and self._records is not None
        self.notes.dropped = (unmatched is not None) + sum(1 for _ in self._pending)
        self.notes.torn = self._records.problem is not None
        self._file = PredictionsFile.continuing(self.out, self._handle, self._keep_until, self.notes.kept,
                                                self.labels, self.include_patient_id, self.scrubber)
        self._handle = None
        return self._file

    # -- writing -------------------------------------------------------------------------------
    def _writer(self) -> PredictionsWriter:
        return (self._file or self._cut(next(self._pending, None))).writer

    def write(self, item: RowItem, outcome: Any) -> bool:
        """The row of ``item``: its findings (a ``findings.Findings``, notes included), or the
        reason it has none (a ``str``). Returns whether it is an ``ok`` row."""
        rows = self._writer()
        keys: dict[str, Any] = {}
        if isinstance(item, ScannedImage):
            keys = {"patient_key": item.patient_key, "study_key": item.study_key, "patient_id": item.patient_id}
        if isinstance(outcome, str):
            rows.write_error(item.name, item.display_path, outcome, **keys)
            return False
        rows.write_findings(item.name, item.display_path, outcome, **keys)
        return True

    def flush(self) -> None:
        """Hand the rows written so far to the system, whole."""
        if self._file is not None:
            self._file.writer.flush()

    def finish(self) -> Path:
        """Every row is written: scrub again where needed, rename onto ``out``, remove the
        record (in that order: a run killed in between leaves a finished CSV). Returns ``out``."""
        self._writer()  # cuts what no work item matched, if rows were still being kept
        assert self._file is not None
        self._file.commit()
        remove_record(self.out)
        return self.out

    def stop(self) -> None:
        """Stop before the end: the rows written so far stay in the partial file (scrubbed again
        with what is known now), beside the record, for the next run to resume."""
        if self._file is not None:
            self._file.keep()
        elif self._handle is not None:  # nothing written yet: the interrupted run's file stays as it was
            self._handle.close()
            self._handle = None


def _same_path(written: str, path: str) -> bool:
    """Whether a path cell written by the interrupted run is ``path``: equal, or equal once each
    identity it had removed (``REMOVED``) stands for what was there."""
    if REMOVED not in written:
        return written == path
    pattern = ".+?".join(re.escape(part) for part in written.split(REMOVED))
    return re.fullmatch(pattern, path, re.DOTALL) is not None
