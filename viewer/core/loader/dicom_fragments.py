"""One frame's pixel data, read with a budget set by what the header declares.

Reading a pixel data value "to the end" made a file with undefined-length pixel data and 2 GB
behind it cost 2 GB; here only the frame asked for is read. Native data: the frame's place is
checked against the value's declared length and the file (undefined length is refused: the
standard does not allow it for native data); the bytes are read by the decoder. Encapsulated
data (PS3.5 A.4: a Basic Offset Table item, fragment items, a delimiter): the item headers are
walked with seeks, only the frame's fragments are read, and what they may take is bounded by
what any compressed copy of the declared image could need. A frame's fragments are found from
the Extended Offset Table, else the Basic Offset Table, else one fragment per frame (always so
for RLE, PS3.5 A.4.2); where none of these tells, every fragment is kept (still within the
budget) and pydicom's frame splitting finds the frame among them.
"""

from __future__ import annotations

import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import pydicom

from ..errors import ImageLoadError

UNDEFINED = 0xFFFFFFFF
_ITEM, _DELIMITER = 0xFFFEE000, 0xFFFEE0DD
MAX_ENCAPSULATED_BYTES = 512 << 20  # whatever a header claims, compressed data read for one image
_MAX_ITEMS = 1 << 20  # item headers walked (8 bytes each): far more fragments than any image has
_EXTENDED_OFFSETS = 0x7FE00001


@dataclass(frozen=True, slots=True)
class FrameData:
    """An encapsulated pixel data value holding the frame asked for: ``frames`` frames in all
    (1, or every frame when the frame's fragments cannot be told apart), the frame at ``index``."""

    value: bytes
    frames: int
    index: int = 0


def upper_frame_bytes(shape: dict[str, int]) -> int:
    """The most bytes one uncompressed frame of the declared image can take."""
    return math.ceil(shape["rows"] * shape["cols"] * shape["samples"] * shape["bits_allocated"] / 8)


def frame_label(index: int, frames: int) -> str:
    """"frame 3 of 5" (1-based), for notes and messages."""
    return f"frame {index + 1} of {frames}"


def check_native_frame(
    path: Path, fh: Any, element: dict[str, Any], frame_bytes: float, index: int, frames: int,
) -> None:
    """Refuse native pixel data that cannot hold frame ``index`` before any of it is read:
    undefined length, a value shorter than the frame's end, or a file cut before it.
    ``frame_bytes`` is pydicom's frame length (fractional for bit-packed 1-bit frames)."""
    if element["length"] == UNDEFINED:
        raise ImageLoadError(
            path, "has uncompressed pixel data of undefined length, which the DICOM standard does not allow",
            "re-export the file",
        )
    end = math.ceil((index + 1) * frame_bytes)
    which = f" ({frame_label(index, frames)})" if frames > 1 else ""
    if element["length"] < end:
        raise ImageLoadError(
            path, f"pixel data could not be decoded: its header needs {end:,} bytes for the image{which}, "
            f"the pixel data holds {element['length']:,}",
            "the header does not match the pixel data, or the file is truncated: re-export it",
        )
    size = os.fstat(fh.fileno()).st_size
    if element["offset"] + end > size:
        missing = "is missing" if element["offset"] + math.floor(index * frame_bytes) >= size else "is cut short"
        raise ImageLoadError(
            path, f"is truncated: the pixel data of the image{which} {missing}", "copy or export the file again",
        )


def extended_offsets(ds: pydicom.Dataset, frames: int) -> list[int]:
    """The Extended Offset Table's frame offsets (PS3.3 C.7.6.3.1.8); empty when absent or not
    one sorted offset a frame. Its size is checked before its value is read (it may be deferred)."""
    try:
        raw = ds.get_item(_EXTENDED_OFFSETS)
        if raw is None or getattr(raw, "length", 8 * frames) != 8 * frames:  # a raw element says its length
            return []
        value = ds[_EXTENDED_OFFSETS].value
        if not isinstance(value, bytes) or len(value) != 8 * frames:
            return []
    except Exception:  # an unreadable table is no table
        return []
    offsets = list(struct.unpack(f"<{frames}Q", value))
    return offsets if offsets == sorted(offsets) else []


def encapsulated_frame(
    path: Path, fh: Any, element: dict[str, Any], shape: dict[str, int], notes: list[str], syntax: str,
    index: int = 0, *, table: list[int] | None = None, one_per_frame: bool = False,
) -> FrameData:
    """Frame ``index``'s fragments of encapsulated pixel data, as a value of their own: an
    empty offset table, those fragments, a delimiter. ``syntax`` is the transfer syntax's name
    for messages; ``table`` the Extended Offset Table's offsets, when the header has a usable
    one; ``one_per_frame`` says the syntax puts each frame in one fragment (RLE)."""
    size = os.fstat(fh.fileno()).st_size
    items = _items(path, fh, element, size, syntax)
    frames = shape["frames"]
    chosen, held, at = _frame_fragments(fh, items, frames, index, size, table or [], one_per_frame)
    which = frame_label(index, frames)
    if not chosen:
        if items.cut:
            raise ImageLoadError(path, f"is truncated: {which} is missing or cut short",
                                 "copy or export the file again")
        if frames > 1:
            raise ImageLoadError(path, f"has no compressed data for {which} ({syntax})",
                                 "the file is probably truncated: copy or export it again")
        raise ImageLoadError(path, f"pixel data could not be decoded ({syntax}: no fragment)", "re-export the file")
    budget = min(MAX_ENCAPSULATED_BYTES, 2 * upper_frame_bytes(shape) * held + (1 << 20))
    needed = sum(length for _, length in chosen)
    if needed > budget:
        raise ImageLoadError(
            path, f"claims {needed:,} bytes of compressed pixel data, more than its declared "
            f"{shape['cols']} x {shape['rows']} image could need; refused before reading it",
        )
    for number, (start, length) in enumerate(chosen):
        if start + length > size:
            raise ImageLoadError(
                path, f"is truncated: compressed fragment {number + 1}"
                f"{f' of {which}' if frames > 1 else ''} needs {length:,} bytes, the file has "
                f"{max(0, size - start):,}", "copy or export the file again",
            )
    if items.cut and frames > 1:
        notes.append("the file is truncated: some later frames are missing or incomplete")
    if items.garbage:
        notes.append("the compressed pixel data is not properly terminated; what follows its fragments was ignored")
    parts = [struct.pack("<HHI", 0xFFFE, 0xE000, 0)]
    for start, length in chosen:
        fh.seek(start)
        parts += [struct.pack("<HHI", 0xFFFE, 0xE000, length), fh.read(length)]
    parts.append(struct.pack("<HHI", 0xFFFE, 0xE0DD, 0))
    return FrameData(b"".join(parts), held, at)


Item = tuple[int, int]  # (value offset, length)


class Items(NamedTuple):
    """The items of an encapsulated value, as (value offset, length)."""

    table: Item  # the Basic Offset Table
    fragments: list[Item]
    garbage: bool  # the value ended in something other than an item or the delimiter
    cut: bool  # the file ends inside the value (a fragment, or where more items were due)


def _frame_fragments(
    fh: Any, items: Items, frames: int, index: int, size: int, table: list[int], one_per_frame: bool,
) -> tuple[list[Item], int, int]:
    """(fragments to read, frames they hold, the frame's index among them) for frame ``index``."""
    fragments = items.fragments
    if frames == 1:
        return fragments, 1, 0
    starts = table if len(table) == frames else _offsets(fh, items.table, frames)
    if len(starts) == frames:  # offsets from the first fragment's item tag (PS3.5 A.4)
        first_item = fragments[0][0] - 8
        end = starts[index + 1] if index + 1 < frames else math.inf
        if items.cut and fragments[-1][0] - 8 - first_item < end:
            return [], 1, 0  # the file ends before the next frame: this one may be cut short too
        return [f for f in fragments if starts[index] <= f[0] - 8 - first_item < end], 1, 0
    if one_per_frame or len(fragments) == frames:
        return fragments[index:index + 1], 1, 0
    # pydicom splits them (JPEG markers): complete fragments only, so a cut file still shows its first frames
    return [f for f in fragments if f[0] + f[1] <= size], frames, index


def _items(path: Path, fh: Any, element: dict[str, Any], size: int, syntax: str) -> Items:
    """The offset table and fragments of the value at ``element`` (garbage after at least one
    fragment is tolerated), walked by their headers alone."""
    at = element["offset"]
    end = None if element["length"] == UNDEFINED else at + element["length"]
    items: list[tuple[int, int]] = []
    garbage = cut = False
    for _ in range(_MAX_ITEMS):
        if end is not None and at >= end:
            break
        if at + 8 > size:  # ending on an item's end is a missing delimiter, not a cut item
            cut = at != size
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
    cut = cut or items[-1][0] + items[-1][1] > size
    return Items(items[0], items[1:], garbage, cut)


def _offsets(fh: Any, table: tuple[int, int], frames: int) -> list[int]:
    """The Basic Offset Table's frame offsets (empty when it is empty or implausible)."""
    at, length = table
    if length == 0 or length % 4 or length > 4 * frames:
        return []
    fh.seek(at)
    data = fh.read(length)
    offsets = list(struct.unpack(f"<{length // 4}I", data)) if len(data) == length else []
    return offsets if offsets == sorted(offsets) else []
