"""Label CSV files read with their cost bounded by what such a file can be.

The NIH label files are a few megabytes (``Data_Entry_2017_v2020.csv``: 112,120 short lines,
7.8 MB; ``BBox_List_2017.csv``: 100 kB). A file found beside a user's images may be anything,
and Python's ``csv`` module reads a whole line before it can complain about it: a 1 GB file
without a newline cost 2 GB of memory. ``bounded_lines`` refuses a file larger than
``MAX_LABEL_FILE_BYTES`` before reading it, and a line longer than ``MAX_LINE_CHARS`` after
reading that much of it, each with a ``LabelFileError`` saying which.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TextIO

MAX_LABEL_FILE_BYTES = 64 << 20  # eight times the official Data_Entry file
MAX_LINE_CHARS = 64 << 10  # the official files' lines are under 200 characters


class LabelFileError(ValueError):
    """A label file too large, or with a line too long, to be one: the message says which."""


def bounded_lines(handle: TextIO) -> Iterator[str]:
    """The lines of an open text file, for ``csv.reader``; raises ``LabelFileError`` for a file
    over ``MAX_LABEL_FILE_BYTES`` (before reading) or a line over ``MAX_LINE_CHARS``."""
    size = os.fstat(handle.fileno()).st_size
    if size > MAX_LABEL_FILE_BYTES:
        raise LabelFileError(f"is {size / (1 << 20):,.0f} MB, more than a label file can be "
                             f"({MAX_LABEL_FILE_BYTES >> 20} MB)")
    number = 0
    while line := handle.readline(MAX_LINE_CHARS + 1):
        number += 1
        if len(line) > MAX_LINE_CHARS:
            raise LabelFileError(f"line {number} is longer than {MAX_LINE_CHARS // 1024:,} kB: not a label file")
        yield line
