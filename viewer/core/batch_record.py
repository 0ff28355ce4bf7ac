"""The resume record: what a batch's rows depend on, kept beside its unfinished CSV.

A batch writes ``<out>.partial`` as it goes and renames it onto ``out`` when the folder is
done. Beside it, ``<out>.partial.json`` records what its rows depend on: the model (its
``model_id``, and the sha256 of the classifier file, which tells an int8 variant or a
re-export from the model it came from), the thresholds (the labels' and the
out-of-distribution check's), the labels, whether patient IDs are written, the shard, whether
links out of the folder are followed, which folder (the sha256 of its real path: the path
itself may carry a patient's name, and the record is a file like any output) and the
viewer's version. A run on the same ``out`` goes on with the rows already written only when
its record is equal; otherwise ``RunRecord.difference`` says, in words, what changed.

The record is written before the first row and removed after the rename, through
``safe_write`` like every output.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from .model_card import ModelCard
from .safe_write import partial_path, write_bytes

RECORD_VERSION = 1
RECORD_SUFFIX = ".json"
_MAX_RECORD_BYTES = 64 * 1024  # a record is a few hundred bytes: anything larger is not one


def record_path(out: Path) -> Path:
    """Where the resume record of ``out`` is kept: ``<out>.partial.json``."""
    partial = partial_path(out)
    return partial.with_name(partial.name + RECORD_SUFFIX)


def _sha256_of_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def thresholds_digest(card: ModelCard) -> str:
    """The sha256 of the thresholds a row's flags depend on: each label's, in label order, and
    the out-of-distribution check's."""
    values = card.threshold_values()
    text = json.dumps({"labels": [[label, values[label]] for label in card.labels],
                       "ood": card.ood.get("threshold")}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class RunRecord:
    """What a batch's rows depend on (module doc); equal records write equal rows."""

    model_id: str
    classifier_sha256: str
    thresholds_sha256: str
    labels: tuple[str, ...]
    include_patient_id: bool
    shard: str  # "I/N", or "" for the whole folder
    follow_links: bool
    folder_sha256: str
    viewer_version: str
    version: int = RECORD_VERSION

    @classmethod
    def for_run(cls, card: ModelCard, classifier: Path, folder: Path, *, include_patient_id: bool, shard: str,
                follow_links: bool, viewer_version: str) -> RunRecord:
        """The record of a run of the model ``card`` (read from the file ``classifier``) on ``folder``."""
        real_folder = os.fsencode(os.path.realpath(folder))
        return cls(
            model_id=card.model_id, classifier_sha256=_sha256_of_file(classifier),
            thresholds_sha256=thresholds_digest(card), labels=tuple(card.labels),
            include_patient_id=include_patient_id, shard=shard, follow_links=follow_links,
            folder_sha256=hashlib.sha256(real_folder).hexdigest(), viewer_version=viewer_version,
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1) + "\n"

    @classmethod
    def from_json(cls, text: str) -> RunRecord | None:
        """The record ``text`` holds, or None when it is not one (damaged, or another format)."""
        try:
            data = json.loads(text)
        except ValueError:
            return None
        if not isinstance(data, dict) or data.get("version") != RECORD_VERSION:
            return None
        if set(data) != set(_FIELD_TYPES) or any(type(data[k]) is not t for k, t in _FIELD_TYPES.items()):
            return None
        if not all(isinstance(label, str) for label in data["labels"]):
            return None
        return cls(**{**data, "labels": tuple(data["labels"])})

    def difference(self, now: RunRecord) -> str | None:
        """What a run with record ``now`` does differently from the one that wrote this record,
        as the end of "the rows were written ...", or None when it writes the same rows."""
        if self.model_id != now.model_id:
            return f"with another model (model_id {self.model_id[:12]}, not {now.model_id[:12]})"
        if self.labels != now.labels:
            return "with other labels"
        if self.thresholds_sha256 != now.thresholds_sha256:
            return "with other thresholds (the model card's operating points changed)"
        if self.classifier_sha256 != now.classifier_sha256:
            return "with another file of this model (another export, or its int8 variant)"
        if self.folder_sha256 != now.folder_sha256:
            return "on another folder"
        if self.shard != now.shard:
            return f"as {_shard_words(self.shard)}, not {_shard_words(now.shard)}"
        if self.include_patient_id != now.include_patient_id:
            return "with" + ("" if self.include_patient_id else "out") + " --include-patient-id"
        if self.follow_links != now.follow_links:
            return "with" + ("" if self.follow_links else "out") + " --follow-links"
        if self.viewer_version != now.viewer_version:
            return f"by cxr-viewer {self.viewer_version}, not {now.viewer_version}"
        return None


# The record's fields as JSON has them: a value of another type is not a record.
_FIELD_TYPES: dict[str, type] = {
    "model_id": str, "classifier_sha256": str, "thresholds_sha256": str, "labels": list, "include_patient_id": bool,
    "shard": str, "follow_links": bool, "folder_sha256": str, "viewer_version": str, "version": int,
}


def _shard_words(shard: str) -> str:
    return f"shard {shard}" if shard else "the whole folder"


def read_record(out: Path) -> RunRecord | None:
    """The resume record beside ``out``, or None when there is none or it is not one (read
    without following a link at its name)."""
    try:
        fd = os.open(record_path(out), os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(_MAX_RECORD_BYTES + 1)
    if len(data) > _MAX_RECORD_BYTES:
        return None
    try:
        return RunRecord.from_json(data.decode("utf-8"))
    except UnicodeDecodeError:
        return None


def write_record(out: Path, record: RunRecord) -> None:
    """Write the resume record beside ``out`` (``safe_write``: a new file renamed into place)."""
    write_bytes(record_path(out), record.to_json().encode("utf-8"))


def remove_record(out: Path) -> None:
    """Remove the resume record beside ``out``, if there is one (a link there: the link)."""
    try:
        os.unlink(record_path(out))
    except FileNotFoundError:
        pass
