"""The desktop viewer (PySide6): the only package that imports Qt."""

from . import pyside_fix as _pyside_fix  # noqa: F401 - before any other Qt call (see its docstring)
