"""viewer.core.nih: reading the NIH Data_Entry CSV (generated files, and the real one if present)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import shared_path
from viewer.core.errors import CxrError
from viewer.core.nih import (
    NIH_LABELS,
    DataEntryError,
    NihEntry,
    OriginalImage,
    find_data_entry,
    parse_labels,
    read_data_entry,
    read_original_images,
)

HEADER_2020 = (
    "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position,"
    "OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y]\n"
)
# The 2017 file: same columns plus a trailing empty one, ages like "058Y" in early copies.
HEADER_2017 = HEADER_2020.rstrip("\n") + ",\n"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_labels_are_the_official_fourteen_in_order() -> None:
    assert NIH_LABELS == (
        "Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule", "Pneumonia",
        "Pneumothorax", "Consolidation", "Edema", "Emphysema", "Fibrosis", "Pleural_Thickening",
        "Hernia",
    )


def test_reads_rows_of_the_2020_file(tmp_path: Path) -> None:
    csv_path = write(
        tmp_path / "Data_Entry_2017_v2020.csv",
        HEADER_2020
        + "00000001_000.png,Cardiomegaly,0,1,57,M,PA,2682,2749,0.143,0.143\n"
        + "00000001_001.png,Emphysema|Cardiomegaly,1,1,58,M,PA,2894,2729,0.143,0.143\n"
        + "00000002_000.png,No Finding,0,2,80,F,AP,2500,2048,0.171,0.171\n",
    )
    entries = read_data_entry(csv_path)
    assert list(entries) == ["00000001_000.png", "00000001_001.png", "00000002_000.png"]
    assert entries["00000001_001.png"] == NihEntry(
        "00000001_001.png", ("Cardiomegaly", "Emphysema"), 1, 1, 58, "M", "PA"
    )
    nofinding = entries["00000002_000.png"]
    assert nofinding.labels == () and nofinding.no_finding
    assert (nofinding.patient_id, nofinding.sex, nofinding.view) == (2, "F", "AP")


def test_reads_the_2017_layout_with_year_suffixed_ages_and_bad_ages(tmp_path: Path) -> None:
    csv_path = write(
        tmp_path / "Data_Entry_2017.csv",
        "\ufeff" + HEADER_2017  # a byte-order mark, as a spreadsheet re-save leaves
        + "00000003_000.png,Hernia,0,3,081Y,F,PA,2582,2991,0.143,0.143,\n"
        + "00000004_000.png,Mass|Nodule,0,4,414,M,AP,2500,2048,0.168,0.168,\n"
        + "00000005_000.png,Effusion,0,5,,,,2500,2048,0.168,0.168,\n"
        + "\n",
    )
    entries = read_data_entry(csv_path)
    assert entries["00000003_000.png"].age == 81
    assert entries["00000004_000.png"].age is None  # 414 is a typo, not an age
    blank = entries["00000005_000.png"]
    assert (blank.age, blank.sex, blank.view) == (None, None, None)
    assert len(entries) == 3


def test_minimal_columns_take_follow_up_from_the_file_name(tmp_path: Path) -> None:
    csv_path = write(tmp_path / "labels.csv", "Patient ID,Image Index,Finding Labels\n7,00000007_012.png,Edema\n")
    entry = read_data_entry(csv_path)["00000007_012.png"]
    assert (entry.follow_up, entry.patient_id, entry.labels, entry.age) == (12, 7, ("Edema",), None)


def test_unknown_labels_are_kept_after_the_known_ones() -> None:
    assert parse_labels("Zebra|Hernia|Atelectasis") == ("Atelectasis", "Hernia", "Zebra")
    assert parse_labels("No Finding") == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "is empty"),
        ("Image Index,Finding Labels\na.png,Edema\n", "no column 'Patient ID'"),
        ("name,labels,patient\n", "no column 'Image Index', 'Finding Labels', 'Patient ID'"),
        (HEADER_2020 + "x.png,Edema,0,abc,1,M,PA,1,1,1,1\n", "line 2: Patient ID 'abc' is not a number"),
    ],
)
def test_bad_files_raise_one_clear_error(tmp_path: Path, text: str, expected: str) -> None:
    csv_path = write(tmp_path / "Data_Entry_2017.csv", text)
    with pytest.raises(DataEntryError) as info:
        read_data_entry(csv_path)
    assert isinstance(info.value, CxrError)
    assert expected in str(info.value)
    assert "Data_Entry_2017.csv" in str(info.value)


def test_missing_and_binary_files(tmp_path: Path) -> None:
    with pytest.raises(DataEntryError, match="not found"):
        read_data_entry(tmp_path / "nope.csv")
    binary = tmp_path / "Data_Entry_2017.csv"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00\x00garbage")
    with pytest.raises(DataEntryError, match="cannot be read as a CSV"):
        read_data_entry(binary)


def test_find_data_entry_searches_the_folder_then_its_parents(tmp_path: Path) -> None:
    images = tmp_path / "nih" / "images" / "batch1"
    images.mkdir(parents=True)
    assert find_data_entry(images) is None
    old = write(tmp_path / "nih" / "Data_Entry_2017.csv", HEADER_2017)
    assert find_data_entry(images) == old.absolute()
    new = write(tmp_path / "nih" / "Data_Entry_2017_v2020.csv", HEADER_2020)
    assert find_data_entry(images) == new.absolute()  # the corrected revision wins
    nearest = write(images / "Data_Entry_2017.csv", HEADER_2017)
    assert find_data_entry(images) == nearest.absolute()  # the nearest folder wins
    png = images / "00000001_000.png"
    png.write_bytes(b"")
    assert find_data_entry(png) == nearest.absolute()


@pytest.mark.shared_data
def test_the_official_file_is_read_completely() -> None:
    csv_path = shared_path("nih-sample", "Data_Entry_2017_v2020.csv")
    assert find_data_entry(shared_path("nih-sample", "images")) == csv_path
    entries = read_data_entry(csv_path)
    assert len(entries) == 112_120
    assert len({e.patient_id for e in entries.values()}) == 30_805
    assert entries["00000001_001.png"].labels == ("Cardiomegaly", "Emphysema")
    assert sum(e.no_finding for e in entries.values()) == 60_361
    assert sum("Hernia" in e.labels for e in entries.values()) == 227
    assert all(set(e.labels) <= set(NIH_LABELS) for e in entries.values())


def test_original_sizes_and_spacings_scale_to_the_image_on_disk_per_axis(tmp_path: Path) -> None:
    csv_path = write(
        tmp_path / "Data_Entry_2017_v2020.csv",
        HEADER_2020
        + "00000001_000.png,Cardiomegaly,0,1,57,M,PA,2682,2749,0.143,0.143\n"
        + "00000002_000.png,No Finding,0,2,80,F,AP,2500,2048,0.171,0.168\n"
        + "00000003_000.png,Hernia,0,3,80,F,AP,,,,\n"  # no original recorded
        + "00000004_000.png,Hernia,0,4,80,F,AP,0,2048,nan,0.1\n"  # unusable values
        + "00000005_000.png,Hernia,0,5,80,F,AP,2048,2048,0.1,0.1\n",
    )
    originals = read_original_images(csv_path, names={"00000001_000.png", "00000002_000.png",
                                                       "00000003_000.png", "00000004_000.png"})
    assert originals == {"00000001_000.png": OriginalImage(2682, 2749, 0.143, 0.143),
                         "00000002_000.png": OriginalImage(2500, 2048, 0.171, 0.168)}
    # (row, column) spacing of the 1024 x 1024 copy: each axis scaled by its own ratio
    assert originals["00000001_000.png"].spacing_at(1024, 1024) == pytest.approx((0.143 * 2749 / 1024,
                                                                                  0.143 * 2682 / 1024))
    assert originals["00000002_000.png"].spacing_at(512, 512) == pytest.approx((0.168 * 2048 / 512,
                                                                                0.171 * 2500 / 512))
    assert originals["00000001_000.png"].spacing_at(0, 1024) is None
    assert set(read_original_images(csv_path)) == {"00000001_000.png", "00000002_000.png", "00000005_000.png"}


def test_a_data_entry_without_the_original_columns_gives_no_spacing(tmp_path: Path) -> None:
    csv_path = write(tmp_path / "Data_Entry_2017.csv",
                     "Image Index,Finding Labels,Patient ID\n00000001_000.png,Hernia,1\n")
    assert read_original_images(csv_path) == {}
    with pytest.raises(DataEntryError):
        read_original_images(tmp_path / "missing.csv")


@pytest.mark.shared_data
def test_the_official_file_gives_every_original_size() -> None:
    csv_path = shared_path("nih-sample", "Data_Entry_2017_v2020.csv")
    originals = read_original_images(csv_path)
    assert len(originals) == 112_120
    assert originals["00000001_000.png"] == OriginalImage(2682, 2749, pytest.approx(0.143), pytest.approx(0.143))
