"""The annotation store: keys, per-frame lists, atomic saves, versions, damage, and no identity."""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from viewer.core.annotation_store import (
    MAX_SHAPES,
    SCHEMA_VERSION,
    AnnotationStore,
    AnnotationStoreError,
    default_store_path,
    file_content_hash,
    image_key_for_dicom,
    image_key_for_file,
    pixel_hash,
    radiograph_key,
)
from viewer.core.errors import one_line
from viewer.core.loader import load_radiograph

ROOT = Path(__file__).resolve().parents[2]
DISTANCE = {"kind": "distance", "points": [[1.0, 2.0], [30.5, 40.0]]}
TEXT = {"kind": "text", "points": [[5.0, 5.0]], "text": "effusion?"}
HASH = "ab" * 32


def write_dicom(path: Path, pixels: np.ndarray, uid: str, name: str = "Doe^Jane", patient_id: str = "PID-4711") -> Path:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
    meta.MediaStorageSOPInstanceUID = uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = meta.MediaStorageSOPClassUID, uid, "DX"
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = name, patient_id, "19600101"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = pixels.astype(np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def test_shapes_are_kept_per_image_and_frame_in_order(tmp_path: Path) -> None:
    path = tmp_path / "data" / "annotations.sqlite3"
    with AnnotationStore(path) as store:
        assert store.load("file:" + HASH) == []
        store.save("file:" + HASH, 0, [DISTANCE, TEXT])
        store.save("file:" + HASH, 3, [TEXT])
        store.save("other", 0, [TEXT])
    assert path.stat().st_mode & 0o077 == 0  # the user's own
    with AnnotationStore(path) as store:  # a new session
        assert store.load("file:" + HASH, 0) == [DISTANCE, TEXT]
        assert store.load("file:" + HASH, 3) == [TEXT]
        assert store.load("file:" + HASH, 1) == []
        assert store.frames("file:" + HASH) == [0, 3]
        store.save("file:" + HASH, 0, [TEXT])  # replaces the list
        assert store.load("file:" + HASH, 0) == [TEXT]
        store.save("file:" + HASH, 0, [])
        assert store.load("file:" + HASH, 0) == [] and store.frames("file:" + HASH) == [3]


def test_calibrations_are_kept_and_forgotten(tmp_path: Path) -> None:
    with AnnotationStore(tmp_path / "s.sqlite3") as store:
        assert store.calibration("k") is None
        store.set_calibration("k", 0.25)
        store.set_calibration("k", 0.5)
        assert store.calibration("k") == 0.5
        with pytest.raises(ValueError, match="positive"):
            store.set_calibration("k", -1.0)
        store.set_calibration("k", None)
        assert store.calibration("k") is None


def test_shapes_that_cannot_be_stored_are_refused_before_anything_changes(tmp_path: Path) -> None:
    with AnnotationStore(tmp_path / "s.sqlite3") as store:
        store.save("k", 0, [DISTANCE])
        for bad in ([DISTANCE, {"kind": "distance", "points": [[float("nan"), 0.0]]}],
                    [DISTANCE, {"x": object()}],
                    [DISTANCE, {"text": "x" * 30_000}],
                    [TEXT] * (MAX_SHAPES + 1)):
            with pytest.raises(ValueError):
                store.save("k", 0, bad)
        with pytest.raises(ValueError, match="frame"):
            store.save("k", -1, [DISTANCE])
        with pytest.raises(ValueError, match="image key"):
            store.load("", 0)
        assert store.load("k", 0) == [DISTANCE]


def test_a_save_that_fails_inside_its_transaction_leaves_the_previous_list(tmp_path: Path) -> None:
    with AnnotationStore(tmp_path / "s.sqlite3") as store:
        store.save("k", 0, [DISTANCE, TEXT])
        store._db.execute("CREATE TRIGGER fail BEFORE INSERT ON shapes WHEN NEW.position = 1 "
                          "BEGIN SELECT RAISE(ABORT, 'disk full'); END")
        with pytest.raises(AnnotationStoreError, match="could not be written .*disk full"):
            store.save("k", 0, [TEXT, DISTANCE, TEXT])  # the delete and the first insert ran
        assert store.load("k", 0) == [DISTANCE, TEXT]
        assert not store._db.in_transaction


WRITER = """
import sys
from viewer.core.annotation_store import AnnotationStore
store = AnnotationStore(sys.argv[1])
lists = [[{"kind": "text", "points": [[i, j]], "text": "a" * 200} for j in range(n)] for i, n in ((1, 300), (2, 700))]
store.save("k", 0, lists[0])
print("ready", flush=True)
i = 0
while True:
    i += 1
    store.save("k", 0, lists[i % 2])
"""


def test_a_writer_killed_mid_save_leaves_one_whole_list(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    for delay in (0.05, 0.13, 0.21):
        child = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], cwd=ROOT, stdout=subprocess.PIPE,
                                 env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert child.stdout is not None and child.stdout.readline().strip() == b"ready"
        time.sleep(delay)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
        with AnnotationStore(path) as store:
            assert store._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            shapes = store.load("k", 0)
        assert len(shapes) in (300, 700)
        assert {shape["points"][0][0] for shape in shapes} == {1 if len(shapes) == 300 else 2}


def test_a_later_viewers_store_is_read_but_never_written(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    with AnnotationStore(path) as store:
        store.save("k", 0, [DISTANCE])
        store._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    before = path.read_bytes()
    with AnnotationStore(path) as store:
        assert store.read_only
        assert "later viewer" in store.read_only_reason and "not saved" in store.read_only_reason
        assert store.load("k", 0) == [DISTANCE]
        with pytest.raises(AnnotationStoreError, match="later viewer"):
            store.save("k", 0, [])
        with pytest.raises(AnnotationStoreError):
            store.set_calibration("k", 0.2)
    assert path.read_bytes() == before


@pytest.mark.parametrize("content", [b"garbage " * 1000, b"SQLite format 3\0" + b"\xff" * 5000])
def test_a_damaged_store_is_a_one_line_error_naming_the_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "annotations.sqlite3"
    path.write_bytes(content)
    with pytest.raises(AnnotationStoreError) as caught:
        AnnotationStore(path)
    assert caught.value.path == path
    message = one_line(caught.value)
    assert str(caught.value) == message and str(path) in message
    assert "not an annotation store" in message and "move the file aside" in message
    assert path.read_bytes() == content


def test_another_programs_database_is_not_taken_over(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE notes (x)")
    with pytest.raises(AnnotationStoreError, match="another program's database"):
        AnnotationStore(path)


def test_keys_follow_the_image_not_its_place_and_hold_no_uid(tmp_path: Path) -> None:
    pixels = np.arange(64, dtype=np.uint16).reshape(8, 8)
    uid = generate_uid()
    a = write_dicom(tmp_path / "a.dcm", pixels, uid)
    moved = tmp_path / "moved" / "b.dcm"
    moved.parent.mkdir()
    moved.write_bytes(a.read_bytes())
    other = write_dicom(tmp_path / "c.dcm", pixels + 1, uid)  # same UID, other pixels
    key = radiograph_key(load_radiograph(a))
    assert key == radiograph_key(load_radiograph(moved))
    assert key != radiograph_key(load_radiograph(other))
    assert key.startswith("dicom:") and uid not in key
    assert key == image_key_for_dicom(uid, pixel_hash(load_radiograph(a).pixels))

    png = tmp_path / "x.png"
    png.write_bytes(b"\x89PNG not really")
    assert image_key_for_file(file_content_hash(png)) == "file:" + hashlib.sha256(png.read_bytes()).hexdigest()
    for bad_uid, bad_hash in (("", HASH), ("1" * 65, HASH), ("1.2", "xyz"), ("1.2", HASH.upper())):
        with pytest.raises(ValueError):
            image_key_for_dicom(bad_uid, bad_hash)


def test_the_content_hash_streams_a_file_larger_than_a_chunk(tmp_path: Path) -> None:
    data = np.random.default_rng(0).integers(0, 256, 3 * (1 << 20) + 17, dtype=np.uint8).tobytes()
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    assert file_content_hash(path) == hashlib.sha256(data).hexdigest()


def test_the_pixel_hash_sees_values_shape_and_type_and_not_the_memory_layout() -> None:
    pixels = np.arange(600, dtype=np.uint16).reshape(20, 30)
    same = np.asfortranarray(pixels)
    assert pixel_hash(pixels) == pixel_hash(same) == pixel_hash(pixels.T.T)
    assert pixel_hash(pixels) != pixel_hash(pixels.reshape(30, 20))
    assert pixel_hash(pixels) != pixel_hash(pixels.astype(np.int32))
    changed = pixels.copy()
    changed[19, 29] += 1
    assert pixel_hash(pixels) != pixel_hash(changed)


def test_the_store_holds_no_name_id_or_uid(tmp_path: Path) -> None:
    uid = generate_uid()
    path = write_dicom(tmp_path / "p.dcm", np.ones((8, 8), np.uint16), uid, "Sentinelname^Jo", "IDSENTINEL99")
    header = pydicom.dcmread(path, stop_before_pixels=True)
    assert str(header.PatientName) == "Sentinelname^Jo"
    store_path = tmp_path / "store.sqlite3"
    with AnnotationStore(store_path) as store:
        key = radiograph_key(load_radiograph(path))
        store.save(key, 0, [DISTANCE, TEXT])
        store.set_calibration(key, 0.2)
        columns = {table: [row[1] for row in store._db.execute(f"PRAGMA table_info({table})")]
                   for table in ("shapes", "calibrations")}
    assert columns == {"shapes": ["image_key", "frame", "position", "shape", "saved_at"],
                       "calibrations": ["image_key", "mm_per_pixel", "saved_at"]}
    stored = store_path.read_bytes()
    assert b"effusion?" in stored  # the file was read as written
    for secret in ("Sentinelname", "IDSENTINEL99", "19600101", uid, str(path), "p.dcm"):
        assert secret.encode() not in stored


def test_the_default_store_is_in_the_users_data_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    if sys.platform in ("win32", "darwin"):
        pytest.skip("the XDG rule is the Linux one")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_store_path() == tmp_path / "xdg" / "cxr-viewer" / "annotations.sqlite3"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_store_path() == tmp_path / "home" / ".local" / "share" / "cxr-viewer" / "annotations.sqlite3"
