"""Shards: a deterministic share of a folder's rows, so that N machines score one archive.

``--shard I/N`` (1-based) takes the rows k = I-1, I-1+N, I-1+2N, ... of the CSV the whole
folder would get, where k counts that CSV's rows from 0 in their order. That order is the
scan's, which is the files' relative paths sorted folder by folder, depth first: in each
folder its files, by name, before its subfolders, by name, and names compared as Python
compares strings (by code point; a name that is not valid UTF-8 by its escaped form, as the
walk lists it). ``scan_order_key`` is that order as a sort key.

Every shard scans the whole folder (headers only), so the pseudonymous keys and the identities
removed from paths are the whole folder's: row j of the plain CSV is row j div N of shard
(j mod N) + 1, and the shards' rows, taken one from each in turn (or sorted by
``scan_order_key`` of their paths, where no identity was removed from a path), are the plain
CSV's rows, row for row. Round robin rather than blocks: every shard gets a like mix of
folders and formats, so the shards finish at about the same time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePath

from .errors import CxrError

_SHARD = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")


class ShardError(CxrError):
    """A ``--shard`` value that is not I/N with 1 <= I <= N."""


@dataclass(frozen=True, slots=True)
class Shard:
    """Shard ``index`` (from 1) of ``count``."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if self.count < 1 or not 1 <= self.index <= self.count:
            raise ShardError(f"shard {self.index}/{self.count}: I must be from 1 to N")

    def takes(self, row: int) -> bool:
        """Whether row ``row`` (from 0, in the whole folder's order) is this shard's."""
        return row % self.count == self.index - 1

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str) -> Shard:
    """``"I/N"`` -> ``Shard(I, N)``; ``ShardError`` saying what is wrong otherwise."""
    match = _SHARD.fullmatch(text)
    if match is None:
        raise ShardError(f"{text!r} is not I/N (two whole numbers, e.g. 2/8 for the second of eight shards)")
    index, count = int(match.group(1)), int(match.group(2))
    if count < 1:
        raise ShardError(f"{text!r}: N, the number of shards, must be at least 1")
    if not 1 <= index <= count:
        raise ShardError(f"{text!r}: I counts the shards from 1 to N, here from 1 to {count}")
    return Shard(index, count)


def scan_order_key(relative_path: PurePath) -> tuple[tuple[int, str], ...]:
    """The sort key of the scan's order (module doc) for a path relative to the folder: in each
    folder, its files (0) by name before its subfolders (1) by name."""
    parts = relative_path.parts
    return tuple((1, part) for part in parts[:-1]) + tuple((0, part) for part in parts[-1:])
