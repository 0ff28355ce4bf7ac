"""The ``views`` filter of the readers: view positions by name, or frontal / lateral as groups.

Datasets name views differently (NIH: PA, AP; CheXpert: Frontal + AP/PA, or Lateral; MIMIC-CXR:
DICOM ViewPosition values such as PA, AP, LATERAL, LL, AP AXIAL). The readers store the view in
upper case, lateral views as ``LATERAL`` or ``LL``; a filter keeps the views it names, where
``FRONTAL`` and ``LATERAL`` also stand for their group, so one option reads the same on every set.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

# DICOM ViewPosition values (PS3.3 C.8.11.5.1.2 and what MIMIC-CXR's metadata holds), by group;
# decubitus (LLD/RLD) and axial views are frontal projections taken lying or angled
FRONTAL_VIEWS = frozenset({"PA", "AP", "AP AXIAL", "PA LLD", "AP LLD", "PA RLD", "AP RLD"})
LATERAL_VIEWS = frozenset({"LATERAL", "LL", "RL", "XTABLE LATERAL"})
_GROUPS = {"FRONTAL": FRONTAL_VIEWS, "LATERAL": LATERAL_VIEWS}


def view_filter(views: Sequence[str]) -> Callable[[str | None], bool]:
    """A test of a sample's view: true for every view when ``views`` names none, else for the
    views named (case ignored) and the members of a named group (``FRONTAL``, ``LATERAL``)."""
    wanted: set[str] = set()
    for name in (v.strip().upper() for v in views):
        if name:
            wanted |= _GROUPS.get(name, frozenset()) | {name}
    if not wanted:
        return lambda view: True
    return lambda view: (view or "") in wanted
