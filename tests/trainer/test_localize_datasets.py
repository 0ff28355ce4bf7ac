"""Localisation on RSNA Pneumonia's and VinDr-CXR's boxes: each in its own pixel space (RSNA's in
1024 px, VinDr's in each image's own, scaled to 1024 from its size), per-radiologist boxes, a
box of two findings, and ``cxr-train report`` on generated images finding the box file itself."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.factories import make_model_pair
from tests.trainer.synthetic import make_dataset
from tests.trainer.test_localize import block_map
from trainer.cli import main
from trainer.evaluation import localize
from trainer.evaluation.localize import evaluate_localization
from viewer.core.boxes import BoxTable

RSNA_CSV = ("patientId,x,y,width,height,Target\n"
            "p1,100,200,200,200,1\n"
            "p1,600,600,100,100,1\n"
            "p2,,,,,0\n"
            "p3,0,0,100,100,1\n")


def test_rsna_boxes_scored_in_their_1024_space(tmp_path: Path) -> None:
    (tmp_path / "stage_2_train_labels.csv").write_text(RSNA_CSV, encoding="utf-8")
    boxes = BoxTable.load(tmp_path / "stage_2_train_labels.csv")
    maps = np.zeros((3, 2, 1024, 1024), np.float32)
    maps[0, 1] = block_map(1024, 1024, (100, 200, 200, 200))  # the first box exactly, not the second
    maps[2, 1] = block_map(1024, 1024, (0, 0, 100, 100))
    section = evaluate_localization(["p1.dcm", "p2.dcm", "p3.dcm"], maps, ("Effusion", "Pneumonia"), boxes)

    pneumonia = section["per_label"]["Pneumonia"]
    assert set(section["per_label"]) == {"Pneumonia"} and section["images_with_boxes"] == 2  # p2: Target 0
    assert (pneumonia["boxes"], pneumonia["pairs"]) == (3, 2)
    assert pneumonia["accuracy"]["iobb"]["0.5"] == pytest.approx(2 / 3, abs=1e-4)
    assert pneumonia["pointing"] == {"hits": 2, "pairs": 2, "rate": 1.0}
    assert section["box_format"] == "rsna" and section["box_dataset"] == "RSNA Pneumonia"
    assert section["pairs_detail"][0]["gt_boxes"] == [[100, 200, 200, 200], [600, 600, 100, 100]]

    text = localize.markdown(section)
    assert "| Pneumonia | 3 | 0.67 (2/3) |" in text and "Wang |" not in text  # NIH's published table: not here
    assert "Boxes of RSNA Pneumonia" in text
    without = evaluate_localization(["p1.dcm"], maps[:1, :1], ("Effusion",), boxes)
    assert without["boxes_without_model_output"] == {"Pneumonia": 2} and without["all"]["boxes"] == 0


VINDR_CSV = ("image_id,class_name,class_id,rad_id,x_min,y_min,x_max,y_max\n"
             "wide,Nodule/Mass,8,R8,1000,625,1500,1250\n"  # (512, 256, 256, 256) in 1024 px
             "wide,Nodule/Mass,8,R9,1000,625,1500,1250\n"
             "wide,Pleural effusion,10,R8,0,0,200,250\n"
             "wide,Aortic enlargement,0,R10,10,10,20,20\n"
             "clear,No finding,14,R1,,,,\n")


def test_vindr_boxes_are_scaled_from_each_images_size(tmp_path: Path) -> None:
    (tmp_path / "train.csv").write_text(VINDR_CSV, encoding="utf-8")
    boxes = BoxTable.load(tmp_path / "train.csv")
    labels = ("Effusion", "Mass", "Nodule")
    maps = np.zeros((2, 3, 1024, 1024), np.float32)
    maps[0, 1] = block_map(1024, 1024, (512, 256, 256, 256))  # Mass: the Nodule/Mass box exactly
    maps[0, 2] = block_map(1024, 1024, (0, 0, 100, 100))  # Nodule: elsewhere
    names, sizes = ["wide.dicom", "clear.dicom"], [(2000, 2500), (3000, 3000)]
    with pytest.raises(ValueError, match="image sizes"):
        evaluate_localization(names, maps, labels, boxes)
    section = evaluate_localization(names, maps, labels, boxes, sizes)

    per_label = section["per_label"]
    assert set(per_label) == {"Effusion", "Mass", "Nodule"}  # Nodule/Mass: a box of each
    assert per_label["Mass"]["boxes"] == per_label["Nodule"]["boxes"] == 2  # both radiologists' boxes
    assert per_label["Mass"]["accuracy"]["iou"]["0.7"] == 1.0 and per_label["Nodule"]["accuracy"]["iobb"]["0.1"] == 0
    assert section["boxes_without_model_output"] == {"Aortic enlargement": 1}
    (effusion,) = [p for p in section["pairs_detail"] if p["label"] == "Effusion"]
    assert effusion["gt_boxes"] == [[0, 0, 102.4, 102.4]]  # 200 x 250 px of a 2000 x 2500 image
    assert "scaled to it from each image's own pixels" in section["protocol"]


def test_report_on_generated_images_with_a_vindr_box_file(tmp_path: Path) -> None:
    """The report finds train.csv beside the images and scales VinDr's boxes by each image's size
    as read (a 96 x 64 image here), not by the 1024 px of NIH's."""
    data = make_dataset(tmp_path / "data", patients=3, per_patient=1)
    wide = np.full((64, 96), 120, np.uint8)
    cv2.imwrite(str(data / "images" / "00000001_000.png"), wide)
    (data / "train.csv").write_text(
        "image_id,rad_id,class_name,x_min,y_min,x_max,y_max\n"
        "00000001_000,R8,Nodule/Mass,48,16,72,48\n"
        "00000001_000,R9,Pleural effusion,0,0,12,8\n"
        "00000002_000,R1,No finding,,,,\n", encoding="utf-8")
    model = make_model_pair(tmp_path / "models")
    out = tmp_path / "report"
    # NIH's labels with VinDr-CXR's box format beside them: which labels the report reads is said
    assert main(["report", "--model", str(model), "--data", str(data), "--dataset", "nih", "--out", str(out),
                 "--bootstrap", "5", "--threads", "1"]) == 0

    loc = json.loads((out / "report.json").read_text(encoding="utf-8"))["localization"]
    assert loc["box_format"] == "vindr" and Path(loc["box_source"]) == data / "train.csv"
    assert set(loc["per_label"]) == {"Effusion", "Mass", "Nodule"} and loc["images_with_boxes"] == 1
    gt = {p["label"]: p["gt_boxes"] for p in loc["pairs_detail"]}
    assert gt["Nodule"] == gt["Mass"] == [[512.0, 256.0, 256.0, 512.0]]  # x * 1024/96, y * 1024/64
    assert gt["Effusion"] == [[0.0, 0.0, 128.0, 128.0]]
    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert "## Localisation (train.csv, Wang et al. 2017's protocol)" in markdown
    assert "Boxes of VinDr-CXR" in markdown
