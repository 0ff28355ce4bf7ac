"""A patient's identifying header values, and the rule that removes them from text in every form.

PACS exports name folders after the patient (``DOE^JOHN_12345/19700101_CHEST/IM000001``), so a
path the viewer writes to a CSV, a log or the status bar can carry a name, an ID and a birth
date even though no header value is printed. ``Identity`` holds the three values of one header
(never shown: its ``repr`` is empty of them); a ``Scrubber`` collects the identities of a folder's
headers and replaces each of their forms in a text by ``REMOVED``.

What counts as a form is decided on word tokens (runs of letters and digits, case ignored), so
every separator a writer may choose is covered at once:
- each part of the name of two or more characters (family, given, middle), and the parts run
  together (``DOEJOHN``, ``JOHNDOE``, ``DOEJOHNQUINCY``);
- the patient ID, as its own sequence of tokens (``QZ-5518-0042`` also matches ``QZ_5518_0042``)
  and run together (``QZ55180042``);
- the birth date year-month-day, day-month-year and month-day-year, with any separators
  (``1970-01-31``, ``31.01.1970``, ``01/31/1970``) or none (``19700131``, ``31011970``).
Scrubbing costs one dictionary look-up per token of the text, whatever the number of identities.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

REMOVED = "[removed]"
# The patient's identification in a header (PS3.3 C.7.1.1): name, ID and its issuer, birth date
# and time, other IDs and names (and their sequence), birth name, address, mother's birth name,
# telephone numbers and telecom information, medical record locator. The window shows their
# values only while the reader asks for the patient's identity.
IDENTIFYING_TAGS = frozenset({
    0x00100010, 0x00100020, 0x00100021, 0x00100030, 0x00100032, 0x00101000, 0x00101001, 0x00101002,
    0x00101005, 0x00101040, 0x00101060, 0x00102154, 0x00102155, 0x00101090,
})
_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)  # letters and digits; "_" separates like "-" does
_MIN_NAME_PART = 2
_MIN_ID = 3  # an ID of one or two characters would match every "1" or "A1" in a path


@dataclass(frozen=True, slots=True)
class Identity:
    """The identifying values of one DICOM header (PatientName, PatientID, PatientBirthDate).
    Not in ``repr``: logging an identity cannot leak it."""

    name: str = field(default="", repr=False)
    patient_id: str = field(default="", repr=False)
    birth_date: str = field(default="", repr=False)

    def __bool__(self) -> bool:
        return bool(self.name or self.patient_id or self.birth_date)

    def forms(self) -> list[tuple[str, ...]]:
        """Every form of the values as a tuple of lower-case tokens (see the module's list)."""
        forms: list[tuple[str, ...]] = []
        parts = [part for part in _tokens(self.name) if len(part) >= _MIN_NAME_PART]
        forms += [(part,) for part in parts]
        if len(parts) >= 2:  # run together: the whole name both ways, and family with each other part
            family, others = parts[0], parts[1:]
            runs = {"".join(parts), "".join(others) + family}
            runs |= {family + other for other in others} | {other + family for other in others}
            forms += [(run,) for run in sorted(runs)]
        id_tokens = _tokens(self.patient_id)
        if id_tokens and len("".join(id_tokens)) >= _MIN_ID:
            forms += [tuple(id_tokens), ("".join(id_tokens),)]
        forms += _date_forms(self.birth_date)
        return forms


def _tokens(text: str) -> list[str]:
    return [token.lower() for token in _TOKEN.findall(text)]


def _date_forms(value: str) -> list[tuple[str, ...]]:
    digits = "".join(_tokens(value))
    if len(digits) != 8 or not digits.isdigit():
        return []
    y, m, d = digits[:4], digits[4:6], digits[6:]
    return [(y, m, d), (d, m, y), (m, d, y), (y + m + d,), (d + m + y,), (m + d + y,)]


class Scrubber:
    """Removes the identities it was given from texts, in all their forms (``Identity.forms``)."""

    def __init__(self, identities: Iterable[Identity] = ()) -> None:
        self._forms: dict[str, list[tuple[str, ...]]] = {}  # first token -> forms starting with it
        self._seen: set[Identity] = set()
        self.version = 0  # grows whenever a new form is learned: what was scrubbed before may need redoing
        for identity in identities:
            self.add(identity)

    def add(self, identity: Identity | None) -> None:
        """Learn the forms of ``identity`` (nothing for None or an empty identity)."""
        if not identity or identity in self._seen:
            return
        self._seen.add(identity)
        for form in identity.forms():
            known = self._forms.setdefault(form[0], [])
            if form not in known:
                known.append(form)
                known.sort(key=len, reverse=True)  # the longest form first: it replaces the most
                self.version += 1

    def __bool__(self) -> bool:
        return bool(self._forms)

    def scrub(self, text: str) -> str:
        """``text`` with every known form replaced by ``REMOVED`` (separators around it kept)."""
        if not self._forms or not text:
            return text
        matches = list(_TOKEN.finditer(text))
        out, at, i = [], 0, 0
        while i < len(matches):
            length = self._match_at(matches, i)
            if length:
                out += [text[at : matches[i].start()], REMOVED]
                at = matches[i + length - 1].end()
                i += length
            else:
                i += 1
        out.append(text[at:])
        return "".join(out)

    def _match_at(self, matches: list[re.Match[str]], i: int) -> int:
        """How many tokens from ``i`` on form a known form (the longest), or 0."""
        for form in self._forms.get(matches[i].group().lower(), ()):
            end = i + len(form)
            if end <= len(matches) and all(matches[i + k].group().lower() == form[k] for k in range(1, len(form))):
                return len(form)
        return 0
