"""Whole-number patient ids for datasets whose label files name patients by text.

``Sample.patient_id`` is an int (the split groups by it and writes it into the split CSV).
PadChest's ``PatientID`` is a text code and VinDr-CXR names no patient at all, only its image
ids: ``stable_id`` turns such a code into a number that is the same on every run and machine
(unlike Python's ``hash``) and does not give the code back, so a split list or CSV written from
it carries no value of the label file.
"""

from __future__ import annotations

import hashlib

_BYTES = 6  # 48 bits: exact as a float (JSON), and a collision among 10^5 codes has odds of ~2e-5


def stable_id(code: str) -> int:
    """A number in [0, 2**48) derived from ``code`` by BLAKE2b: equal codes, equal numbers."""
    return int.from_bytes(hashlib.blake2b(code.encode("utf-8"), digest_size=_BYTES).digest(), "big")
