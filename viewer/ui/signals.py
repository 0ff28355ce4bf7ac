"""``emit(signal, *args)``: emit a Qt signal from Python without corrupting ``True``.

PySide6 6.12.0 on Python 3.11 returns ``True`` from ``SignalInstance.emit()`` without taking a
reference to it, so every emit made from Python code costs ``Py_True`` one reference; after a
few thousand (one folder scan) the interpreter aborts with "bool_dealloc: deallocating True or
False". Signals emitted by Qt itself (clicks, timers) are not affected. ``emit`` measures once
whether the installed PySide6 has the bug and, if so, gives the reference back. On Python 3.12+
``True`` is immortal and nothing is done. Every signal of ``viewer.ui`` is emitted through here.
"""

from __future__ import annotations

import ctypes
import sys
from typing import Any

from PySide6.QtCore import QObject, Signal

_PROBES = 16


class _Probe(QObject):
    probed = Signal()


def emit_steals_a_reference() -> bool:
    """True when ``SignalInstance.emit()`` returns an unowned reference to ``True`` here."""
    if sys.version_info >= (3, 12):  # immortal True/False: a missing reference is harmless
        return False
    probe = _Probe()
    before = sys.getrefcount(True)
    for _ in range(_PROBES):
        probe.probed.emit()
    return before - sys.getrefcount(True) == _PROBES


_REPAIR = emit_steals_a_reference()
_incref = ctypes.pythonapi.Py_IncRef
_incref.argtypes = [ctypes.py_object]
_incref.restype = None


def emit(signal: Any, *args: Any) -> None:
    """``signal.emit(*args)``, balancing the reference PySide6 6.12 forgets (see module doc)."""
    result = signal.emit(*args)
    if _REPAIR and isinstance(result, bool):
        _incref(result)
