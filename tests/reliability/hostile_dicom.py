"""Hostile DICOM header values, written byte for byte where pydicom would refuse to write them.

pydicom converts a value when it writes it, so it cannot write an IS of ``inf`` or a DS of
``1e999``: ``set_element`` edits the encoded file instead, replacing (or inserting, in tag order)
one top-level element of an explicit VR little endian file with any bytes under any VR. The
attribute list is every header value the folder scan, the browser, the loader and the tags
panel read, each with its VR; the value lists are what a careless or hostile writer puts there.
"""

from __future__ import annotations

import struct
from io import BytesIO

from pydicom.datadict import dictionary_VR, tag_for_keyword

# VRs whose explicit-VR encoding has a 4-byte length (PS3.5 7.1.2).
_LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}

# Every attribute the scan, the browser, the loader and the tags panel read from a header.
READ_ATTRIBUTES = (
    # the scan and the browser
    "SOPClassUID", "PatientID", "PatientName", "PatientSex", "PatientAge", "PatientBirthDate",
    "StudyInstanceUID", "StudyDate", "StudyTime", "StudyDescription", "StudyID", "SeriesInstanceUID",
    "SeriesNumber", "SeriesDescription", "InstanceNumber", "Modality", "ViewPosition", "Rows", "Columns",
    "NumberOfFrames", "AcquisitionDate", "AcquisitionTime", "ContentDate", "ContentTime", "Laterality",
    # the loader
    "SamplesPerPixel", "PhotometricInterpretation", "BitsAllocated", "BitsStored", "HighBit",
    "PixelRepresentation", "PlanarConfiguration", "RescaleSlope", "RescaleIntercept", "RescaleType",
    "WindowCenter", "WindowWidth", "WindowCenterWidthExplanation", "VOILUTFunction", "PixelSpacing",
    "ImagerPixelSpacing", "PixelPaddingValue", "PixelPaddingRangeLimit", "PresentationLUTShape",
)

_TEXT_NUMBERS = (
    b"inf", b"-inf", b"nan", b"1e999", b"-1e999", b"1e39", b"1e300", b"99999999999999999999", b"-5", b"0",
    b"", b" ", b"1\\2\\3", b"\\\\\\", b"12a", b"\xff\xfe\x80\x81", b"0x10", b"+-1",
)
_TEXTS = (
    b"", b" ", b"\\\\\\", b"A\\B\\C", b"\xff\xfe\x80\x81", b"\x00\x01\x02\x1b[31m", b"inf", b"-5",
    b"X" * 10_000, b"<b>x</b>", b"19380231", b"9999", b"25:61:61.999999",
)
_BINARY = (b"", b"\x00\x00", b"\xff\xff", b"\x01", b"\x01\x00\x02\x00", b"\x00\x80", bytes(64))
HOSTILE_VALUES: dict[str, tuple[bytes, ...]] = {
    "IS": _TEXT_NUMBERS, "DS": _TEXT_NUMBERS, "US": _BINARY, "SS": _BINARY, "US or SS": _BINARY,
    "CS": _TEXTS, "DA": _TEXTS, "TM": _TEXTS, "PN": _TEXTS, "UI": _TEXTS + (b"1.2.840.10008.1.2.4.50",),
    "LO": _TEXTS, "SH": _TEXTS, "AS": _TEXTS + (b"045Y", b"999Y", b"-01Y"),
}


def attribute_vr(keyword: str) -> str:
    """The dictionary VR of ``keyword`` (``US`` for ``US or SS``, as pixel modules write it)."""
    vr = dictionary_VR(tag_for_keyword(keyword))
    return "US" if vr == "US or SS" else vr


def hostile_cases() -> list[tuple[str, str, bytes]]:
    """(keyword, VR, raw value) for every attribute read and every hostile value of its VR."""
    cases = []
    for keyword in READ_ATTRIBUTES:
        vr = attribute_vr(keyword)
        for value in HOSTILE_VALUES[vr]:
            cases.append((keyword, vr, value))
    return cases


def encode_element(tag: int, vr: str, value: bytes) -> bytes:
    """One explicit VR little endian element, its value padded to an even length."""
    if len(value) % 2:
        value += b"\0" if vr in ("UI", "OB", "UN") else b" "
    code = vr.encode("ascii")
    if code in _LONG_VRS:
        return struct.pack("<HH2sHI", tag >> 16, tag & 0xFFFF, code, 0, len(value)) + value
    if len(value) > 0xFFFF:
        raise ValueError(f"{vr} value of {len(value)} bytes does not fit a 2-byte length")
    return struct.pack("<HH2sH", tag >> 16, tag & 0xFFFF, code, len(value)) + value


def _dataset_start(data: bytes) -> int:
    """Offset of the first element after the file meta group of a file with a preamble."""
    if data[128:132] != b"DICM":
        raise ValueError("expected a DICOM file with a preamble")
    at = 132
    while at + 8 <= len(data) and struct.unpack("<H", data[at : at + 2])[0] == 0x0002:
        at = _element_end(data, at)
    return at


def _element_end(data: bytes, at: int) -> int:
    vr = data[at + 4 : at + 6]
    if vr in _LONG_VRS:
        length = struct.unpack("<I", data[at + 8 : at + 12])[0]
        if length == 0xFFFFFFFF:
            raise ValueError("undefined-length elements are not handled")
        return at + 12 + length
    return at + 8 + struct.unpack("<H", data[at + 6 : at + 8])[0]


def set_element(data: bytes, keyword_or_tag: str | int, vr: str, value: bytes) -> bytes:
    """``data`` (explicit VR little endian, with a preamble) with the top-level element
    replaced by, or given, ``value`` under ``vr``, byte for byte."""
    tag = keyword_or_tag if isinstance(keyword_or_tag, int) else tag_for_keyword(keyword_or_tag)
    if tag is None:
        raise ValueError(f"unknown keyword {keyword_or_tag!r}")
    new = encode_element(tag, vr, value)
    at = _dataset_start(data)
    while at + 8 <= len(data):
        group, element = struct.unpack("<HH", data[at : at + 4])
        current = group << 16 | element
        if current >= tag:
            end = _element_end(data, at) if current == tag else at
            return data[:at] + new + data[end:]
        at = _element_end(data, at)
    return data + new


def dicom_bytes(ds: object) -> bytes:
    """A pydicom dataset encoded as a file, explicit VR little endian."""
    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True, little_endian=True, implicit_vr=False)  # type: ignore[attr-defined]
    return buffer.getvalue()


def dataset_start(data: bytes) -> int:
    """Offset of the first dataset element after the file meta group (file with a preamble)."""
    return _dataset_start(data)


def insertion_point(data: bytes, tag: int) -> int:
    """Offset of the first top-level element at or after ``tag`` (or the end of ``data``)."""
    at = _dataset_start(data)
    while at + 8 <= len(data):
        group, element = struct.unpack("<HH", data[at : at + 4])
        if (group << 16 | element) >= tag:
            return at
        at = _element_end(data, at)
    return len(data)
