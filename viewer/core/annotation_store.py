"""The user's measurements and annotations, kept across sessions in one SQLite file of the app's.

Never beside the images: a folder may be read-only, shared, or a PACS export that must not
change. The file lives in the user's data folder (``default_store_path``), and an image is found
again by what it is, not where it is, so a moved or copied folder keeps its annotations:

* a DICOM image by its SOP Instance UID and a hash of its decoded pixels (two files that share a
  UID, as some exports produce, do not share annotations; a re-encoded copy does);
* any other image by the SHA-256 of the file's bytes.

Both are hashed into the key, so the file holds no UID, name or ID: a row is the key, the frame,
one shape as JSON and when it was saved. ``save`` replaces an image frame's list in one
transaction (rollback journal, synchronous writes): a crash or a kill mid-write leaves the
previous list. The schema's version is ``PRAGMA user_version``; a store written by a later viewer
is opened read-only and never changed. A file that is not a store (damaged, or another program's)
raises ``AnnotationStoreError``, naming it: the viewer then goes on without keeping annotations.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from .dicom_values import text_value
from .errors import FileProblem
from .radiograph import Radiograph

SCHEMA_VERSION = 1
APPLICATION_ID = 0x43585256  # 'CXRV' in the SQLite header: this file is the viewer's store
STORE_FILE = "annotations.sqlite3"
MAX_KEY_CHARS = 100
MAX_UID_CHARS = 64  # DICOM's UI value representation
MAX_SHAPES = 1000  # per image frame: more is no reading's annotations
MAX_SHAPE_JSON = 20_000  # characters of one shape (a text annotation is bounded far below this)
HASH_CHUNK = 1 << 20  # bytes read or hashed at a time
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_REMEDY = "move the file aside to start a new store; annotations are not kept until then"

_SCHEMA = (
    """CREATE TABLE shapes (
        image_key TEXT NOT NULL,
        frame INTEGER NOT NULL,
        position INTEGER NOT NULL,
        shape TEXT NOT NULL,
        saved_at TEXT NOT NULL,
        PRIMARY KEY (image_key, frame, position)
    ) WITHOUT ROWID""",
    """CREATE TABLE calibrations (
        image_key TEXT PRIMARY KEY,
        mm_per_pixel REAL NOT NULL,
        saved_at TEXT NOT NULL
    ) WITHOUT ROWID""",
)


class AnnotationStoreError(FileProblem):
    """The store at ``.path`` cannot be used (damaged, not a store, unwritable, read-only)."""


def default_store_path() -> Path:
    """Where the app keeps its store: ``$XDG_DATA_HOME/cxr-viewer/annotations.sqlite3``
    (``~/.local/share`` without it), or the platform's own data folder."""
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "cxr-viewer" / STORE_FILE


def file_content_hash(path: str | os.PathLike[str]) -> str:
    """The SHA-256 of a file's bytes (hex), read a chunk at a time."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def pixel_hash(pixels: np.ndarray) -> str:
    """The SHA-256 (hex) of decoded pixels: their type, shape and values, a block of rows at a
    time (a strided view is copied a block at a time, not whole)."""
    digest = hashlib.sha256(f"{pixels.dtype.str}{pixels.shape}".encode())
    rows = pixels.reshape(pixels.shape[0], -1) if pixels.ndim > 1 else pixels.reshape(1, -1)
    step = max(1, HASH_CHUNK // max(1, rows.shape[1] * pixels.itemsize))
    for start in range(0, rows.shape[0], step):
        digest.update(np.ascontiguousarray(rows[start:start + step]).data)
    return digest.hexdigest()


def image_key_for_dicom(sop_uid: str, pixels_sha256: str) -> str:
    """The key of a DICOM image: its SOP Instance UID with the hash of its decoded pixels
    (``pixel_hash``), hashed together so the store holds no UID."""
    uid = sop_uid.strip().rstrip("\0")
    if not uid or len(uid) > MAX_UID_CHARS:
        raise ValueError(f"a SOP Instance UID has 1 to {MAX_UID_CHARS} characters (this one {len(uid)})")
    _check_hash(pixels_sha256)
    return "dicom:" + hashlib.sha256(f"{uid}\n{pixels_sha256}".encode()).hexdigest()


def image_key_for_file(content_sha256: str) -> str:
    """The key of an image known by its file's bytes (``file_content_hash``)."""
    _check_hash(content_sha256)
    return "file:" + content_sha256


def radiograph_key(radiograph: Radiograph) -> str:
    """The key of a loaded image: a DICOM file with a SOP Instance UID by that and its pixels
    (the decoded first frame, as loaded), anything else by its file's bytes (reads the file)."""
    uid = text_value(radiograph.header, "SOPInstanceUID") if radiograph.is_dicom else ""
    if uid and len(uid) <= MAX_UID_CHARS:
        return image_key_for_dicom(uid, pixel_hash(radiograph.pixels))
    return image_key_for_file(file_content_hash(radiograph.path))


def _check_hash(value: str) -> None:
    if not isinstance(value, str) or not _HEX64.match(value):
        raise ValueError("a content hash is a SHA-256 as 64 lower-case hex digits")


def _check_key(key: str, frame: int = 0) -> None:
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_CHARS:
        raise ValueError(f"an image key has 1 to {MAX_KEY_CHARS} characters")
    if isinstance(frame, bool) or not isinstance(frame, int) or not 0 <= frame < 2**31:
        raise ValueError(f"a frame is a whole number from 0 (got {frame!r})")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class AnnotationStore:
    """The store at ``path``, created when absent (with its folder; readable by this user only).

    Raises ``AnnotationStoreError`` when the file is not a usable store. ``read_only`` is True
    for a later viewer's store (``read_only_reason`` says so in a line); ``save`` then raises.
    Use as a context manager, or ``close()``.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.read_only = False
        self.read_only_reason = ""
        self._db = self._open()

    def _open(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if not self.path.exists():
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            db = sqlite3.connect(self.path, timeout=5.0, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise self._error(f"cannot be opened ({_reason(exc)})") from None
        try:
            version = self._check_header(db)
            if version > SCHEMA_VERSION:
                db.close()
                self.read_only = True
                self.read_only_reason = (f"{self.path.name} was written by a later viewer (schema {version}, this "
                                         f"one knows {SCHEMA_VERSION}): annotations are shown, not saved")
                uri = self.path.resolve().as_uri() + "?mode=ro"
                return sqlite3.connect(uri, uri=True, timeout=5.0, isolation_level=None)
            db.execute("PRAGMA synchronous = FULL")
            if version == 0:
                self._create(db)
            return db
        except sqlite3.Error as exc:
            db.close()
            raise self._error(f"is damaged or not an annotation store ({_reason(exc)})", _REMEDY) from None
        except AnnotationStoreError:
            db.close()
            raise

    def _check_header(self, db: sqlite3.Connection) -> int:
        """The store's schema version; raises for another program's database."""
        application_id = int(db.execute("PRAGMA application_id").fetchone()[0])
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
        if application_id not in (0, APPLICATION_ID) or (application_id == 0 and version != 0):
            raise self._error("is another program's database, not the viewer's annotation store", _REMEDY)
        if application_id == 0 and db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
            raise self._error("is another program's database, not the viewer's annotation store", _REMEDY)
        return version

    def _create(self, db: sqlite3.Connection) -> None:
        with _Transaction(db):
            for statement in _SCHEMA:
                db.execute(statement)
            db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _error(self, problem: str, remedy: str | None = None) -> AnnotationStoreError:
        return AnnotationStoreError(self.path, problem, remedy)

    def load(self, key: str, frame: int = 0) -> list[dict[str, Any]]:
        """The shapes saved for ``key``'s ``frame``, as dicts in their saved order ([] for none)."""
        _check_key(key, frame)
        rows = self._query("SELECT shape FROM shapes WHERE image_key = ? AND frame = ? ORDER BY position",
                           (key, frame))
        shapes = []
        for (text,) in rows:
            try:
                shape = json.loads(text)
            except (TypeError, ValueError):
                raise self._error("holds a shape that is not JSON", _REMEDY) from None
            if not isinstance(shape, dict):
                raise self._error("holds a shape that is not a JSON object", _REMEDY)
            shapes.append(shape)
        return shapes

    def save(self, key: str, frame: int, shapes: Sequence[Mapping[str, Any]]) -> None:
        """Replace ``key``'s ``frame``'s shapes with ``shapes`` (JSON-able mappings), all or
        nothing. Raises ValueError for shapes that cannot be stored (before anything is
        written), ``AnnotationStoreError`` when the store cannot be written."""
        _check_key(key, frame)
        if len(shapes) > MAX_SHAPES:
            raise ValueError(f"at most {MAX_SHAPES} shapes are kept for an image (got {len(shapes)})")
        texts = [_shape_json(shape) for shape in shapes]
        saved_at = _now()
        self._write(lambda db: (
            db.execute("DELETE FROM shapes WHERE image_key = ? AND frame = ?", (key, frame)),
            db.executemany("INSERT INTO shapes VALUES (?, ?, ?, ?, ?)",
                           [(key, frame, i, text, saved_at) for i, text in enumerate(texts)]),
        ))

    def frames(self, key: str) -> list[int]:
        """The frames of ``key`` that have shapes, in order."""
        _check_key(key)
        rows = self._query("SELECT DISTINCT frame FROM shapes WHERE image_key = ? ORDER BY frame", (key,))
        return [int(frame) for (frame,) in rows]

    def calibration(self, key: str) -> float | None:
        """The mm per pixel the user calibrated ``key`` with, or None."""
        _check_key(key)
        rows = self._query("SELECT mm_per_pixel FROM calibrations WHERE image_key = ?", (key,))
        return float(rows[0][0]) if rows else None

    def set_calibration(self, key: str, mm_per_pixel: float | None) -> None:
        """Keep (or, with None, forget) ``key``'s calibration."""
        _check_key(key)
        if mm_per_pixel is None:
            self._write(lambda db: db.execute("DELETE FROM calibrations WHERE image_key = ?", (key,)))
            return
        value = float(mm_per_pixel)
        if not (np.isfinite(value) and value > 0):
            raise ValueError(f"a calibration is a positive number of mm per pixel (got {mm_per_pixel!r})")
        saved_at = _now()
        self._write(lambda db: db.execute("INSERT OR REPLACE INTO calibrations VALUES (?, ?, ?)",
                                          (key, value, saved_at)))

    def _query(self, sql: str, parameters: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        try:
            return list(self._db.execute(sql, parameters).fetchall())
        except sqlite3.Error as exc:
            raise self._error(f"could not be read ({_reason(exc)})", _REMEDY) from None

    def _write(self, change: Callable[[sqlite3.Connection], object]) -> None:
        if self.read_only:
            raise self._error(self.read_only_reason.removeprefix(f"{self.path.name} "))
        try:
            with _Transaction(self._db):
                change(self._db)
        except sqlite3.Error as exc:
            raise self._error(f"could not be written ({_reason(exc)})") from None

    def close(self) -> None:
        """Close the file (a store is unusable after)."""
        self._db.close()

    def __enter__(self) -> AnnotationStore:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK when the block raises (anything)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if kind is None:
            self._db.execute("COMMIT")
        elif self._db.in_transaction:
            self._db.execute("ROLLBACK")


def _shape_json(shape: Mapping[str, Any]) -> str:
    """One shape as compact JSON; ValueError when it is not a JSON object or is too long."""
    if not isinstance(shape, Mapping):
        raise ValueError(f"a shape is a mapping (got {type(shape).__name__})")
    try:
        text = json.dumps(dict(shape), separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"a shape must be plain JSON ({exc})") from None
    if len(text) > MAX_SHAPE_JSON:
        raise ValueError(f"a shape of {len(text)} characters is too long to keep (at most {MAX_SHAPE_JSON})")
    return text


def _reason(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__
