"""Values read from a DICOM header, each through one guarded accessor that never raises.

pydicom converts an element's value the first time it is read, and what a careless or hostile
writer puts there can make that conversion raise almost anything: an IS of ``inf`` raises
``OverflowError``, a damaged deferred value ``OSError``, a binary US of odd length gives a list.
Every header value the folder scan, the browser, the loader and the display read goes through
this module. An absent or empty value reads as the caller's default; a value that is present
but cannot be used reads as the default too and, where the caller passes a ``notes`` list, adds
one line saying which attribute was ignored. Nothing here raises, whatever the dataset holds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

MAX_TEXT = 10_000  # longer strings are cut: no real attribute is this long (LO: 64 characters)
_INT_RANGE = (-(2**31), 2**31 - 1)  # IS and SL; US/SS/UL values all fit
_UNREADABLE = object()
T = TypeVar("T")


def _raw(ds: Any, keyword: str) -> Any:
    """The converted value, None when absent or empty, ``_UNREADABLE`` when conversion failed."""
    try:
        value = ds.get(keyword) if ds is not None else None
        if value is None or (isinstance(value, (str, bytes, bytearray, list, tuple, MultiValue)) and not value):
            return None
        if not isinstance(value, (int, float, bytes)) and str(value) == "":  # an empty PersonName
            return None
        return value
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException:  # pydicom's conversions raise ValueError, OverflowError, OSError, ...
        return _UNREADABLE


def _shown(value: Any) -> str:
    """A value as a short text for a note (never the whole of a huge value)."""
    try:
        text = str(value)
    except Exception:
        text = repr(value)
    return text if len(text) <= 40 else text[:40] + "\N{HORIZONTAL ELLIPSIS}"


def _note(notes: list[str] | None, keyword: str, value: Any, what: str) -> None:
    if notes is not None:
        shown = "unreadable" if value is _UNREADABLE else repr(_shown(value))
        notes.append(f"the header's {keyword} ({shown}) is not {what} and was ignored")


def _first(value: Any) -> Any:
    if isinstance(value, (list, tuple, MultiValue)):
        return value[0] if len(value) else None
    return value


def as_int(value: Any) -> int | None:
    """A whole number in the IS range from an int, an integral finite float or a numeric text."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode("ascii", "replace")
    number: int | None = None
    try:
        if isinstance(value, int):
            number = int(value)
        else:
            real = float(str(value).strip()) if not isinstance(value, float) else value
            if math.isfinite(real) and real == int(real):
                number = int(real)
    except (ValueError, TypeError, OverflowError):
        return None
    if number is None or not _INT_RANGE[0] <= number <= _INT_RANGE[1]:
        return None
    return number


def as_float(value: Any) -> float | None:
    """A finite float from a number or a numeric text; None otherwise."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        real = float(value) if isinstance(value, (int, float)) else float(str(value).strip())
    except (ValueError, TypeError, OverflowError):
        return None
    return real if math.isfinite(real) else None


def _converted(ds: Any, keyword: str, default: T | None, notes: list[str] | None,
               convert: Callable[[Any], T | None], what: str) -> T | None:
    """The element's (first) value through ``convert``; ``default`` when absent, empty or
    unusable (noted as not ``what``)."""
    value = _raw(ds, keyword)
    if value is None:
        return default
    result = None if value is _UNREADABLE else convert(_first(value))
    if result is None:
        _note(notes, keyword, value, what)
        return default
    return result


def int_value(ds: Any, keyword: str, default: int | None = None, *, notes: list[str] | None = None) -> int | None:
    """The element's (first) value as a whole number; ``default`` when absent, empty or unusable."""
    return _converted(ds, keyword, default, notes, as_int, "a usable whole number")


def float_value(ds: Any, keyword: str, default: float | None = None, *,
                notes: list[str] | None = None) -> float | None:
    """The element's (first) value as a finite float; ``default`` when absent, empty or unusable."""
    return _converted(ds, keyword, default, notes, as_float, "a finite number")


def float_values(ds: Any, keyword: str, *, notes: list[str] | None = None) -> list[float] | None:
    """Every value of a multi-valued number (window centres, pixel spacing) as finite floats;
    None when absent, empty, or when any value is unusable (a half-read list is worse than none)."""
    value = _raw(ds, keyword)
    if value is None:
        return None
    items = list(value) if isinstance(value, (list, tuple, MultiValue)) else [value]
    reals = [] if value is _UNREADABLE else [as_float(item) for item in items]
    if value is _UNREADABLE or any(real is None for real in reals):
        _note(notes, keyword, value, "a list of finite numbers")
        return None
    return [real for real in reals if real is not None]


def _clean(text: str, limit: int = MAX_TEXT) -> str:
    """Printable text: control characters become spaces, the ends are stripped, the length bounded."""
    if len(text) > limit:
        text = text[:limit] + "\N{HORIZONTAL ELLIPSIS}"
    if not text.isprintable():
        text = "".join(ch if ch.isprintable() else " " for ch in text)
    return text.strip()


def _as_text(value: Any, limit: int = MAX_TEXT) -> str:
    if isinstance(value, (bytes, bytearray)):
        return _clean(bytes(value[: limit + 1]).decode("latin-1"), limit)
    try:
        return _clean(str(value), limit)
    except Exception:
        return ""


def text_value(ds: Any, keyword: str, default: str = "") -> str:
    """The element's (first) value as printable, stripped text; ``default`` when absent, empty
    or unreadable."""
    value = _raw(ds, keyword)
    if value is None or value is _UNREADABLE:
        return default
    return _as_text(_first(value)) or default


def text_values(ds: Any, keyword: str) -> list[str]:
    """Every value of a multi-valued text element (window explanations), printable; [] when
    absent or unreadable."""
    value = _raw(ds, keyword)
    if value is None or value is _UNREADABLE:
        return []
    items = list(value) if isinstance(value, (list, tuple, MultiValue)) else [value]
    return [_as_text(item) for item in items]


def date_text(ds: Any, keyword: str) -> str:
    """A DA value as ``YYYY-MM-DD`` when it is a plain 8-digit date, else its text as it is."""
    value = text_value(ds, keyword)
    if len(value) == 8 and value.isdigit() and value.isascii():
        return f"{value[:4]}-{value[4:6]}-{value[6:]}"
    return value


def has_value(ds: Any, keyword: str) -> bool:
    """Whether the element is present with a non-empty value (readable or not)."""
    return _raw(ds, keyword) is not None


def sequence_items(ds: Any, keyword: str) -> Sequence[Dataset]:
    """A sequence's items; empty when absent, empty or unreadable."""
    value = _raw(ds, keyword)
    if value is None or value is _UNREADABLE:
        return ()
    try:
        return [item for item in value if isinstance(item, Dataset)]
    except Exception:
        return ()


def first_frame_group(ds: Any, macro: str) -> Dataset | None:
    """The item of a functional group macro (e.g. ``PixelValueTransformationSequence``) that
    applies to the first frame of an enhanced multi-frame object (``frame_group`` of frame 0)."""
    return frame_group(ds, macro, 0)


def frame_group(ds: Any, macro: str, frame: int) -> Dataset | None:
    """The item of a functional group macro that applies to frame ``frame`` (0-based) of an
    enhanced multi-frame object: from that frame's per-frame group, else from the shared groups
    (PS3.3 C.7.6.16). None when neither has it, or the per-frame groups have no item for the
    frame (a damaged header: the shared groups still apply)."""
    per_frame = sequence_items(ds, "PerFrameFunctionalGroupsSequence")
    if 0 <= frame < len(per_frame):
        found = sequence_items(per_frame[frame], macro)
        if found:
            return found[0]
    shared = sequence_items(ds, "SharedFunctionalGroupsSequence")
    if shared:
        found = sequence_items(shared[0], macro)
        if found:
            return found[0]
    return None


_BINARY_VRS = ("OB", "OW", "OF", "OD", "OL", "OV", "UN")
MAX_SEQUENCE_ITEMS = 50  # a sequence with thousands of items (rare) is listed by its first ones
MAX_DEPTH = 12  # sequences nested deeper than any real header are not walked further


@dataclass(frozen=True, slots=True)
class HeaderRow:
    """One element of a header as the tags panel lists it; a sequence has ``items``, each a
    tuple of rows."""

    tag: str  # "(0028,0010)"
    name: str
    vr: str
    value: str
    items: tuple[tuple[HeaderRow, ...], ...] = ()
    number: int = -1  # the tag as a number (0x00280010); -1 for a row that is no element


def header_rows(ds: Any, depth: int = 0) -> list[HeaderRow]:
    """Every element of ``ds`` as text, sequences nested, one element at a time: an element
    whose value cannot be converted is listed with "(unreadable: ...)" and the rest still are."""
    rows = []
    try:
        tags = list(ds.keys())
    except Exception:
        return [HeaderRow("", "(the header could not be listed)", "", "")]
    for tag in tags:
        rows.append(_header_row(ds, tag, depth))
    return rows


def _header_row(ds: Any, tag: Any, depth: int) -> HeaderRow:
    label = f"({tag.group:04X},{tag.element:04X})"
    try:
        element = ds[tag]
        name = element.name or element.keyword or "Private tag"
        vr = str(element.VR)
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as exc:
        return HeaderRow(label, "(unreadable element)", "", _clean(f"{type(exc).__name__}: {exc}"), number=int(tag))
    if vr == "SQ":
        items = sequence_items(ds, element.keyword) if element.keyword else _items_of(element)
        nested = () if depth >= MAX_DEPTH else tuple(
            tuple(header_rows(item, depth + 1)) for item in items[:MAX_SEQUENCE_ITEMS])
        count = f"{len(items)} item(s)" + ("" if depth < MAX_DEPTH else ", nested too deeply to list")
        return HeaderRow(label, name, vr, count, nested, int(tag))
    return HeaderRow(label, name, vr, _value_text(element), number=int(tag))


def _items_of(element: Any) -> Sequence[Dataset]:
    try:
        return [item for item in element.value or [] if isinstance(item, Dataset)]
    except Exception:
        return ()


def _value_text(element: Any) -> str:
    try:
        value = element.value
        if element.VR in _BINARY_VRS and isinstance(value, (bytes, bytearray)):
            return f"<{len(value)} bytes>"
        if isinstance(value, (list, tuple, MultiValue)):
            return _clean("\\".join(str(item) for item in value[:1000]), MAX_TEXT)
        return _as_text(value, MAX_TEXT)
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as exc:
        return _clean(f"(unreadable: {type(exc).__name__})")
