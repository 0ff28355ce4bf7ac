"""The first frame's pixel data, read with a budget set by what the header declares.

Reading a pixel data value "to the end" made a file with undefined-length pixel data and 2 GB
behind it cost 2 GB; here only the first frame is read. Native data: the first frame's bytes
(undefined length is refused: the standard does not allow it for native data). Encapsulated
data (PS3.5 A.4: a Basic Offset Table item, fragment items, a delimiter): the item headers are
walked with seeks, only the first frame's fragments are read, and what they may take is bounded
by what any compressed copy of the declared image could need.
"""

from __future__ import annotations

import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ImageLoadError

UNDEFINED = 0xFFFFFFFF
_ITEM, _DELIMITER = 0xFFFEE000, 0xFFFEE0DD
MAX_ENCAPSULATED_BYTES = 512 << 20  # whatever a header claims, compressed data read for one image
_MAX_ITEMS = 1 << 20  # item headers walked (8 bytes each): far more fragments than any image has


@dataclass(frozen=True, slots=True)
class FrameData:
    """A pixel data value holding the first frame, and how many frames it holds."""

    value: bytes
    frames: int  # 1, or every frame when the first one's fragments cannot be told apart


def upper_frame_bytes(shape: dict[str, int]) -> int:
    """The most bytes one uncompressed frame of the declared image can take."""
    return math.ceil(shape["rows"] * shape["cols"] * shape["samples"] * shape["bits_allocated"] / 8)


def native_first_frame(path: Path, fh: Any, element: dict[str, Any], shape: dict[str, int]) -> FrameData:
    """The first frame of native (uncompressed) pixel data; a short value is left for the
    decoder to judge (subsampled colour frames are smaller than the upper bound)."""
    if element["length"] == UNDEFINED:
        raise ImageLoadError(
            path, "has uncompressed pixel data of undefined length, which the DICOM standard does not allow",
            "re-export the file",
        )
    fh.seek(element["offset"])
    return FrameData(fh.read(min(element["length"], upper_frame_bytes(shape))), 1)


def encapsulated_first_frame(
    path: Path, fh: Any, element: dict[str, Any], shape: dict[str, int], notes: list[str], syntax: str,
) -> FrameData:
    """The first frame's fragments of encapsulated pixel data, as a value of their own: an
    empty offset table, those fragments, a delimiter. With several frames the first one's
    fragments are found from the offset table, or one fragment per frame; where neither tells,
    every fragment is kept (still within the budget) and the decoder splits them."""
    size = os.fstat(fh.fileno()).st_size
    offset_table, fragments, garbage = _items(path, fh, element, size, syntax)
    frames = shape["frames"]
    chosen, held = fragments, frames
    if frames > 1:
        starts = _offsets(fh, offset_table, frames)
        first_item = fragments[0][0] - 8 if fragments else 0
        if len(starts) >= 2:
            chosen, held = [f for f in fragments if f[0] - 8 - first_item < starts[1]], 1
        elif len(fragments) == frames:
            chosen, held = fragments[:1], 1
    if not chosen:
        raise ImageLoadError(path, f"pixel data could not be decoded ({syntax}: no fragment)", "re-export the file")
    budget = min(MAX_ENCAPSULATED_BYTES, 2 * upper_frame_bytes(shape) * held + (1 << 20))
    needed = sum(length for _, length in chosen)
    if needed > budget:
        raise ImageLoadError(
            path, f"claims {needed:,} bytes of compressed pixel data, more than its declared "
            f"{shape['cols']} x {shape['rows']} image could need; refused before reading it",
        )
    for index, (at, length) in enumerate(chosen):
        if at + length > size:
            raise ImageLoadError(
                path, f"is truncated: compressed fragment {index + 1} needs {length:,} bytes, the file has "
                f"{max(0, size - at):,}", "copy or export the file again",
            )
    if any(at + length > size for at, length in fragments[len(chosen):]):
        notes.append("the file is truncated: some later frames are incomplete")
    if garbage:
        notes.append("the compressed pixel data is not properly terminated; what follows its fragments was ignored")
    parts = [struct.pack("<HHI", 0xFFFE, 0xE000, 0)]
    for at, length in chosen:
        fh.seek(at)
        parts += [struct.pack("<HHI", 0xFFFE, 0xE000, length), fh.read(length)]
    parts.append(struct.pack("<HHI", 0xFFFE, 0xE0DD, 0))
    return FrameData(b"".join(parts), held)


Item = tuple[int, int]  # (value offset, length)


def _items(path: Path, fh: Any, element: dict[str, Any], size: int, syntax: str) -> tuple[Item, list[Item], bool]:
    """(offset table, fragments) as (value offset, length), and whether the value ended in
    something other than an item or the delimiter (tolerated after at least one fragment)."""
    at = element["offset"]
    end = None if element["length"] == UNDEFINED else at + element["length"]
    items: list[tuple[int, int]] = []
    garbage = False
    for _ in range(_MAX_ITEMS):
        if (end is not None and at >= end) or at + 8 > size:
            break
        fh.seek(at)
        head = fh.read(8)
        group, elem, length = struct.unpack("<HHI", head)
        tag = group << 16 | elem
        if tag == _DELIMITER:
            break
        if tag != _ITEM or length == UNDEFINED:
            garbage = True
            break
        items.append((at + 8, length))
        at += 8 + length
    else:
        raise ImageLoadError(path, f"has more than {_MAX_ITEMS:,} compressed pixel data items", "re-export the file")
    if not items:
        raise ImageLoadError(path, f"pixel data could not be decoded ({syntax}: no fragment items where the "
                             "compressed data should start)", "the file is damaged, or its transfer syntax is wrong")
    if garbage and len(items) < 2:
        raise ImageLoadError(path, f"pixel data could not be decoded ({syntax}: not an item where a fragment "
                             "should be)", "the file is damaged, or its transfer syntax is wrong")
    return items[0], items[1:], garbage


def _offsets(fh: Any, table: tuple[int, int], frames: int) -> list[int]:
    """The Basic Offset Table's frame offsets (empty when it is empty or implausible)."""
    at, length = table
    if length == 0 or length % 4 or length > 4 * frames:
        return []
    fh.seek(at)
    data = fh.read(length)
    offsets = list(struct.unpack(f"<{length // 4}I", data)) if len(data) == length else []
    return offsets if offsets == sorted(offsets) else []
