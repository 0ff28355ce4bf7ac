"""BBox_List_2017.csv: the official header's odd columns, labels, scaling, finding the file."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import shared_path
from viewer.core.boxes import BoxListError, BoxTable, find_bbox_csv, normalize_label
from viewer.core.heatmap import agreement
from viewer.core.nih import NIH_LABELS

# The official header, byte for byte: the box title split over four columns, then empty ones.
OFFICIAL_HEADER = "Image Index,Finding Label,Bbox [x,y,w,h],,,\n"


def write_csv(folder: Path, rows: list[str], header: str = OFFICIAL_HEADER, name: str = "BBox_List_2017.csv") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(header + "".join(r + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def table(tmp_path: Path) -> BoxTable:
    return BoxTable.load(write_csv(tmp_path, [
        "00000001_000.png,Infiltrate,100,200,300,400",
        "00000001_000.png,Mass,512,0,64.5,32",
        "00000002_000.png,Cardiomegaly,256,384,512,256",
        "",
    ]))


def test_reads_the_official_layout(table):
    assert len(table) == 2 and table.box_count == 3
    assert "00000001_000.png" in table and "00000003_000.png" not in table
    assert table.labels_for("00000001_000.png") == ("Infiltration", "Mass")


def test_boxes_in_1024_space_are_returned_unchanged_at_1024(table):
    (box,) = [b for b in table.for_image("00000002_000.png", 1024, 1024)]
    assert (box.label, box.x, box.y, box.w, box.h) == ("Cardiomegaly", 256, 384, 512, 256)
    assert tuple(box.box) == (256, 384, 512, 256)


def test_boxes_scale_to_the_image_size(table):
    infiltrate, mass = table.for_image("00000001_000.png", 512, 512)
    assert (infiltrate.x, infiltrate.y, infiltrate.w, infiltrate.h) == (50, 100, 150, 200)
    assert (mass.x, mass.w) == (256, 32.25)
    # a non-square image (a user's own resize) scales each axis by its own factor
    (box,) = table.for_image("00000002_000.png", 2048, 512)
    assert (box.x, box.y, box.w, box.h) == (512, 192, 1024, 128)


def test_matches_by_file_name_from_a_path(table, tmp_path):
    assert len(table.for_image(tmp_path / "images" / "00000001_000.png", 1024, 1024)) == 2
    assert len(table.for_image("some/folder/00000001_000.png", 1024, 1024)) == 2
    assert table.for_image("00000009_000.png", 1024, 1024) == []
    with pytest.raises(ValueError, match="positive"):
        table.for_image("00000001_000.png", 0, 1024)


@pytest.mark.parametrize(
    ("label", "expected"),
    [("Infiltrate", "Infiltration"), ("infiltrate ", "Infiltration"), ("Pleural Thickening", "Pleural_Thickening"),
     ("pneumothorax", "Pneumothorax"), ("Effusion", "Effusion"), ("Something New", "Something New")],
)
def test_label_normalisation(label, expected):
    assert normalize_label(label) == expected


def test_a_header_with_whole_column_names_also_reads(tmp_path):
    path = write_csv(tmp_path, ["a.png,Nodule,1,2,3,4"], header='Image Index,Finding Label,"Bbox [x",y,w,h]\n')
    assert tuple(BoxTable.load(path).for_image("a.png", 1024, 1024)[0].box) == (1, 2, 3, 4)


@pytest.mark.parametrize(
    ("header", "rows", "message"),
    [
        ("Image Index,Finding Labels,Patient ID\n", ["a.png,Mass,1"], "is not a BBox_List_2017.csv"),
        (OFFICIAL_HEADER, ["a.png,Mass,1,2"], "line 2 has 4 fields"),
        (OFFICIAL_HEADER, ["a.png,Mass,1,2,3,4", "b.png,Mass,x,2,3,4"], "line 3: box"),
        (OFFICIAL_HEADER, ["a.png,Mass,1,2,0,4"], "line 2: 'a.png' has an empty or invalid box"),
        ("", [], "is empty"),
    ],
)
def test_bad_files_are_explained_with_the_line(tmp_path, header, rows, message):
    path = write_csv(tmp_path, rows, header=header)
    with pytest.raises(BoxListError, match=message) as caught:
        BoxTable.load(path)
    assert "BBox_List_2017.csv" in str(caught.value)


def test_missing_and_binary_files(tmp_path):
    with pytest.raises(BoxListError, match="cannot be read"):
        BoxTable.load(tmp_path / "absent.csv")
    binary = tmp_path / "BBox_List_2017.csv"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00\x00")
    with pytest.raises(BoxListError):
        BoxTable.load(binary)


def test_find_bbox_csv_beside_the_images_or_above(tmp_path):
    root = tmp_path / "nih"
    images = root / "images" / "batch1"
    images.mkdir(parents=True)
    assert find_bbox_csv(images) is None or not str(find_bbox_csv(images)).startswith(str(root))
    csv_path = write_csv(root, ["a.png,Mass,1,2,3,4"])
    assert find_bbox_csv(images) == csv_path
    assert find_bbox_csv(images / "a.png") == csv_path  # a file starts at its folder
    nearer = write_csv(root / "images", ["b.png,Mass,1,2,3,4"])
    assert find_bbox_csv(images) == nearer


# -- the real file ------------------------------------------------------------------------------
@pytest.mark.shared_data
def test_the_official_file():
    folder = shared_path("nih-sample", "images")
    path = find_bbox_csv(folder)
    assert path == shared_path("nih-sample", "BBox_List_2017.csv")
    table = BoxTable.load(path)
    assert table.box_count == 984 and len(table) == 880
    labels = {label for name in table for label in table.labels_for(name)}
    assert labels == {"Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule",
                      "Pneumonia", "Pneumothorax"}
    assert labels <= set(NIH_LABELS)

    present = sorted(p for p in folder.glob("*.png") if p.name in table)
    assert len(present) == 8
    for image_path in present:
        image = cv2.imread(str(image_path), cv2.IMREAD_UNCHANGED)
        height, width = image.shape[:2]
        for gt in table.for_image(image_path, width, height):
            assert 0 <= gt.x < width and 0 <= gt.y < height
            assert gt.x + gt.w <= width + 1 and gt.y + gt.h <= height + 1


@pytest.mark.shared_data
def test_real_boxes_and_heatmaps_agree_at_any_display_size():
    """A 7x7 map hot inside a real box agrees with it on the 1024 image and on a 512 copy."""
    table = BoxTable.load(shared_path("nih-sample", "BBox_List_2017.csv"))
    name = "00013125_000.png"  # Cardiomegaly, a large box
    (gt1024,) = table.for_image(name, 1024, 1024)
    heatmap = np.zeros((7, 7), np.float32)
    heatmap[int((gt1024.y + gt1024.h / 2) / 1024 * 7), int((gt1024.x + gt1024.w / 2) / 1024 * 7)] = 1.0
    for size in (1024, 512):
        (gt,) = table.for_image(name, size, size)
        result = agreement(heatmap, gt.box, (size, size))
        assert result.pointing_hit, size
        assert result.iobb[180] > 0.9, (size, result.iobb)
