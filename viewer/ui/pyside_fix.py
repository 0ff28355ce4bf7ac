"""Keep PySide6 6.12.0 from aborting CPython 3.11 (a reference-count bug of that release).

PySide6/shiboken6 6.12.0 (the cp310-abi3 wheels) return ``None`` from every void method and
``True`` from ``Signal.emit()`` without taking a reference to it. On CPython 3.12+ these objects
are immortal and nothing happens; on 3.11 each call costs one reference, and after some
thousand calls (a minute of panning an image, one folder scan) the interpreter aborts with
"none_dealloc: deallocating None" or "bool_dealloc". ``protect_singletons`` measures once
whether the installed PySide6 does this and, if it does, gives ``None``, ``True`` and ``False``
a reference count no process can use up, which is what CPython 3.12 does for them anyway.
The real fix is a PySide6 without the bug (or Python 3.12): see the project notes.
"""

from __future__ import annotations

import ctypes
import sys

from PySide6.QtCore import QObject, Signal

_PROBES = 32
_RESERVE = 1 << 40  # references: more than any process can lose


class _Probe(QObject):
    probed = Signal()


def leaked_references() -> tuple[int, int]:
    """References to (None, True) lost per void call / per emit with the installed PySide6."""
    probe = _Probe()
    none_before = sys.getrefcount(None)
    for _ in range(_PROBES):
        probe.setObjectName("probe")  # a void method
    none_lost = (none_before - sys.getrefcount(None)) // _PROBES
    true_before = sys.getrefcount(True)
    for _ in range(_PROBES):
        probe.probed.emit()
    true_lost = (true_before - sys.getrefcount(True)) // _PROBES
    return none_lost, true_lost


def protect_singletons() -> bool:
    """Apply the workaround when this PySide6 loses references; True when it was needed."""
    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return False  # immortal singletons: a lost reference is harmless
    none_lost, true_lost = leaked_references()
    if none_lost <= 0 and true_lost <= 0:
        return False
    for singleton in (None, True, False):
        # ob_refcnt is the first field of every CPython object (non-debug builds).
        ctypes.c_ssize_t.from_address(id(singleton)).value += _RESERVE
    return True


APPLIED = protect_singletons()
