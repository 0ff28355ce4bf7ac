"""trainer.evaluation.localize: Wang et al.'s accuracy, false positives and the pointing game on maps whose
boxes are known exactly, through the viewer's own heatmap-to-box function."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from trainer.evaluation import localize
from trainer.evaluation.localize import WANG_2017, evaluate_localization, localize_pair
from viewer.core.boxes import BoxTable
from viewer.core.heatmap import WANG_THRESHOLDS, Box, heatmap_boxes, normalize_to_uint8, upsample


def block_map(height: int, width: int, *blocks: tuple[int, int, int, int]) -> np.ndarray:
    """Zeros with ones in each (x, y, w, h) block: at full size, the boxes are exactly the blocks."""
    heatmap = np.zeros((height, width), np.float32)
    for x, y, w, h in blocks:
        heatmap[y:y + h, x:x + w] = 1.0
    return heatmap


def test_a_box_half_inside_has_the_iobb_and_iou_it_should() -> None:
    # detected (20, 30, 20, 20) vs truth (10, 30, 20, 20): overlap 10 x 20 = 200 of 400 -> IoBB 0.5, IoU 1/3
    pair = localize_pair("a.png", "Mass", block_map(100, 100, (20, 30, 20, 20)), [Box(10, 30, 20, 20)], (100, 100))

    assert pair.detected == (Box(20, 30, 20, 20),)  # found at 60 and at 180: counted once
    assert pair.iobb[0, 0] == pytest.approx(0.5) and pair.iou[0, 0] == pytest.approx(1 / 3)
    assert pair.localized("iobb", 0.25) == [True] and pair.localized("iobb", 0.5) == [False]  # IoBB > T, strictly
    assert pair.localized("iou", 0.25) == [True] and pair.localized("iou", 0.5) == [False]
    assert pair.false_positives("iobb", 0.25) == 0 and pair.false_positives("iobb", 0.5) == 1
    assert pair.pointing_hit  # the first maximum, pixel (20, 30), has its centre inside the truth


def test_a_map_elsewhere_misses_everything() -> None:
    pair = localize_pair("a.png", "Mass", block_map(100, 100, (70, 70, 10, 10)), [Box(0, 0, 30, 30)], (100, 100))
    assert pair.localized("iobb", 0.1) == [False] and pair.localized("iou", 0.1) == [False]
    assert not pair.pointing_hit and pair.false_positives("iobb", 0.1) == 1


def test_two_regions_one_right_one_false() -> None:
    heatmap = block_map(100, 100, (10, 10, 20, 20), (60, 60, 10, 10))
    pair = localize_pair("a.png", "Nodule", heatmap, [Box(10, 10, 20, 20)], (100, 100))
    assert set(pair.detected) == {Box(10, 10, 20, 20), Box(60, 60, 10, 10)}
    assert pair.localized("iobb", 0.9) == [True] and pair.false_positives("iobb", 0.9) == 1


def test_a_flat_map_points_nowhere_and_detects_nothing() -> None:
    pair = localize_pair("a.png", "Mass", np.zeros((7, 7), np.float32), [Box(0, 0, 500, 500)])
    assert pair.detected == () and not pair.pointing_hit and pair.localized("iobb", 0.1) == [False]
    assert pair.false_positives("iou", 0.1) == 0
    assert localize.summarize([pair])["all"]["empty_maps"] == 1


def test_boxes_come_from_the_viewers_function_at_1024_pixels() -> None:
    heatmap = np.random.default_rng(3).random((7, 7)).astype(np.float32)
    pair = localize_pair("a.png", "Mass", heatmap, [Box(100, 100, 300, 300)])  # default: Wang's 1024 space
    shown = normalize_to_uint8(upsample(heatmap, 1024, 1024))
    expected = [b for t in WANG_THRESHOLDS for b in heatmap_boxes(shown, t)]
    assert list(pair.detected) == list(dict.fromkeys(expected))


def test_the_peak_of_a_coarse_map_lands_where_its_cell_is() -> None:
    heatmap = np.zeros((7, 7), np.float32)
    heatmap[2, 5] = 1.0  # the cell's centre in 1024 px: (5.5 * 1024/7, 2.5 * 1024/7) = (804.6, 365.7)
    assert localize_pair("a.png", "Mass", heatmap, [Box(780, 340, 50, 50)]).pointing_hit
    assert not localize_pair("a.png", "Mass", heatmap, [Box(100, 340, 50, 50)]).pointing_hit


BBOX_CSV = (
    "Image Index,Finding Label,Bbox [x,y,w,h],,,\n"
    "img1.png,Atelectasis,100,100,200,200\n"
    "img1.png,Infiltrate,600,600,100,100\n"
    "img2.png,Atelectasis,0,0,100,100\n"
    "img2.png,Effusion,500,500,50,50\n"
    "img3.png,Atelectasis,0,0,100,100\n"
)


def test_per_finding_accuracy_false_positives_and_pointing(tmp_path: Path) -> None:
    (tmp_path / "BBox_List_2017.csv").write_text(BBOX_CSV, encoding="utf-8")
    boxes = BoxTable.load(tmp_path / "BBox_List_2017.csv")
    labels = ("Atelectasis", "Infiltration")  # no Effusion output: its box is counted as left out
    maps = np.zeros((2, 2, 1024, 1024), np.float32)  # at 1024 px already, so the boxes are the blocks
    maps[0, 0] = block_map(1024, 1024, (100, 200, 200, 200))  # IoBB 0.5, IoU 1/3, peak inside
    maps[0, 1] = block_map(1024, 1024, (600, 600, 100, 100))  # the box itself
    maps[1, 0] = block_map(1024, 1024, (800, 800, 100, 100))  # elsewhere
    section = evaluate_localization(["img1.png", "img2.png"], maps, labels, boxes)  # img3 is not evaluated

    atelectasis, infiltration = section["per_label"]["Atelectasis"], section["per_label"]["Infiltration"]
    assert (atelectasis["boxes"], atelectasis["pairs"], infiltration["boxes"]) == (2, 2, 1)
    assert atelectasis["accuracy"]["iobb"] == {"0.1": 0.5, "0.25": 0.5, "0.5": 0.0, "0.75": 0.0, "0.9": 0.0}
    assert atelectasis["accuracy"]["iou"]["0.25"] == 0.5 and atelectasis["accuracy"]["iou"]["0.5"] == 0.0
    assert atelectasis["afp"]["iobb"]["0.25"] == 0.5 and atelectasis["afp"]["iobb"]["0.5"] == 1.0
    assert atelectasis["pointing"] == {"hits": 1, "pairs": 2, "rate": 0.5}
    assert infiltration["accuracy"]["iobb"]["0.9"] == 1.0 and infiltration["accuracy"]["iou"]["0.7"] == 1.0
    assert section["all"]["boxes"] == 3 and section["all"]["localized"]["iobb"]["0.25"] == 2
    assert section["boxes_without_model_output"] == {"Effusion": 1}
    assert section["images_with_boxes"] == 2 and section["all"]["empty_maps"] == 0

    text = localize.markdown(section)
    assert "| Atelectasis | 2 | 0.50 (1/2) | 0.73 |" in text  # ours beside Wang's 0.7277
    assert "n/p" in text  # Wang published no T(IoU) = 0.25
    assert "| Atelectasis | 2 | 1 | 0.50 |" in text  # pointing game row


def test_boxes_belong_to_the_outputs_however_the_card_spells_them(tmp_path: Path) -> None:
    """Box labels are NIH's (Infiltrate read as Infiltration); a card may write its labels in
    another case or with spaces: the labels rule matches them, and the section keeps NIH's names."""
    (tmp_path / "BBox_List_2017.csv").write_text(BBOX_CSV, encoding="utf-8")
    boxes = BoxTable.load(tmp_path / "BBox_List_2017.csv")
    maps = np.zeros((2, 2, 1024, 1024), np.float32)
    maps[0, 0] = block_map(1024, 1024, (100, 200, 200, 200))
    maps[0, 1] = block_map(1024, 1024, (600, 600, 100, 100))
    names = ["img1.png", "img2.png"]
    nih = evaluate_localization(names, maps, ("Atelectasis", "Infiltration"), boxes)
    own = evaluate_localization(names, maps, ("ATELECTASIS", "infiltration"), boxes)
    assert own == nih and set(own["per_label"]) == {"Atelectasis", "Infiltration"}
    assert own["boxes_without_model_output"] == {"Effusion": 1}


def test_wang_table_is_complete_and_monotone() -> None:
    # accuracy can only fall and false positives only rise as T grows: a transcription typo breaks this
    for measure in ("iobb", "iou"):
        thresholds = sorted(WANG_2017[measure])
        for label in localize.BOX_LABELS:
            acc = [WANG_2017[measure][t]["acc"][label] for t in thresholds]
            afp = [WANG_2017[measure][t]["afp"][label] for t in thresholds]
            assert all(0 <= a <= 1 for a in acc) and acc == sorted(acc, reverse=True), (measure, label)
            assert afp == sorted(afp), (measure, label)
    assert localize.wang_value("iou", 0.25, "Mass") is None and localize.wang_value("iobb", 0.1, "Nodule") == 0.1645
