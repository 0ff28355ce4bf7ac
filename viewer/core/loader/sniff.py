"""What a file is, from its name and first bytes: the one rule the loader and the scan share."""

from __future__ import annotations

from pathlib import Path

from ..radiograph import SourceFormat

RASTER_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"}
DICOM_SUFFIXES = {".dcm", ".dicom", ".dic"}
HEAD_BYTES = 132  # the preamble and "DICM": enough for every format's magic

# What a file's name claims it is, for files whose content may say otherwise.
_SUFFIX_FORMAT = {**{s: SourceFormat.DICOM for s in DICOM_SUFFIXES}, ".png": SourceFormat.PNG,
                  ".jpg": SourceFormat.JPEG, ".jpeg": SourceFormat.JPEG, ".tif": SourceFormat.TIFF,
                  ".tiff": SourceFormat.TIFF, ".bmp": SourceFormat.BMP}
_MAGIC = {
    b"\x89PNG\r\n\x1a\n": SourceFormat.PNG,
    b"\xff\xd8\xff": SourceFormat.JPEG,
    b"II*\x00": SourceFormat.TIFF,
    b"MM\x00*": SourceFormat.TIFF,
    b"II+\x00": SourceFormat.TIFF,  # BigTIFF
    b"MM\x00+": SourceFormat.TIFF,
    b"BM": SourceFormat.BMP,
}
# A DICOM file without its 128-byte preamble starts with a group 0002 or 0008 element.
_BARE_DICOM_GROUPS = (b"\x02\x00", b"\x08\x00")


def sniff_format(path: Path, head: bytes | None = None) -> SourceFormat | None:
    """The format the first bytes show (DICOM or a raster format), or None.

    ``head`` (the file's first 132 bytes) saves reading the file again when the caller has them.
    """
    if head is None:
        with open(path, "rb") as handle:
            head = handle.read(HEAD_BYTES)
    if len(head) >= 132 and head[128:132] == b"DICM":
        return SourceFormat.DICOM
    for magic, name in _MAGIC.items():
        if head.startswith(magic):
            return name
    return None


def claimed_format(path: Path) -> SourceFormat | None:
    """The format a file's name claims, or None when it claims none."""
    return _SUFFIX_FORMAT.get(path.suffix.lower())


def looks_like_bare_dicom(head: bytes) -> bool:
    """A DICOM dataset written without the preamble (some PACS exports name such files
    IM000001): it starts with a little-endian group 0002 or 0008 element of a low number."""
    return len(head) >= 8 and head[:2] in _BARE_DICOM_GROUPS and head[3:4] == b"\x00"


def is_dicom_candidate(path: Path, head: bytes, kind: SourceFormat | None) -> bool:
    """Whether to read a file as DICOM: its bytes say so (``kind`` from ``sniff_format``), or
    no raster magic matched and its name says DICOM or it starts like a bare dataset."""
    if kind is not None:
        return kind == SourceFormat.DICOM
    return claimed_format(path) == SourceFormat.DICOM or looks_like_bare_dicom(head)
