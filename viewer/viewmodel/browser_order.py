"""The study browser's orders: which orders there are, and how the triage order is decided.

A sort mode is a short id that a settings file can keep (``SORT_FOLDER``, ``SORT_TRIAGE``) and a
label the browser shows for it (``SORT_LABELS``).
"""

from __future__ import annotations

SORT_FOLDER = "folder"  # as the folder lists the images
SORT_TRIAGE = "triage"  # the images the model flags most strongly first
SORT_LABELS: dict[str, str] = {
    SORT_FOLDER: "Folder order",
    SORT_TRIAGE: "Highest flagged probability",
}


def is_sort_mode(mode: object) -> bool:
    """Whether ``mode`` names one of the browser's orders (a stored setting may not)."""
    return isinstance(mode, str) and mode in SORT_LABELS
