"""Image sizes from file headers, without decoding: PNG IHDR, JPEG SOF, BMP, TIFF IFD, JPEG 2000 SIZ.

The loader checks these sizes before it allocates a pixel buffer (bomb guards) and the folder
scan shows them in the browser, so both read them here. Every reader takes ``read_at(offset,
size) -> bytes`` (fewer bytes at the end of the file), so the same code walks bytes already in
memory and an open file, where it seeks past large segments (EXIF can be 64 kB) instead of
reading them.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import BinaryIO

ReadAt = Callable[[int, int], bytes]

# Every start-of-frame marker: baseline, extended, progressive, lossless, hierarchical and
# arithmetic variants, and JPEG-LS (SOF55, 0xF7). Not 0xC4 (DHT), 0xC8 (JPG) or 0xCC (DAC).
SOF_MARKERS = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF, 0xF7})
_MAX_SEGMENTS = 100_000  # a real file reaches its SOF in a few; a hostile one cannot loop forever
_CHUNK = 4096


def bytes_reader(data: bytes | memoryview) -> ReadAt:
    """``read_at`` over bytes in memory."""
    return lambda offset, size: bytes(data[offset : offset + size])


def file_reader(handle: BinaryIO, head: bytes = b"") -> ReadAt:
    """``read_at`` over an open binary file (moves its position). ``head``, the file's first
    bytes when the caller has read them already, serves the reads that fall inside it (a PNG's
    or BMP's size), so a folder scan does not go back to the file for them."""
    def read_at(offset: int, size: int) -> bytes:
        if offset + size <= len(head):
            return head[offset : offset + size]
        handle.seek(offset)
        return handle.read(size)
    return read_at


def raster_dimensions(read_at: ReadAt, kind: str) -> tuple[int, int] | None:
    """(width, height) of a 'png', 'jpeg', 'bmp' or 'tiff' file from its header; None if not found."""
    try:
        if kind == "png":
            ihdr = read_at(12, 12)
            return struct.unpack(">II", ihdr[4:12]) if ihdr[:4] == b"IHDR" else None
        if kind == "jpeg":
            found = jpeg_frame_header(read_at)
            return None if found is None else found[:2]
        if kind == "bmp":
            info = read_at(14, 12)
            if struct.unpack("<I", info[:4])[0] == 12:  # BITMAPCOREHEADER
                return struct.unpack("<HH", info[4:8])
            width, height = struct.unpack("<ii", info[4:12])
            return width, abs(height)  # negative height = rows stored top-down
        if kind == "tiff":
            return tiff_dimensions(read_at)
    except (struct.error, OSError):
        return None
    return None


def codestream_dimensions(data: bytes) -> tuple[int, int, int] | None:
    """(width, height, components) from a JPEG/JPEG-LS SOF or a JPEG 2000 SIZ marker."""
    siz = data.find(b"\xff\x4f\xff\x51")
    if siz >= 0 and len(data) >= siz + 42:
        x, y, x0, y0 = struct.unpack(">IIII", data[siz + 8 : siz + 24])
        components = struct.unpack(">H", data[siz + 40 : siz + 42])[0]
        return x - x0, y - y0, components
    if data.startswith(b"\xff\xd8"):
        return jpeg_frame_header(bytes_reader(data))
    return None


class _Buffered:
    """``read_at`` with a small window kept, so walking markers byte by byte stays cheap."""

    def __init__(self, read_at: ReadAt) -> None:
        self.read_at, self.base, self.buffer = read_at, 0, b""

    def read(self, offset: int, size: int) -> bytes:
        end = offset + size
        if not (self.base <= offset and end <= self.base + len(self.buffer)):
            self.base, self.buffer = offset, self.read_at(offset, max(size, _CHUNK))
        return self.buffer[offset - self.base : end - self.base]

    def next_ff(self, offset: int) -> int | None:
        """The offset of the next 0xFF byte at or after ``offset``; None at the end of the file."""
        while True:
            chunk = self.read(offset, _CHUNK)
            if not chunk:
                return None
            found = chunk.find(b"\xff")
            if found >= 0:
                return offset + found
            offset += len(chunk)


def jpeg_frame_header(read_at: ReadAt) -> tuple[int, int, int] | None:
    """(width, height, components) from the first SOF (JPEG-LS SOF55 included) of a JPEG stream.

    Bytes between segments that are not a marker are skipped, as decoders do; scan data or the
    end of the image before any frame header gives None.
    """
    stream, at = _Buffered(read_at), 2
    for _ in range(_MAX_SEGMENTS):
        found = stream.next_ff(at)
        if found is None:
            return None
        at = found
        head = stream.read(at, 4)
        if len(head) < 4:
            return None
        marker = head[1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # stand-alone markers: no length
            at += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image, or scan data before any frame header
            return None
        length = struct.unpack(">H", head[2:4])[0]
        if marker in SOF_MARKERS:
            body = stream.read(at + 4, 6)
            if len(body) < 6:
                return None
            height, width = struct.unpack(">HH", body[1:5])
            return width, height, body[5]
        if length < 2:
            return None
        at += 2 + length
    return None


def tiff_dimensions(read_at: ReadAt) -> tuple[int, int] | None:
    """ImageWidth/ImageLength of the first IFD of a TIFF or BigTIFF (the page OpenCV decodes)."""
    header = read_at(0, 16)
    order = "<" if header[:2] == b"II" else ">"
    version = struct.unpack(order + "H", header[2:4])[0]
    if version == 42:
        ifd = struct.unpack(order + "I", header[4:8])[0]
        count = struct.unpack(order + "H", read_at(ifd, 2))[0]
        first, entry_size, count_fmt = ifd + 2, 12, "I"
    elif version == 43:
        ifd = struct.unpack(order + "Q", header[8:16])[0]
        count = struct.unpack(order + "Q", read_at(ifd, 8))[0]
        first, entry_size, count_fmt = ifd + 8, 20, "Q"
    else:
        return None
    count = min(count, 4096)
    entries = read_at(first, count * entry_size)  # the whole directory in one read
    found: dict[int, int] = {}
    value_at = 4 + struct.calcsize(count_fmt)
    for n in range(count):
        at = n * entry_size
        tag, kind = struct.unpack(order + "HH", entries[at : at + 4])
        if tag in (256, 257):
            fmt = {3: "H", 4: "I", 16: "Q"}.get(kind)
            if fmt is None:
                return None
            found[tag] = struct.unpack(order + fmt, entries[at + value_at : at + value_at + struct.calcsize(fmt)])[0]
    if 256 in found and 257 in found:
        return found[256], found[257]
    return None
