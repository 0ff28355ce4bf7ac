"""Ground-truth boxes (BBox_List_2017.csv) on an NIH image: which finding each box belongs to,
for the agreement read-out and for the highlight, by the one label rule of viewer.core.labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from tests.factories import make_model_pair
from tests.ui.conftest import wait_for_findings
from tests.ui.images import chest_png
from viewer.ui.canvas import as_uint8_view
from viewer.ui.main_window import MainWindow

# A model whose card spells its labels its own way (not the NIH file's Pleural_Thickening).
MODEL_LABELS = ("Infiltration", "Pleural Thickening", "Mass")
BOXES = {  # BBox_List label -> box (x, y, w, h) in the file's 1024-pixel space
    "Infiltrate": (100, 100, 300, 300),
    "Pleural Thickening": (600, 600, 300, 300),
    "Nodule": (600, 100, 250, 250),  # a finding the model does not have
}


def _nih_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "nih"
    chest_png(folder / "00000001_000.png", seed=4, size=256)
    rows = "".join(f"00000001_000.png,{label},{x},{y},{w},{h}\n" for label, (x, y, w, h) in BOXES.items())
    (folder / "BBox_List_2017.csv").write_text("Image Index,Finding Label,Bbox [x,y,w,h],,,\n" + rows)
    return folder


def _edge_colours(window: MainWindow) -> dict[str, str]:
    """'green' (highlighted) or 'yellow' for each box on the canvas, from the pixels of its left edge."""
    QApplication.processEvents()
    pixels = as_uint8_view(window.canvas.grab().toImage()).astype(np.int32)
    colours = {}
    for box in window.canvas.boxes:
        samples = []
        for t in np.linspace(0.3, 0.9, 25):
            p = window.canvas.image_to_widget(box.x, box.y + t * box.h)
            samples.append(pixels[int(round(p.y())), int(round(p.x())) - 1: int(round(p.x())) + 2, :3].reshape(-1, 3))
        rgb = np.concatenate(samples)  # the channel order of the grab does not matter for G
        green = ((rgb[:, 1] > 200) & (np.minimum(rgb[:, 0], rgb[:, 2]) < 80) & (np.maximum(rgb[:, 0], rgb[:, 2]) > 80))
        yellow = (rgb[:, 1] > 150) & (np.maximum(rgb[:, 0], rgb[:, 2]) > 200) & (np.minimum(rgb[:, 0], rgb[:, 2]) < 60)
        colours[box.label] = "green" if green.sum() > yellow.sum() else "yellow"
    return colours


def _click_finding(qtbot, window: MainWindow, label: str) -> None:
    rect = window.findings.row_rect(label)
    assert rect.isValid(), f"{label} is not in the findings list"
    qtbot.mouseClick(window.findings.list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def test_boxes_belong_to_the_models_findings_however_it_spells_them(qtbot, make_window, tmp_path: Path) -> None:
    model = make_model_pair(tmp_path / "model", labels=MODEL_LABELS)
    window = make_window(model)
    window.open_path(_nih_folder(tmp_path) / "00000001_000.png")
    wait_for_findings(qtbot, window)
    assert sorted(b.label for b in window.canvas.boxes) == ["Infiltration", "Nodule", "Pleural_Thickening"]

    # The agreement read-out: a box per model finding it belongs to (the alias and the spelling).
    agreements = window.image.analysed.agreements
    assert sorted(agreements) == ["Infiltration", "Pleural Thickening"]
    assert all(len(v) == 1 for v in agreements.values())

    # The highlight: the shown finding's box is drawn green, the others yellow.
    window.act_heatmap.trigger()  # hide the heatmap so that only the boxes are coloured
    assert not window.canvas.heatmap_visible
    expected = {
        "Pleural Thickening": {"Infiltration": "yellow", "Pleural_Thickening": "green", "Nodule": "yellow"},
        "Infiltration": {"Infiltration": "green", "Pleural_Thickening": "yellow", "Nodule": "yellow"},
        "Mass": {"Infiltration": "yellow", "Pleural_Thickening": "yellow", "Nodule": "yellow"},
    }
    for finding, colours in expected.items():
        _click_finding(qtbot, window, finding)
        assert window.image.selected_label == finding
        assert _edge_colours(window) == colours, finding
