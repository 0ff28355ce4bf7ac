"""VinDr-CXR's and RSNA Pneumonia's box lists beside NIH's: the header says which, each in its own
pixel space, per-radiologist boxes, rows without a box, the findings a class name means, finding
the file, and the real files of the torchxrayvision wheel counted as pandas counts them."""

from __future__ import annotations

import gzip
import importlib.resources
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from viewer.core.box_formats import NIH, RSNA, VINDR, findings_of
from viewer.core.boxes import BoxListError, BoxTable, find_bbox_csv

VINDR_HEADER = "image_id,class_name,class_id,rad_id,x_min,y_min,x_max,y_max\n"  # Kaggle's train.csv
VINDR_ROWS = [
    "aaa111,Nodule/Mass,8,R8,1000.0,1200.0,1100.0,1280.0",
    "aaa111,Nodule/Mass,8,R9,1010.0,1190.0,1105.0,1290.0",
    "aaa111,Pleural effusion,10,R8,200,2000,700,2300",
    "aaa111,Aortic enlargement,0,R10,1264.0,743.0,1611.0,1019.0",
    "bbb222,No finding,14,R11,,,,",
    "bbb222,No finding,14,R7,,,,",
    "ccc333,Cardiomegaly,3,R10,691.0,1375.0,1653.0,1831.0",
]
RSNA_HEADER = "patientId,x,y,width,height,Target\n"
RSNA_ROWS = [
    "0004cfab-14fd-4e49-80ba-63a80b6bddd6,,,,,0",
    "00436515-870c-4b36-a041-de91049b9ab4,264.0,152.0,213.0,379.0,1",
    "00436515-870c-4b36-a041-de91049b9ab4,562.0,152.0,256.0,453.0,1",
]


def write(folder: Path, name: str, header: str, rows: list[str]) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + "".join(r + "\n" for r in rows), encoding="utf-8")
    return path


# -- VinDr-CXR ----------------------------------------------------------------------------------
def test_vindr_header_is_recognised_and_boxes_stay_in_the_originals_pixels(tmp_path):
    table = BoxTable.load(write(tmp_path, "train.csv", VINDR_HEADER, VINDR_ROWS))
    assert table.format is VINDR and table.in_image_pixels
    assert len(table) == 2 and table.box_count == 5  # the "No finding" image has no box
    # a 2400 x 2800 original, as opened: corners become (x, y, w, h) unscaled (no 1024 space)
    (heart,) = table.for_image("ccc333.dicom", 2400, 2800)
    assert (heart.label, heart.x, heart.y, heart.w, heart.h) == ("Cardiomegaly", 691, 1375, 962, 456)
    assert heart.reader == "R10" and heart.caption == "Cardiomegaly (R10)" and heart.source == "VinDr-CXR"
    # shown smaller than the original, whose size the caller knows: scaled from it
    (half,) = table.for_image("ccc333.dicom", 1200, 1400, original=(2400, 2800))
    assert (half.x, half.y, half.w, half.h) == (345.5, 687.5, 481, 228)


def test_vindr_boxes_beyond_the_image_mean_a_resized_copy(tmp_path):
    table = BoxTable.load(write(tmp_path, "train.csv", VINDR_HEADER, VINDR_ROWS))
    assert len(table.for_image("ccc333.png", 1653, 1831)) == 1  # the box reaches the corner: it fits
    with pytest.raises(BoxListError, match=r"ccc333.png reach 1653 x 1831 px, beyond its 1024 x 1024 px") as caught:
        table.for_image("ccc333.png", 1024, 1024)  # a downsampled PNG of the original
    assert str(caught.value).startswith(str(tmp_path / "train.csv")) and "original DICOMs" in str(caught.value)
    with pytest.raises(BoxListError, match="beyond its 1000 x 1000 px"):
        table.for_image("ccc333.png", 1024, 1024, original=(1000, 1000))  # the size the caller says, too
    assert table.for_image("bbb222.png", 64, 64) == []


def test_vindr_images_are_found_by_their_stem(tmp_path):
    table = BoxTable.load(write(tmp_path, "train.csv", VINDR_HEADER, VINDR_ROWS))
    for name in ("ccc333", "ccc333.dicom", "ccc333.png", "ccc333.jpg", tmp_path / "train" / "ccc333.dicom"):
        assert name in table and len(table.for_image(name, 3000, 3000)) == 1, name
    assert "bbb222.dicom" not in table and table.for_image("bbb222.dicom", 3000, 3000) == []
    assert "ccc33.dicom" not in table


def test_each_radiologists_box_is_kept_with_its_label(tmp_path):
    table = BoxTable.load(write(tmp_path, "train.csv", VINDR_HEADER, VINDR_ROWS))
    boxes = table.for_image("aaa111.dicom", 3000, 3000)
    assert [b.caption for b in boxes] == ["Nodule/Mass (R8)", "Nodule/Mass (R9)", "Effusion (R8)",
                                          "Aortic enlargement (R10)"]
    assert table.labels_for("aaa111.dicom") == ("Nodule/Mass", "Effusion", "Aortic enlargement")
    nodule_mass = boxes[0]
    assert nodule_mass.shows("Nodule") and nodule_mass.shows("mass") and not nodule_mass.shows("Effusion")
    assert nodule_mass.outputs(("Effusion", "Mass", "Nodule")) == {"Nodule": "Nodule", "Mass": "Mass"}
    assert boxes[2].shows("Effusion") and boxes[2].outputs(("effusion",)) == {"effusion": "Effusion"}
    assert boxes[3].outputs(("Effusion", "Mass", "Nodule")) == {}


def test_vindr_physionet_layout_without_rad_id_in_its_own_column_order(tmp_path):
    path = write(tmp_path, "annotations_test.csv", "image_id,x_min,y_min,x_max,y_max,class_name\n",
                 ["ddd444,10,20,110,220,Pneumothorax", "ddd444,,,,,No finding", "eee555,,,,,Other disease"])
    table = BoxTable.load(path)
    (box,) = table.for_image("ddd444.dicom", 500, 500)
    assert (box.label, box.reader, box.caption, tuple(box.box)) == ("Pneumothorax", "", "Pneumothorax",
                                                                    (10, 20, 100, 200))
    assert "eee555" not in table  # an image-level label without coordinates: no box


@pytest.mark.parametrize(("name", "findings"), [
    ("Pleural effusion", ("Effusion",)), ("Nodule/Mass", ("Nodule", "Mass")), ("Pulmonary fibrosis", ("Fibrosis",)),
    ("Pleural thickening", ("Pleural_Thickening",)), ("Infiltration", ("Infiltration",)),
    ("Aortic enlargement", ()), ("Lung Opacity", ()), ("Other lesion", ()), ("ILD", ()),
])
def test_vindr_class_names_mean_nih_findings(name, findings):
    assert findings_of(name) == findings


# -- RSNA Pneumonia -----------------------------------------------------------------------------
def test_rsna_boxes_are_in_1024_pixels_and_target_0_has_none(tmp_path):
    table = BoxTable.load(write(tmp_path, "stage_2_train_labels.csv", RSNA_HEADER, RSNA_ROWS))
    assert table.format is RSNA and not table.in_image_pixels
    assert len(table) == 1 and table.box_count == 2
    assert "0004cfab-14fd-4e49-80ba-63a80b6bddd6.dcm" not in table
    name = "00436515-870c-4b36-a041-de91049b9ab4.dcm"
    first, second = table.for_image(name, 1024, 1024)  # the DICOM itself: its own pixels
    assert (first.label, tuple(first.box), tuple(second.box)) == ("Pneumonia", (264, 152, 213, 379),
                                                                  (562, 152, 256, 453))
    assert first.shows("Pneumonia") and first.source == "RSNA Pneumonia"
    (small, _) = table.for_image(name, 512, 512)  # a downsampled copy
    assert tuple(small.box) == (132, 76, 106.5, 189.5)


# -- bad files ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "header", "rows", "message"), [
    ("train.csv", VINDR_HEADER, ["aaa,Cardiomegaly,3,R1,1,2,x,4"], "line 2: box"),
    ("train.csv", VINDR_HEADER, ["aaa,Cardiomegaly,3,R1,1,2,,4"], "line 2: box"),
    ("train.csv", VINDR_HEADER, ["aaa,Cardiomegaly,3,R1,10,2,5,4"], "line 2: 'aaa' has an empty or invalid box"),
    ("train.csv", VINDR_HEADER, ["aaa,Cardiomegaly,3"], "line 2 has 3 fields"),
    ("stage_2_train_labels.csv", RSNA_HEADER, ["p1,,,,,0", "p2,1,2,3,4,2"], "line 3: Target is '2'"),
    ("stage_2_train_labels.csv", RSNA_HEADER, ["p1,,,,,1"], "line 2: box"),
    ("stage_2_train_labels.csv", RSNA_HEADER, ["p1,1,2,0,4,1"], r"line 2: has an empty or invalid box \[1.0, 2.0"),
    ("annotations_train.csv", "image_id,rad_id,class_name\n", ["a,R1,Mass"], "nor a VinDr-CXR or RSNA box list"),
])
def test_a_malformed_box_file_is_one_error_naming_it(tmp_path, name, header, rows, message):
    path = write(tmp_path, name, header, rows)
    with pytest.raises(BoxListError, match=message) as caught:
        BoxTable.load(path)
    assert str(caught.value).startswith(str(path)) and "\n" not in str(caught.value)


# -- finding the file ---------------------------------------------------------------------------
def outside(found: Path | None, root: Path) -> bool:
    """None, or a file above the test's folder (a stray one in /tmp is none of the test's)."""
    return found is None or root not in found.parents
def test_find_each_datasets_file_beside_or_above_the_images(tmp_path):
    rsna = tmp_path / "rsna"
    (rsna / "stage_2_train_images").mkdir(parents=True)
    assert outside(find_bbox_csv(rsna / "stage_2_train_images"), tmp_path)
    stage1 = write(rsna, "stage_1_train_labels.csv", RSNA_HEADER, RSNA_ROWS)
    assert find_bbox_csv(rsna / "stage_2_train_images") == stage1
    stage2 = write(rsna, "stage_2_train_labels.csv", RSNA_HEADER, RSNA_ROWS)
    assert find_bbox_csv(rsna / "stage_2_train_images") == stage2

    physionet = tmp_path / "vindr-cxr" / "1.0.0"
    (physionet / "train").mkdir(parents=True)
    (physionet / "test").mkdir()
    train = write(physionet / "annotations", "annotations_train.csv", VINDR_HEADER, VINDR_ROWS)
    test = write(physionet / "annotations", "annotations_test.csv", VINDR_HEADER, VINDR_ROWS)
    assert find_bbox_csv(physionet / "train") == train
    assert find_bbox_csv(physionet / "test") == test  # each split's images, their own annotations
    assert find_bbox_csv(physionet / "test" / "x.dicom") == test


def test_a_train_csv_counts_only_with_vindrs_header(tmp_path):
    chexpert = tmp_path / "CheXpert-v1.0-small"
    write(chexpert, "train.csv", "Path,Sex,Age,Frontal/Lateral,AP/PA,No Finding\n", ["train/p1/s1/v1.jpg,F,50,,,1"])
    (chexpert / "train").mkdir()
    assert outside(find_bbox_csv(chexpert / "train"), tmp_path)
    nih = write(tmp_path, "BBox_List_2017.csv", "Image Index,Finding Label,Bbox [x,y,w,h],,,\n", [])
    assert find_bbox_csv(chexpert / "train") == nih  # CheXpert's train.csv is passed over, not an error
    kaggle = tmp_path / "vinbigdata"
    (kaggle / "train").mkdir(parents=True)
    vindr = write(kaggle, "train.csv", VINDR_HEADER, VINDR_ROWS)
    assert find_bbox_csv(kaggle / "train") == vindr
    assert BoxTable.load(nih).format is NIH


# -- the real files -----------------------------------------------------------------------------
def _wheel_file(name: str) -> Path:
    return Path(str(importlib.resources.files("torchxrayvision") / "data" / name))


def test_the_real_vindr_file_counts_as_pandas_counts(tmp_path):
    source = _wheel_file("vinbigdata-train.csv.gz")
    path = tmp_path / "train.csv"
    path.write_bytes(gzip.decompress(source.read_bytes()))
    assert find_bbox_csv(tmp_path / "train") == path
    table = BoxTable.load(path)

    frame = pd.read_csv(path)
    boxed = frame[frame["class_name"] != "No finding"]
    assert boxed[["x_min", "y_min", "x_max", "y_max"]].notna().all().all()
    assert table.format is VINDR and table.box_count == len(boxed) and len(table) == boxed["image_id"].nunique()
    image, rows = next(iter(boxed.groupby("image_id")))
    boxes = table.for_image(f"{image}.dicom", 4000, 4000)
    assert sorted((b.reader, b.x, b.y, b.x + b.w, b.y + b.h) for b in boxes) == sorted(
        rows[["rad_id", "x_min", "y_min", "x_max", "y_max"]].itertuples(index=False, name=None))
    label_of = {c: (findings_of(c)[0] if len(findings_of(c)) == 1 else c) for c in boxed["class_name"].unique()}
    per_class = boxed["class_name"].map(label_of)
    counted: dict[str, int] = {}
    for name in table:
        for box in table.for_image(name, 4000, 4000):
            counted[box.label] = counted.get(box.label, 0) + 1
    assert counted == per_class.value_counts().to_dict()


def test_the_real_rsna_file_counts_as_pandas_counts(tmp_path):
    path = tmp_path / "stage_2_train_labels.csv"
    with zipfile.ZipFile(_wheel_file("kaggle_stage_2_train_labels.csv.zip")) as archive:
        path.write_bytes(archive.read("stage_2_train_labels.csv"))
    table = BoxTable.load(path)
    frame = pd.read_csv(path)
    positive = frame[frame["Target"] == 1]
    assert table.format is RSNA and table.box_count == len(positive) == 9555
    assert len(table) == positive["patientId"].nunique()
    assert not any(name in table for name in frame.loc[frame["Target"] == 0, "patientId"])
