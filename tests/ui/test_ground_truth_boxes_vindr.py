"""VinDr-CXR's boxes on its DICOM, as a user sees them: open the folder (train.csv beside train/),
click a finding, and each radiologist's box of it is drawn, highlighted, where the file puts it
in the image's own pixels; a Nodule/Mass box answers to Nodule and to Mass. A malformed box file
is one line in the errors panel, and the image still opens."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from tests.core.chest_phantom import chest_phantom
from tests.factories import make_model_pair
from tests.ui.conftest import wait_for_findings, wait_for_image
from tests.ui.images import write_dicom
from viewer.ui.canvas import as_uint8_view
from viewer.ui.main_window import MainWindow

MODEL_LABELS = ("Effusion", "Nodule", "Mass")
IMAGE_ID = "9a5094b2563a1ef3ff50dc5c7ff71345"
WIDTH, HEIGHT = 320, 256  # not 1024, not square: a 1024-space reading would put every box elsewhere
ROWS = [  # class_name, rad_id, (x_min, y_min, x_max, y_max) in the DICOM's pixels
    ("Pleural effusion", "R8", (20, 150, 90, 230)),
    ("Pleural effusion", "R9", (110, 160, 170, 235)),
    ("Nodule/Mass", "R8", (200, 40, 240, 80)),
    ("Aortic enlargement", "R10", (130, 30, 180, 90)),
]


def _vindr_folder(tmp_path: Path, rows: list[str] | None = None) -> Path:
    root = tmp_path / "vinbigdata"
    grey = cv2.resize(chest_phantom(np.random.default_rng(5), 256), (WIDTH, HEIGHT))
    write_dicom(root / "train" / f"{IMAGE_ID}.dicom", np.rint(grey * 4095))
    if rows is None:
        rows = [f"{IMAGE_ID},{name},0,{rad},{x0},{y0},{x1},{y1}" for name, rad, (x0, y0, x1, y1) in ROWS]
        rows.append("050a418190bc3fb1ef1633bf96789299,No finding,14,R11,,,,")
    (root / "train.csv").write_text("image_id,class_name,class_id,rad_id,x_min,y_min,x_max,y_max\n"
                                    + "".join(r + "\n" for r in rows), encoding="utf-8")
    return root / "train"


def _edge_colour(window: MainWindow, pixels: np.ndarray, box) -> str:
    """'green' (highlighted), 'yellow' or 'none' along the box's left edge as drawn on screen."""
    greens = yellows = 0
    for t in np.linspace(0.3, 0.9, 25):
        p = window.canvas.image_to_widget(box.x, box.y + t * box.h)
        rgb = pixels[int(round(p.y())), int(round(p.x())) - 1: int(round(p.x())) + 2, :3].reshape(-1, 3)
        low, high = np.minimum(rgb[:, 0], rgb[:, 2]), np.maximum(rgb[:, 0], rgb[:, 2])  # R/B order: either
        greens += bool(((rgb[:, 1] > 220) & (low < 60) & (high > 80) & (high < 180)).any())  # (0, 255, 120)
        yellows += bool(((rgb[:, 1] > 170) & (rgb[:, 1] < 240) & (low < 60) & (high > 220)).any())  # (255, 210, 0)
    # dashed (not highlighted) edges show colour on about half their length
    return "green" if greens >= 20 else "yellow" if yellows >= 8 else "none"


def _colours(window: MainWindow) -> dict[str, str]:
    QApplication.processEvents()
    pixels = as_uint8_view(window.canvas.grab().toImage()).astype(np.int32)
    return {box.caption: _edge_colour(window, pixels, box) for box in window.canvas.boxes}


def _click_finding(qtbot, window: MainWindow, label: str) -> None:
    rect = window.findings.row_rect(label)
    assert rect.isValid(), f"{label} is not in the findings list"
    qtbot.mouseClick(window.findings.list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def test_vindr_boxes_drawn_in_the_dicoms_pixels_per_radiologist(qtbot, make_window, tmp_path: Path,
                                                                  screenshot) -> None:
    window = make_window(make_model_pair(tmp_path / "model", labels=MODEL_LABELS))
    window.open_path(_vindr_folder(tmp_path))
    wait_for_findings(qtbot, window)
    assert (window.canvas.radiograph.width, window.canvas.radiograph.height) == (WIDTH, HEIGHT)

    # where the file puts them: the DICOM's own pixels, corners made (x, y, w, h), no 1024 scaling
    drawn = {b.caption: (b.x, b.y, b.w, b.h) for b in window.canvas.boxes}
    assert drawn == {f"{'Effusion' if name == 'Pleural effusion' else name} ({rad})": (x0, y0, x1 - x0, y1 - y0)
                     for name, rad, (x0, y0, x1, y1) in ROWS}
    agreements = window.image.analysed.agreements
    assert {k: len(v) for k, v in agreements.items()} == {"Effusion": 2, "Nodule": 1, "Mass": 1}

    window.act_heatmap.trigger()  # hide the heatmap so that only the boxes are coloured
    expected = {
        "Effusion": {"Effusion (R8)": "green", "Effusion (R9)": "green", "Nodule/Mass (R8)": "yellow",
                     "Aortic enlargement (R10)": "yellow"},
        "Nodule": {"Effusion (R8)": "yellow", "Effusion (R9)": "yellow", "Nodule/Mass (R8)": "green",
                   "Aortic enlargement (R10)": "yellow"},
        "Mass": {"Effusion (R8)": "yellow", "Effusion (R9)": "yellow", "Nodule/Mass (R8)": "green",
                 "Aortic enlargement (R10)": "yellow"},
    }
    for finding, colours in expected.items():
        _click_finding(qtbot, window, finding)
        assert window.image.selected_label == finding
        assert _colours(window) == colours, finding
        assert "Ground-truth box (VinDr-CXR): IoBB" in window.findings.details.toPlainText(), finding

    _click_finding(qtbot, window, "Effusion")
    window.act_heatmap.trigger()  # the map again, as a user looks at it
    screenshot(window, "vindr-boxes")  # $CXR_UI_SCREENSHOTS: to look at it


def test_a_malformed_vindr_file_is_reported_and_the_image_still_opens(qtbot, make_window, tmp_path: Path) -> None:
    window = make_window(None)
    folder = _vindr_folder(tmp_path, rows=[f"{IMAGE_ID},Cardiomegaly,3,R10,691.0,1375.0,oops,1831.0"])
    window.open_path(folder)
    wait_for_image(qtbot, window)
    qtbot.waitUntil(lambda: any(name.endswith("train.csv") for name, _ in window.errors.entries()), timeout=10_000)
    (reason,) = [reason for name, reason in window.errors.entries() if name.endswith("train.csv")]
    assert "ground-truth boxes not shown" in reason and "line 2" in reason
    assert window.canvas.radiograph is not None and window.canvas.boxes == []


def test_vindr_boxes_on_a_resized_copy_are_not_drawn_misplaced(qtbot, make_window, tmp_path: Path) -> None:
    folder = _vindr_folder(tmp_path)
    (folder / f"{IMAGE_ID}.dicom").unlink()
    half = cv2.resize(chest_phantom(np.random.default_rng(5), 256), (WIDTH // 2, HEIGHT // 2))
    cv2.imwrite(str(folder / f"{IMAGE_ID}.png"), np.rint(half * 255).astype(np.uint8))  # the boxes reach beyond it
    window = make_window(None)
    window.open_path(folder)
    wait_for_image(qtbot, window)
    qtbot.waitUntil(lambda: any(name.endswith("train.csv") for name, _ in window.errors.entries()), timeout=10_000)
    (reason,) = [reason for name, reason in window.errors.entries() if name.endswith("train.csv")]
    assert "beyond its 160 x 128 px" in reason and "original" in reason
    assert window.canvas.radiograph is not None and window.canvas.boxes == []
