"""``run_gui`` with ``--screenshot``: the saved window shows the radiograph (the canvas region
correlates with the image as windowed), the findings table is printed, and it works without a
model. On the real NIH/DICOM files when ../shared/data is present."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import shared_path
from tests.ui.images import chest_dicom, chest_png
from viewer.ui.app import capture_screenshot, run_gui
from viewer.ui.colormaps import ALPHA_START
from viewer.ui.main_window import MainWindow
from viewer.ui.settings import AppSettings


def canvas_correlation(window: MainWindow, png: Path, canvas_rect) -> tuple[float, np.ndarray]:
    """Pearson r between the saved canvas and the radiograph as windowed, over the image area
    where no heatmap colour is drawn (the whole image area when no heatmap is shown)."""
    shot = cv2.imread(str(png), cv2.IMREAD_COLOR)
    assert shot is not None, f"{png} is not a readable PNG"
    canvas = window.canvas
    rg = canvas.radiograph
    a, b = canvas.image_to_widget(0, 0), canvas.image_to_widget(rg.width, rg.height)
    x0, y0 = max(int(np.ceil(min(a.x(), b.x()))) + 1, 0), max(int(np.ceil(min(a.y(), b.y()))) + 1, 0)
    x1 = min(int(max(a.x(), b.x())) - 1, canvas_rect.width())
    y1 = min(int(max(a.y(), b.y())) - 1, canvas_rect.height())
    region = shot[canvas_rect.y() + y0: canvas_rect.y() + y1, canvas_rect.x() + x0: canvas_rect.x() + x1]
    grey = cv2.cvtColor(region, cv2.COLOR_BGR2GRAY).astype(np.float64)
    # The radiograph in that region, computed from the renderer's LUT, not from the painter.
    zoom = canvas.view.zoom
    ys = np.clip(((np.arange(y0, y1) + 0.5 - a.y()) / zoom).astype(int), 0, rg.height - 1)
    xs = np.clip(((np.arange(x0, x1) + 0.5 - a.x()) / zoom).astype(int), 0, rg.width - 1)
    full = canvas.renderer.unit_grey(canvas.window, canvas.inverted).astype(np.float32)
    crop = full[ys[0]: ys[-1] + 1, xs[0]: xs[-1] + 1]  # area-averaged like a zoomed-out view
    expected = cv2.resize(crop, (grey.shape[1], grey.shape[0]), interpolation=cv2.INTER_AREA).astype(np.float64)
    keep = np.ones(grey.shape, bool)
    if canvas.heatmap_label is not None and canvas.heatmap_visible:
        grid = window.image.analysed.heatmaps.normalised(canvas.heatmap_label)
        gy = (ys * grid.shape[0] // rg.height)[:, None]
        gx = (xs * grid.shape[1] // rg.width)[None, :]
        keep = grid[gy, gx] < int(ALPHA_START * 255)  # transparent there...
        # ...and not next to colour (the painter smooths the overlay's edges).
        keep = cv2.erode(keep.astype(np.uint8), np.ones((15, 15), np.uint8)).astype(bool)
    # Leave out the read-out text in the canvas corners (file, size, window, colour key).
    rows_on_canvas = np.arange(y0, y1)
    keep &= ((rows_on_canvas > 60) & (rows_on_canvas < canvas_rect.height() - 45))[:, None]
    assert keep.sum() > 1000, "too little of the radiograph is free of heatmap colour to compare"
    with np.errstate(invalid="ignore", divide="ignore"):
        r = float(np.corrcoef(grey[keep], expected[keep])[0, 1])
    return r, grey


def _capture(qtbot, source: Path, model: Path | None, out: Path, settings: AppSettings) -> MainWindow:
    window = MainWindow(settings, model, None if model else "no model in this test")
    qtbot.addWidget(window)
    result = capture_screenshot(window, source, out)
    assert result.ok, result.message
    window.capture_result = result
    return window


def test_screenshot_shows_the_radiograph_and_the_heatmap(qtbot, tmp_path: Path, tiny_model: Path, settings) -> None:
    folder = tmp_path / "imgs"
    chest_png(folder / "a.png", seed=4, size=256)
    out = tmp_path / "shot.png"
    window = _capture(qtbot, folder, tiny_model, out, settings)
    try:
        assert window.canvas.heatmap_label is not None
        top = max(zip(window.image.analysed.findings.probabilities, window.image.analysed.findings.labels))[1]
        assert window.canvas.heatmap_label == top
        r, grey = canvas_correlation(window, out, window.capture_result.canvas_rect)
        assert grey.std() > 20 and 20 < grey.mean() < 235  # not blank, not black
        assert r > 0.9, f"the canvas does not show the radiograph (r = {r:.2f})"
    finally:
        window.close()


def test_a_blank_canvas_fails_the_correlation_check(qtbot, tmp_path: Path, settings) -> None:
    """The check above can fail: a screenshot whose canvas is black does not correlate."""
    chest_png(tmp_path / "a.png", seed=4, size=256)
    out = tmp_path / "shot.png"
    window = _capture(qtbot, tmp_path / "a.png", None, out, settings)
    try:
        shot = cv2.imread(str(out))
        rect = window.capture_result.canvas_rect
        shot[rect.y(): rect.y() + rect.height(), rect.x(): rect.x() + rect.width()] = 0
        cv2.imwrite(str(out), shot)
        r, grey = canvas_correlation(window, out, rect)
        assert grey.std() == 0 and not r > 0.9
    finally:
        window.close()


def test_run_gui_screenshot_prints_the_findings_table(tmp_path: Path, tiny_model: Path, capsys, qtbot) -> None:
    chest_png(tmp_path / "imgs" / "a.png", seed=2)
    out = tmp_path / "out" / "window.png"
    assert run_gui(tmp_path / "imgs", tiny_model, False, out) == 0
    text = capsys.readouterr().out
    assert out.is_file() and cv2.imread(str(out)) is not None
    assert "label" in text and "probability" in text and "threshold" in text and "flag" in text
    for label in ("Atelectasis", "Cardiomegaly", "Hernia", "Pleural_Thickening"):
        assert label in text
    assert "Heatmap shown:" in text
    assert "Not for diagnostic use" in text
    assert str(out) in text


def test_run_gui_screenshot_without_a_model(tmp_path: Path, capsys, qtbot, monkeypatch) -> None:
    from viewer.core.resources import MissingResourceError
    from viewer.ui import app

    def missing() -> Path:
        raise MissingResourceError("the bundled demo model is missing (test)")

    monkeypatch.setattr(app, "demo_model_path", missing)
    chest_dicom(tmp_path / "imgs" / "a.dcm", seed=1)
    out = tmp_path / "window.png"
    assert run_gui(tmp_path / "imgs" / "a.dcm", None, False, out) == 0
    text = capsys.readouterr().out
    assert "No findings" in text and "demo model is missing" in text
    assert out.is_file()


@pytest.mark.shared_data
def test_screenshot_of_a_real_nih_png_with_its_box(qtbot, tmp_path: Path, tiny_model: Path, settings) -> None:
    image = shared_path("nih-sample", "images", "00013125_000.png")
    out = tmp_path / "nih.png"
    window = _capture(qtbot, image, tiny_model, out, settings)
    try:
        assert window.canvas.boxes, "BBox_List_2017.csv has a box for this image"
        assert {b.label for b in window.canvas.boxes} <= set(window.image.analysed.findings.labels)
        assert window.image.scanned.labels is not None  # the NIH labels from Data_Entry
        r, _ = canvas_correlation(window, out, window.capture_result.canvas_rect)
        assert r > 0.9, f"r = {r:.2f}"
    finally:
        window.close()


@pytest.mark.shared_data
def test_screenshot_of_a_real_monochrome1_dicom(qtbot, tmp_path: Path, tiny_model: Path, settings) -> None:
    image = shared_path("dicom", "RG1_UNCR.dcm")
    out = tmp_path / "dicom.png"
    window = _capture(qtbot, image, tiny_model, out, settings)
    try:
        assert window.canvas.radiograph.photometric == "MONOCHROME1"
        assert window.tags.visible_rows() > 20
        r, _ = canvas_correlation(window, out, window.capture_result.canvas_rect)
        assert r > 0.9, f"r = {r:.2f}"
    finally:
        window.close()
