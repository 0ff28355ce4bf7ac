"""Reading a DICOM file's start with the cost bounded by what a header can be, not by the file.

A damaged or hostile file can make a DICOM parser walk gigabytes: 2 GB of zeros after the file
meta parse as millions of empty group-0000 elements (a quarter of a second a megabyte), and a
deflated dataset is inflated whole before its first element is read. This module reads the file
meta group itself (bounded, a few hundred bytes in a real file), and gives pydicom a reader
that ends after ``MAX_HEADER_BYTES`` of reads, so what a header costs never follows the file's
size. The header reader (``dicom_header.read_header``), which the folder scan and the loader
share, is built on it.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import Any, BinaryIO

MAX_HEADER_BYTES = 8 << 20  # bytes a header read may consume (values pydicom defers are not read)
MAX_META_BYTES = 64 << 10  # the file meta group: a few hundred bytes in any real file

# VRs whose explicit-VR encoding has a 4-byte length (PS3.5 7.1.2).
_LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}


class MetaError(ValueError):
    """The file meta group is damaged: its message says how."""


@dataclass(frozen=True, slots=True)
class FileMeta:
    """What the file meta group says: where the dataset starts, and its transfer syntax."""

    preamble: bool  # the file starts with the 128-byte preamble and "DICM"
    dataset_offset: int  # the first byte after the file meta group
    transfer_syntax: str | None  # (0002,0010), None when the file has no meta group


def read_file_meta(fh: BinaryIO) -> FileMeta:
    """The file meta group of the file at ``fh`` (left at an unspecified position).

    Reads at most ``MAX_META_BYTES``; raises ``MetaError`` for a meta group that is cut short
    or larger than that. A file without a preamble may still start with a meta group.
    """
    fh.seek(0)
    head = fh.read(132)
    preamble = len(head) == 132 and head[128:132] == b"DICM"
    at = 132 if preamble else 0
    fh.seek(at)
    data = fh.read(MAX_META_BYTES)
    syntax: str | None = None
    offset = 0
    while offset + 8 <= len(data) and data[offset : offset + 2] == b"\x02\x00":
        element = struct.unpack("<H", data[offset + 2 : offset + 4])[0]
        vr = data[offset + 4 : offset + 6]
        if vr in _LONG_VRS:
            if offset + 12 > len(data):
                raise MetaError("its file meta header is cut short")
            length, value_at = struct.unpack("<I", data[offset + 8 : offset + 12])[0], offset + 12
        elif vr.isalpha() and vr.isupper():
            length, value_at = struct.unpack("<H", data[offset + 6 : offset + 8])[0], offset + 8
        else:  # some writers put the meta in implicit VR: a 4-byte length after the tag
            length, value_at = struct.unpack("<I", data[offset + 4 : offset + 8])[0], offset + 8
        if value_at + length > len(data):
            if len(data) >= MAX_META_BYTES:
                raise MetaError(f"its file meta header is larger than {MAX_META_BYTES // 1024} kB")
            raise MetaError("its file meta header is cut short")
        if element == 0x0010:
            syntax = data[value_at : value_at + length].rstrip(b"\0 ").decode("ascii", "replace")
        offset = value_at + length
    return FileMeta(preamble, at + offset, syntax)


def starts_with_zeros(fh: BinaryIO, offset: int) -> bool:
    """Whether the dataset at ``offset`` begins with an all-zero element header: no header
    starts so (it would be the command group's length element), but a sparse or zero-filled
    file does, and pydicom would parse every 8 zero bytes as one more element."""
    fh.seek(offset)
    first = fh.read(8)
    return len(first) == 8 and not any(first)


class BoundedReader:
    """A read-only file for pydicom that ends (reads return b"") once ``limit`` bytes have been
    read; seeks and positions pass through, so values pydicom skips cost nothing."""

    def __init__(self, fh: BinaryIO, limit: int = MAX_HEADER_BYTES) -> None:
        self._fh, self.limit, self.consumed, self.exhausted = fh, limit, 0, False
        self.name = getattr(fh, "name", None)

    def read(self, size: int | None = -1) -> bytes:
        left = self.limit - self.consumed
        whole = size is None or size < 0
        want = left if whole or size is None else min(size, left)
        data = self._fh.read(want) if want > 0 else b""
        self.consumed += len(data)
        if (whole or (size is not None and size > len(data))) and self.consumed >= self.limit:
            self.exhausted = True  # the caller wanted more than the limit left it
        return data

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._fh.seek(offset, whence)

    def tell(self) -> int:
        return self._fh.tell()

    def __getattr__(self, name: str) -> Any:  # anything else pydicom asks of a file
        return getattr(self._fh, name)
