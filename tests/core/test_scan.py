"""viewer.core.scan: a generated tree with every awkward case, and the real data when present.

The ``make_*`` helpers here are also used by the batch and CLI tests.
"""

from __future__ import annotations

import builtins
import os
import struct
import sys
import tempfile
from importlib.resources import files
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from tests.conftest import shared_path
from viewer.core import scan as scan_module
from viewer.core.patient_tree import PatientTree, group_images
from viewer.core.scan import ScanError, ScannedImage, SkippedFile, scan_folder

SECRET_ID = "PID-SECRET-4711"
SECRET_NAME = "Doe^Janet"
CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
CR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.1"
BASIC_TEXT_SR = "1.2.840.10008.5.1.4.1.1.88.11"
HEADER_2020 = (
    "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position,"
    "OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y]\n"
)


# -- generators (shared with test_batch.py and test_cli.py) ------------------------------------
def make_dicom(
    path: Path,
    *,
    patient_id: str | None = SECRET_ID,
    patient_name: str | None = SECRET_NAME,
    study_uid: str | None = None,
    series_uid: str | None = None,
    series_number: int = 1,
    instance: int = 1,
    rows: int = 96,
    columns: int = 80,
    with_pixels: bool = True,
    preamble: bool = True,
    photometric: str = "MONOCHROME2",
    seed: int = 0,
) -> Path:
    """A small, valid 12-bit CR DICOM with a chest-like gradient (uncompressed)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CR_IMAGE_STORAGE if with_pixels else BASIC_TEXT_SR
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    if patient_id is not None:
        ds.PatientID = patient_id
    if patient_name is not None:
        ds.PatientName = patient_name
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "F"
    ds.PatientAge = "054Y"
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = series_uid or generate_uid()
    ds.StudyDate = "20240131"
    ds.StudyDescription = "CHEST PA"
    ds.SeriesNumber = series_number
    ds.SeriesDescription = "PA"
    ds.InstanceNumber = instance
    ds.Modality = "CR"
    ds.ViewPosition = "PA"
    if with_pixels:
        rng = np.random.default_rng(seed)
        yy, xx = np.mgrid[0:rows, 0:columns]
        image = 2000 + 1500 * np.sin(np.pi * xx / columns) * np.cos(np.pi * (yy - rows / 2) / rows)
        image = (image + rng.normal(0, 40, image.shape)).clip(0, 4095).astype(np.uint16)
        ds.Rows, ds.Columns = rows, columns
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = photometric
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
        ds.PixelRepresentation = 0
        ds.PixelData = image.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if preamble:
        ds.save_as(path, enforce_file_format=True, little_endian=True, implicit_vr=False)
    else:  # a bare dataset, as some PACS exports write: no preamble, no file meta, implicit VR
        del ds.file_meta
        ds.save_as(path, little_endian=True, implicit_vr=True)
    return path


def make_png(path: Path, size: tuple[int, int] = (64, 48), bits: int = 8, seed: int = 0) -> Path:
    """A greyscale PNG of ``size`` = (width, height), written with OpenCV."""
    width, height = size
    rng = np.random.default_rng(seed)
    dtype = np.uint8 if bits == 8 else np.uint16
    image = rng.integers(0, 255 if bits == 8 else 4095, (height, width)).astype(dtype)
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, data = cv2.imencode(".png", image)
    assert ok
    with open(path, "wb") as handle:  # works for non-UTF-8 names too (cv2.imwrite does not)
        handle.write(data.tobytes())
    return path


def make_jpeg(path: Path, size: tuple[int, int] = (72, 40), exif_bytes: int = 0) -> Path:
    """A JPEG; ``exif_bytes`` > 0 inserts a large APP1 segment before the frame header."""
    width, height = size
    image = np.full((height, width), 128, np.uint8)
    ok, data = cv2.imencode(".jpg", image)
    assert ok
    data = data.tobytes()
    if exif_bytes:
        chunks, remaining = [], exif_bytes
        while remaining > 0:  # one segment holds at most 65533 bytes
            n = min(remaining, 65000)
            chunks.append(b"\xff\xe1" + struct.pack(">H", n + 2) + b"Exif\x00\x00" + bytes(n - 6))
            remaining -= n
        data = data[:2] + b"".join(chunks) + data[2:]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def write_data_entry(path: Path, rows: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER_2020 + "".join(r + "\n" for r in rows), encoding="utf-8")
    return path


def deny(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``path`` unreadable; as root (where chmod does not bind), fake the refusal."""
    path.chmod(0)
    if os.geteuid() != 0:
        return
    target = os.fsencode(path)
    real_open, real_scandir = builtins.open, os.scandir

    def guarded_open(file, *args, **kwargs):
        if isinstance(file, (str, bytes, os.PathLike)) and os.fsencode(file) == target:
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    def guarded_scandir(folder=".", *args, **kwargs):
        if os.fsencode(folder) == target:
            raise PermissionError(13, "Permission denied", str(folder))
        return real_scandir(folder, *args, **kwargs)

    monkeypatch.setattr(scan_module, "open", guarded_open, raising=False)
    monkeypatch.setattr(scan_module.os, "scandir", guarded_scandir)


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with DICOM patients/studies/series, NIH PNGs, and every kind of bad file."""
    root = tmp_path / "export"
    study_a, study_b = generate_uid(), generate_uid()
    series_a1, series_a2 = generate_uid(), generate_uid()
    make_dicom(root / "PA1" / "ST1" / "SE1" / "IM2.dcm", study_uid=study_a, series_uid=series_a1, instance=2)
    make_dicom(root / "PA1" / "ST1" / "SE1" / "IM1.dcm", study_uid=study_a, series_uid=series_a1, instance=1)
    make_dicom(root / "PA1" / "ST1" / "SE2" / "IM1.dcm", study_uid=study_a, series_uid=series_a2, series_number=2)
    make_dicom(root / "PA1" / "ST2" / "SE1" / "IM1.dcm", study_uid=study_b)
    make_dicom(root / "PA2" / "IM000001", patient_id="OTHER-77", patient_name="Roe^Richard", preamble=False)
    make_dicom(root / "PA2" / "report.dcm", patient_id="OTHER-77", with_pixels=False)
    (root / "PA2" / "empty.dcm").write_bytes(b"")

    images = root / "nih" / "images"
    make_png(images / "00000013_000.png", (64, 64))
    make_png(images / "00000013_001.png", (32, 32))
    make_png(images / "00000099_000.png", (40, 40))  # not in the Data_Entry file
    write_data_entry(root / "nih" / "Data_Entry_2017_v2020.csv", [
        "00000013_000.png,Emphysema|Mass,0,13,60,M,AP,3056,2544,0.139,0.139",
        "00000013_001.png,No Finding,1,13,61,M,PA,2500,2048,0.168,0.168",
    ])
    make_jpeg(root / "photos" / "big_exif.jpg", (72, 40), exif_bytes=70_000)
    make_png(root / "photos" / "deep16.png", (30, 20), bits=16)
    make_png(root / "photos" / os.fsdecode(b"r\xe9sum\xe9-\xff.png"), (24, 24))  # Latin-1 name

    (root / "notes.txt").write_text("not an image")
    (root / "broken.png").write_bytes(b"this is not a PNG at all")
    (root / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (root / "loop").symlink_to(root, target_is_directory=True)
    (root / "dangling.dcm").symlink_to(root / "nowhere.dcm")
    os.mkfifo(root / "pipe")
    make_png(root / "locked" / "hidden_from_us.png")
    locked_file = make_png(root / "unreadable.png")
    deny(root / "locked", monkeypatch)
    deny(locked_file, monkeypatch)
    yield root
    (root / "locked").chmod(0o755)


def by_name(items: list) -> dict[str, ScannedImage | SkippedFile]:
    return {item.display_path: item for item in items}


# -- the generated tree -------------------------------------------------------------------------
def test_every_file_is_reported_once_and_nothing_stops_the_scan(tree: Path) -> None:
    items = list(scan_folder(tree))
    found = by_name(items)
    assert len(found) == len(items)
    images = {k for k, v in found.items() if isinstance(v, ScannedImage)}
    assert images == {
        "PA1/ST1/SE1/IM1.dcm", "PA1/ST1/SE1/IM2.dcm", "PA1/ST1/SE2/IM1.dcm", "PA1/ST2/SE1/IM1.dcm",
        "PA2/IM000001", "nih/images/00000013_000.png", "nih/images/00000013_001.png",
        "nih/images/00000099_000.png", "photos/big_exif.jpg", "photos/deep16.png",
        "photos/r\\udce9sum\\udce9-\\udcff.png",
    }
    skipped = {k: v for k, v in found.items() if isinstance(v, SkippedFile)}
    assert "symlink loop" in skipped["loop"].reason
    assert "broken link" in skipped["dangling.dcm"].reason
    assert "pipe" in skipped["pipe"].reason
    assert "permission denied" in skipped["locked"].reason and skipped["locked"].folder
    assert "permission denied" in skipped["unreadable.png"].reason
    assert "0 bytes" in skipped["PA2/empty.dcm"].reason
    assert "without an image" in skipped["PA2/report.dcm"].reason
    assert "hidden" in skipped[".DS_Store"].reason
    assert "not an image" in skipped["notes.txt"].reason
    assert "content is not a PNG" in skipped["broken.png"].reason
    assert "nih/Data_Entry_2017_v2020.csv" in skipped


def test_skipped_files_say_which_ones_claim_to_be_images(tree: Path) -> None:
    found = by_name(list(scan_folder(tree)))
    claims = {k: v.claimed_format for k, v in found.items() if isinstance(v, SkippedFile)}
    assert claims["broken.png"] == "png"
    assert claims["PA2/empty.dcm"] == "dicom"
    assert claims["PA2/report.dcm"] == "dicom"
    assert claims["unreadable.png"] == "png"
    assert claims["dangling.dcm"] == "dicom"
    for name in ("notes.txt", ".DS_Store", "loop", "pipe", "nih/Data_Entry_2017_v2020.csv"):
        assert claims[name] is None, name


def test_dicom_is_grouped_by_patient_study_and_series_with_pseudonymous_keys(tree: Path) -> None:
    found = by_name(list(scan_folder(tree)))
    im1, im2 = found["PA1/ST1/SE1/IM1.dcm"], found["PA1/ST1/SE1/IM2.dcm"]
    other_series, other_study = found["PA1/ST1/SE2/IM1.dcm"], found["PA1/ST2/SE1/IM1.dcm"]
    bare = found["PA2/IM000001"]
    assert im1.patient_key == im2.patient_key == other_series.patient_key == other_study.patient_key
    assert bare.patient_key != im1.patient_key
    assert im1.study_key == im2.study_key == other_series.study_key != other_study.study_key
    assert im1.series_key == im2.series_key != other_series.series_key
    keys = sorted({i.patient_key for i in found.values() if isinstance(i, ScannedImage)})
    assert keys == list(range(1, len(keys) + 1))  # small numbers, not identifiers
    assert (im1.format, im1.rows, im1.columns, im1.modality, im1.view_position) == ("dicom", 96, 80, "CR", "PA")
    assert (im1.sex, im1.age, im1.instance_number, im1.series_description) == ("F", 54, 1, "PA")
    assert im1.study_label == "2024-01-31 CHEST PA"
    assert im1.patient_label == "Doe Janet (PID-SECRET-4711)" and im1.patient_id == SECRET_ID


def test_identifiers_never_appear_in_repr_or_in_skip_reasons(tree: Path) -> None:
    items = list(scan_folder(tree))
    text = " ".join(repr(item) for item in items) + repr(group_images(items))
    for secret in (SECRET_ID, "Doe", "Janet", "OTHER-77", "Roe", "19700101", "2024"):
        assert secret not in text


def test_grouping_orders_series_and_instances(tree: Path) -> None:
    patients = group_images(scan_folder(tree))
    first = patients[0]
    assert first.label.startswith("Doe Janet")
    assert [len(s.series) for s in first.studies] == [2, 1]
    series = first.studies[0].series
    assert [s.number for s in series] == [1, 2]
    assert [i.instance_number for i in series[0].images] == [1, 2]
    assert len(first.images) == 4
    assert sum(len(p.images) for p in patients) == 11


def test_nih_pngs_get_patient_follow_up_and_data_entry_labels(tree: Path) -> None:
    found = by_name(list(scan_folder(tree)))
    first, second = found["nih/images/00000013_000.png"], found["nih/images/00000013_001.png"]
    unknown = found["nih/images/00000099_000.png"]
    assert first.patient_key == second.patient_key != unknown.patient_key
    assert first.study_key != second.study_key
    assert (first.follow_up, second.follow_up, unknown.follow_up) == (0, 1, 0)
    assert first.labels == ("Mass", "Emphysema") and second.labels == ()
    assert unknown.labels is None
    assert (first.age, first.sex, first.view_position) == (60, "M", "AP")
    assert second.view_position == "PA"
    assert (first.columns, first.rows, second.columns) == (64, 64, 32)
    assert first.patient_label == "NIH patient 13" and first.study_label == "Follow-up 0"


def test_raster_sizes_come_from_the_header(tree: Path) -> None:
    found = by_name(list(scan_folder(tree)))
    assert (found["photos/big_exif.jpg"].columns, found["photos/big_exif.jpg"].rows) == (72, 40)
    assert (found["photos/deep16.png"].columns, found["photos/deep16.png"].rows) == (30, 20)
    assert found["photos/big_exif.jpg"].format == "jpeg"
    # Images without a header to group by: one "patient" per folder.
    assert found["photos/big_exif.jpg"].patient_key == found["photos/deep16.png"].patient_key


def test_non_utf8_names_are_kept_openable_and_printable(tree: Path) -> None:
    odd = next(i for i in scan_folder(tree) if isinstance(i, ScannedImage) and "sum" in i.display_path)
    assert odd.path.read_bytes()[:4] == b"\x89PNG"
    odd.display_path.encode("utf-8")  # printable: no lone surrogates left
    assert odd.name == "r\\udce9sum\\udce9-\\udcff.png"


def test_results_stream_before_the_scan_ends_and_progress_reaches_the_total(tree: Path) -> None:
    calls: list[tuple[int, int | None]] = []
    iterator = scan_folder(tree, on_progress=lambda done, total: calls.append((done, total)))
    next(iterator)
    assert calls[0] == (0, None)  # listing
    total = calls[-1][1]
    assert total is not None and calls[-1][0] < total
    rest = list(iterator)
    assert calls[-1] == (total, total) == (len(rest) + 1, total)


def test_cancel_ends_the_scan_early(tree: Path) -> None:
    everything = list(scan_folder(tree))
    limited: list = []
    for item in scan_folder(tree, cancelled=lambda: len(limited) >= 3):
        limited.append(item)
    assert len(limited) == 3 < len(everything)
    assert list(scan_folder(tree, cancelled=lambda: True)) == []  # cancelled while listing


def test_a_single_file_and_a_missing_folder(tmp_path: Path) -> None:
    path = make_png(tmp_path / "one.png")
    (item,) = list(scan_folder(path))
    assert isinstance(item, ScannedImage) and item.display_path == "one.png"
    with pytest.raises(ScanError, match="no such folder"):
        list(scan_folder(tmp_path / "missing"))


def test_patient_tree_grows_one_image_at_a_time(tree: Path) -> None:
    tree_model = PatientTree()
    counts = []
    for item in scan_folder(tree):
        if isinstance(item, ScannedImage):
            patient, study, series = tree_model.add(item)
            assert item in series.images and series in study.series and study in patient.studies
            counts.append(len(tree_model.patients))
    assert counts == sorted(counts)  # patients only ever get added, in key order
    assert [p.key for p in tree_model.patients] == sorted(p.key for p in tree_model.patients)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=400), name=st.sampled_from(["x.png", "x.jpg", "x.dcm", "IM0001", "x.bmp"]),
       magic=st.sampled_from([b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"\x08\x00", b"BM", b"\0" * 128 + b"DICM"]))
def test_arbitrary_bytes_never_stop_the_scan(tmp_path: Path, data: bytes, name: str, magic: bytes) -> None:
    folder = Path(tempfile.mkdtemp(dir=tmp_path))  # tmp_path is shared by all examples
    path = folder / name
    path.write_bytes(magic + data)
    (item,) = list(scan_folder(folder))
    assert isinstance(item, (ScannedImage, SkippedFile)) and item.path == path


# -- real files -----------------------------------------------------------------------------
def test_pydicom_data_chest_pair_is_one_patient_study_and_series(tmp_path: Path) -> None:
    folder = tmp_path / "rg1"
    folder.mkdir()
    data = files("data_store") / "data"
    for name in ("RG1_UNCR.dcm", "RG1_J2KR.dcm"):
        os.symlink(Path(str(data / name)), folder / name)
    items = list(scan_folder(folder))
    assert all(isinstance(i, ScannedImage) for i in items) and len(items) == 2
    (patient,) = group_images(items)
    (study,) = patient.studies
    (series,) = study.series
    assert [i.instance_number for i in series.images] == [1, 2]
    assert {(i.rows, i.columns, i.modality, i.view_position) for i in items} == {(1955, 1841, "CR", "PA")}


@pytest.mark.shared_data
def test_real_dicom_folder() -> None:
    items = list(scan_folder(shared_path("dicom")))
    images = [i for i in items if isinstance(i, ScannedImage)]
    assert len(images) == len(items) == 4
    rg1 = [i for i in images if i.name.startswith("RG1")]
    assert len({i.study_key for i in rg1}) == 1


@pytest.mark.shared_data
def test_real_nih_sample_has_labels_for_every_image() -> None:
    folder = shared_path("nih-sample", "images")
    images = [i for i in scan_folder(folder) if isinstance(i, ScannedImage)]
    assert len(images) == 501
    assert all(i.labels is not None and i.view_position in {"PA", "AP"} for i in images)
    assert {(i.rows, i.columns) for i in images} <= {(512, 512), (1024, 1024)}
    first_patient = [i for i in images if i.name.startswith("00000001_")]
    assert len(first_patient) == 3 and len({i.patient_key for i in first_patient}) == 1
    assert len({i.study_key for i in first_patient}) == 3  # three follow-up visits


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX symlinks and FIFOs")
def test_scan_of_a_tree_with_a_loop_terminates_quickly(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "up").symlink_to(tmp_path / "a", target_is_directory=True)
    (tmp_path / "a" / "self").symlink_to(tmp_path, target_is_directory=True)
    items = list(scan_folder(tmp_path))
    assert len(items) == 2 and all("symlink loop" in i.reason for i in items)
