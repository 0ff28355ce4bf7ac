"""Decompression-bomb guards: sizes are read from headers and refused before any allocation.

A file may claim any size; a decoder trusts it. Every check here runs on header bytes alone, so
a hostile file costs a few kilobytes of reading, never gigabytes of memory.
"""

from __future__ import annotations

import os
import zlib
from pathlib import Path
from typing import Any

from pydicom.encaps import generate_fragments
from pydicom.uid import DeflatedExplicitVRLittleEndian

from ..errors import ImageLoadError
from .dicom_stream import FileMeta
from .headers import codestream_dimensions

MAX_PIXELS = 100_000_000  # 10,000 x 10,000: larger than any real radiograph
MAX_SIDE = 30_000
MAX_INFLATED_BYTES = 2 * MAX_PIXELS  # a deflated DICOM dataset may not inflate beyond this


def refuse_size(path: Path, width: int, height: int, samples: int = 1) -> None:
    """Refuse an image whose header claims more pixels than any radiograph has, before allocating."""
    if width > MAX_SIDE or height > MAX_SIDE or width * height * max(samples, 1) > MAX_PIXELS:
        raise ImageLoadError(
            path,
            f"claims {width} x {height} pixels, more than the {MAX_PIXELS:,}-pixel limit; "
            "refused before decoding to protect memory",
        )


def refuse_deflate_bomb(path: Path, fh: Any, meta: FileMeta) -> None:
    """A deflated dataset is inflated whole by pydicom: measure it first, as a stream, without
    keeping it. The transfer syntax comes from the parsed file meta group (wherever in it the
    syntax sits); reading stops at the end of the deflate stream, whatever follows it."""
    if meta.transfer_syntax != DeflatedExplicitVRLittleEndian:
        return
    fh.seek(0, os.SEEK_END)
    if fh.tell() - meta.dataset_offset > MAX_INFLATED_BYTES:  # pydicom reads all of it first
        raise ImageLoadError(
            path,
            f"is a deflated DICOM of more than {MAX_INFLATED_BYTES:,} bytes; refused before decoding to protect memory",
        )
    fh.seek(meta.dataset_offset)
    inflater, total = zlib.decompressobj(-zlib.MAX_WBITS), 0
    try:
        while not inflater.eof and (chunk := fh.read(1 << 20)):
            while chunk and not inflater.eof:
                total += len(inflater.decompress(chunk, 1 << 24))
                chunk = inflater.unconsumed_tail
                if total > MAX_INFLATED_BYTES:
                    raise ImageLoadError(
                        path,
                        f"is a deflated DICOM that inflates to more than {MAX_INFLATED_BYTES:,} bytes; "
                        "refused before decoding to protect memory",
                    )
    except zlib.error as exc:
        raise ImageLoadError(path, f"has damaged deflated (zlib) data ({exc})") from None
    fh.seek(0)


def refuse_codestream_bomb(path: Path, data: bytes) -> None:
    """Refuse a compressed frame whose own header claims absurd dimensions, before decoding it."""
    try:
        fragments = generate_fragments(data)
        next(fragments)  # the Basic Offset Table item
        first = next(fragments)[:65536]
    except Exception:
        return  # malformed encapsulation: the decoder reports it
    size = codestream_dimensions(first)
    if size is not None:
        width, height, components = size
        refuse_size(path, width, height, components)
