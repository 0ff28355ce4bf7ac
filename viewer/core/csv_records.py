"""The whole records of a CSV file whose writer may have been stopped mid-record.

A writer killed while it writes (SIGKILL, a full disk, a power cut) leaves a last record
without its line end, a quoted cell that never closes, or bytes cut inside a character.
``WholeRecords`` reads such a file from its start and yields each record that was written
whole, with the byte offset just after it, and stops at the first one that is not:
``problem`` then says why, and ``end`` is where the whole records end, so that a writer can
cut the file there and go on. A record is whole when its line end (``\\n``, the ``\\r\\n`` of
Python's ``csv`` writer included) was written, it is UTF-8, and, where ``width`` is given,
it has that many cells.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import IO, NamedTuple


class Record(NamedTuple):
    """One whole record: its cells and the byte offset just after its line end."""

    cells: list[str]
    end: int


class WholeRecords:
    """Iterate over the whole records of the binary ``handle`` from where it stands (offset 0).

    After the iteration, ``end`` is the offset after the last whole record (0 when there is
    none) and ``problem`` says why reading stopped before the end of the file ("a torn last
    record" when only an unfinished last record was left), or is None when every byte belongs
    to a whole record. Reads line by line: memory stays that of one record.
    """

    def __init__(self, handle: IO[bytes], width: int | None = None) -> None:
        self.handle = handle
        self.width = width
        self.end = 0
        self.problem: str | None = None
        self._read = 0  # bytes handed to the csv reader
        self._line_whole = True  # whether the last line handed over ended with its line end
        self._at_end = False  # whether every line was handed over

    def __iter__(self) -> Iterator[Record]:
        reader = csv.reader(self._lines(), strict=True)
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except UnicodeDecodeError:
                self.problem = "a torn last record" if not self._line_whole else "bytes that are not UTF-8 text"
                return
            except csv.Error as exc:  # a quote left open at the end of the file, or a malformed record
                torn = self._at_end or not self._line_whole
                self.problem = "a torn last record" if torn else f"a malformed record ({exc})"
                return
            if not self._line_whole:
                self.problem = "a torn last record"
                return
            if self.width is not None and len(cells) != self.width:
                self.problem = f"a record of {len(cells)} cells where {self.width} were expected"
                return
            self.end = self._read
            yield Record(cells, self.end)

    def _lines(self) -> Iterator[str]:
        """The file's lines, with their line ends, as the csv reader asks for them (it takes a
        record's lines and no more, so ``_read`` is where the record it returns ends)."""
        for raw in iter(self.handle.readline, b""):
            self._read += len(raw)
            self._line_whole = raw.endswith(b"\n")
            yield raw.decode("utf-8")
        self._at_end = True
