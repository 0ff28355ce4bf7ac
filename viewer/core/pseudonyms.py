"""Pseudonymous keys: the numbers that stand for patients, studies and series in every output.

A DICOM PatientID or an NIH patient number never reaches a CSV, a log or the status bar: the
scan and the trainer's predictions number identities 1, 2, 3, ... in the order first seen.
"""

from __future__ import annotations

from collections.abc import Hashable


class KeyNumbers:
    """Pseudonymous numbers 1, 2, 3, ... for identities (patients, studies), in the order first seen."""

    def __init__(self) -> None:
        self._numbers: dict[Hashable, int] = {}

    def __call__(self, identity: Hashable) -> int:
        return self._numbers.setdefault(identity, len(self._numbers) + 1)
