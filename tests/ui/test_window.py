"""The window with a real (tiny) ONNX model: open a folder, select images, click findings,
errors, shortcuts, the operating point, the OOD banner, and the viewer without a model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtWidgets import QApplication

from tests.factories import make_model_pair
from tests.ui.conftest import WAIT_MS, wait_for_findings, wait_for_image
from tests.ui.images import chest_png
from viewer.core.findings import flags_at
from viewer.core.inference import adjusted_thresholds
from viewer.ui.canvas import as_uint8_view
from viewer.ui.colormaps import ALPHA_START
from viewer.ui.findings_panel import FindingsPanel
from viewer.ui.main_window import MainWindow


def _grab(window: MainWindow) -> np.ndarray:
    QApplication.processEvents()
    return as_uint8_view(window.canvas.grab().toImage()).astype(np.int32)


def _click_finding(qtbot, window: MainWindow, label: str) -> None:
    rect = window.findings.row_rect(label)
    assert rect.isValid(), f"{label} is not in the findings list"
    qtbot.mouseClick(window.findings.list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def _map_on_canvas(window: MainWindow, label: str, step: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ys, xs, map value) of canvas pixels inside the image, sampled every ``step`` pixels."""
    canvas = window.canvas
    grid = window.image.analysed.heatmaps.normalised(label)
    gh, gw = grid.shape
    rg = canvas.radiograph
    ys, xs, values = [], [], []
    for y in range(0, canvas.height(), step):
        for x in range(0, canvas.width(), step):
            p = canvas.widget_to_image(QPointF(x + 0.5, y + 0.5))
            if 0 <= p.x() < rg.width and 0 <= p.y() < rg.height:
                ys.append(y)
                xs.append(x)
                values.append(grid[int(p.y() * gh / rg.height), int(p.x() * gw / rg.width)])
    return np.array(ys), np.array(xs), np.array(values)


def _activate(qtbot, window: MainWindow) -> None:
    window.activateWindow()
    window.canvas.setFocus()
    qtbot.waitUntil(window.isActiveWindow, timeout=WAIT_MS)


def test_open_folder_click_finding_shows_its_heatmap(qtbot, make_window, tiny_model, nih_like_folder) -> None:
    window = make_window(tiny_model)
    window.open_path(nih_like_folder)
    wait_for_findings(qtbot, window)
    first = window.canvas.radiograph.path

    # Select another image in the browser: it is decoded, shown, and analysed.
    other = nih_like_folder / "chest_2.png"
    assert first != other
    assert window.browser.select_path(other)
    qtbot.waitUntil(lambda: window.image.analysed is not None and window.image.analysed.path == other,
                    timeout=WAIT_MS)
    assert window.canvas.radiograph.path == other

    # The image after it is prepared ahead, with a model run of its own, and the folder analysis
    # may still run: let both end, then count any further model call. Every label of the image
    # on screen was computed in its one inference pass.
    qtbot.waitUntil(lambda: window.image.idle() and not window.folder.analysing, timeout=WAIT_MS)
    predictor = window.models.predictor
    calls = []
    original = predictor.predict
    predictor.predict = lambda *a, **k: calls.append(a) or original(*a, **k)

    labels = list(window.image.analysed.findings.labels)
    shown = window.canvas.heatmap_label
    target = next(x for x in labels if x != shown and np.ptp(window.image.analysed.heatmaps.normalised(x)) > 200)
    window.findings.show_heatmap.setChecked(False)
    base = _grab(window)
    window.findings.show_heatmap.setChecked(True)
    _click_finding(qtbot, window, target)
    assert window.canvas.heatmap_label == target
    assert window.image.selected_label == target
    with_map = _grab(window)

    ys, xs, values = _map_on_canvas(window, target)
    change = np.abs(with_map[ys, xs] - base[ys, xs]).sum(axis=1)
    high, low = change[values >= 200], change[values <= int(ALPHA_START * 255)]
    assert high.size and low.size
    assert high.mean() > 30  # coloured where the map is high...
    assert low.mean() < 3  # ...and the radiograph untouched where it is low
    assert calls == []  # nothing was recomputed for the click
    assert window.image.idle()


def test_bad_files_are_listed_in_the_errors_panel(qtbot, make_window, tiny_model, nih_like_folder) -> None:
    window = make_window(tiny_model)
    window.open_path(nih_like_folder)
    wait_for_findings(qtbot, window)

    def names() -> set[str]:
        return {Path(path).name for path, _ in window.errors.entries()}

    qtbot.waitUntil(lambda: {"truncated.png", "empty.dcm"} <= names(), timeout=WAIT_MS)
    reasons = dict((Path(p).name, r) for p, r in window.errors.entries())
    assert "empty" in reasons["empty.dcm"]
    assert "PNG" in reasons["truncated.png"] or "png" in reasons["truncated.png"]
    assert "notes.txt" not in names()  # not an image: counted, not an error
    assert "ignored" in window.errors.summary.text()
    assert window.errors_dock.isVisible()  # shown without a dialog
    assert "error" in window.errors_button.text()
    window.errors_dock.close()  # closed by the user; the status bar's button brings it back
    assert not window.errors_dock.isVisible()
    qtbot.mouseClick(window.errors_button, Qt.MouseButton.LeftButton)
    assert window.errors_dock.isVisible()
    # The good images are all still there.
    shown = {image.name for image in window.browser.visible_images()}
    assert {"chest_0.png", "chest_1.png", "chest_2.png", "image.dcm"} <= shown

    # Opening a bad file on its own: reported, and the window keeps working.
    window.image.open(nih_like_folder / "truncated.png")
    qtbot.waitUntil(lambda: window.canvas.radiograph is None and "cannot be shown" in window.canvas._placeholder,
                    timeout=WAIT_MS)
    window.browser.select_path(nih_like_folder / "chest_1.png")
    wait_for_image(qtbot, window)
    assert window.canvas.radiograph.path.name == "chest_1.png"


def test_drag_window_level_shows_the_values(qtbot, make_window, tiny_model, nih_like_folder) -> None:
    window = make_window(tiny_model)
    window.open_path(nih_like_folder / "sub" / "image.dcm")
    wait_for_image(qtbot, window)
    start, step = window.canvas.window, window.canvas.window_drag_step()
    origin = QPoint(window.canvas.width() // 2, window.canvas.height() // 2)
    qtbot.mousePress(window.canvas, Qt.MouseButton.RightButton, pos=origin)
    qtbot.mouseMove(window.canvas, origin + QPoint(50, 30))
    qtbot.mouseRelease(window.canvas, Qt.MouseButton.RightButton, pos=origin + QPoint(50, 30))
    width, center = start.width + 50 * step, start.center + 30 * step
    assert (window.canvas.window.width, window.canvas.window.center) == pytest.approx((width, center))
    assert window.window_label.text() == f"W {width:.0f}  L {center:.0f}"  # integer data: whole units


def test_preset_keys_and_reset_view(qtbot, make_window, tiny_model, nih_like_folder) -> None:
    """Keys 1-5 pick the presets the toolbar lists (header window first, full range last);
    Reset View returns to the header window, not inverted, not rotated."""
    window = make_window(tiny_model)
    window.open_path(nih_like_folder / "sub" / "image.dcm")
    wait_for_image(qtbot, window)
    _activate(qtbot, window)
    canvas, renderer = window.canvas, window.canvas.renderer
    header = canvas.radiograph.windows[0]
    assert [window.presets.itemText(i) for i in range(window.presets.count())] == [
        f"{header.name or 'Window'}  [1]", "Lung  [2]", "Soft tissue  [3]", "Bone  [4]", "Full data range  [5]"]
    qtbot.keyClick(canvas, Qt.Key.Key_5)
    assert (canvas.window.low, canvas.window.high) == pytest.approx((renderer.value_min, renderer.value_max))
    assert window.presets.currentIndex() == 4
    qtbot.keyClick(canvas, Qt.Key.Key_3)
    assert canvas.window.name == "Soft tissue" and window.presets.currentText() == "Soft tissue  [3]"
    window.act_invert.trigger()
    window.act_rotate.trigger()
    assert canvas.inverted and canvas.view.rotation_degrees == 90
    window.act_reset.trigger()
    assert canvas.window == header and not canvas.inverted and not window.act_invert.isChecked()
    assert canvas.view.rotation_degrees == 0 and window.presets.currentIndex() == 0


def test_keyboard_shortcuts(qtbot, make_window, tiny_model, nih_like_folder) -> None:
    window = make_window(tiny_model)
    window.open_path(nih_like_folder)
    wait_for_findings(qtbot, window)
    qtbot.waitUntil(lambda: not window.folder.scanning, timeout=WAIT_MS)
    _activate(qtbot, window)
    order = window.browser.visible_images()
    current = window.browser.current_image()

    qtbot.keyClick(window.canvas, Qt.Key.Key_PageDown)
    following = order[order.index(current) + 1]
    qtbot.waitUntil(lambda: window.image.loaded is not None and window.image.loaded.path == following.path,
                    timeout=WAIT_MS)
    qtbot.keyClick(window.canvas, Qt.Key.Key_PageUp)
    qtbot.waitUntil(lambda: window.image.loaded is not None and window.image.loaded.path == current.path,
                    timeout=WAIT_MS)
    wait_for_findings(qtbot, window)

    rows = [r.label for r in window.findings.model.rows()]
    assert window.image.selected_label == rows[0]  # the top finding is shown first
    qtbot.keyClick(window.canvas, Qt.Key.Key_F)
    assert window.canvas.heatmap_label == rows[1]
    qtbot.keyClick(window.canvas, Qt.Key.Key_F, Qt.KeyboardModifier.ShiftModifier)
    assert window.canvas.heatmap_label == rows[0]

    assert window.canvas.heatmap_visible
    qtbot.keyClick(window.canvas, Qt.Key.Key_H)
    assert not window.canvas.heatmap_visible and not window.findings.show_heatmap.isChecked()
    qtbot.keyClick(window.canvas, Qt.Key.Key_H)
    assert window.canvas.heatmap_visible

    qtbot.keyClick(window.canvas, Qt.Key.Key_2)
    assert window.canvas.window.name == "Lung"
    qtbot.keyClick(window.canvas, Qt.Key.Key_4)
    assert window.canvas.window.name == "Bone"
    window.canvas.zoom_by(3.0)
    qtbot.keyClick(window.canvas, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)
    fitted = window.canvas.view.zoom
    window.canvas.fit()
    assert window.canvas.view.zoom == pytest.approx(fitted)


def test_operating_point_moves_thresholds_and_flags_follow(qtbot, make_window, tiny_model, nih_like_folder) -> None:
    window = make_window(tiny_model)
    window.open_path(nih_like_folder / "chest_0.png")
    wait_for_findings(qtbot, window)
    card = window.models.predictor.card
    f = window.image.analysed.findings
    assert np.allclose([r.threshold for r in _by_label(window)], f.thresholds)

    counts = []
    for step in (-FindingsPanel.SENSITIVITY_STEPS, 0, 2, FindingsPanel.SENSITIVITY_STEPS):
        window.findings.sensitivity.setValue(step)
        expected = adjusted_thresholds(card, step / FindingsPanel.SENSITIVITY_STEPS)
        rows = _by_label(window)
        assert np.allclose([r.threshold for r in rows], expected, atol=1e-6)
        assert [r.flagged for r in rows] == list(flags_at(f.probabilities, expected))
        np.testing.assert_array_equal(window.image.state.flags, flags_at(f.probabilities, expected))
        said = "card thresholds" if step == 0 else f"{step:+d}: more {'sensitive' if step > 0 else 'specific'}"
        assert window.findings.sensitivity_text.text() == said
        point = "card thresholds" if step == 0 else f"operating point {step:+d}"
        assert f"({point})" in " ".join(window.export_footer())  # the PNG footer names the same point
        counts.append(sum(r.flagged for r in rows))
    assert counts == sorted(counts) and counts[0] < counts[-1]  # more sensitive, more flags


def test_the_browser_flags_every_image_at_the_operating_point(qtbot, make_window, tiny_model, tmp_path: Path) -> None:
    from viewer.ui.browser import SUMMARY_ROLE

    for i in range(4):
        chest_png(tmp_path / "imgs" / f"c{i}.png", seed=70 + i)
    window = make_window(tiny_model)
    done = []
    window.folder.analysis_done.connect(lambda: done.append(1))
    window.open_path(tmp_path / "imgs")
    qtbot.waitUntil(lambda: bool(done), timeout=WAIT_MS)
    card = window.models.predictor.card
    seen = set()
    for step in (0, FindingsPanel.SENSITIVITY_STEPS, -2):
        window.findings.sensitivity.setValue(step)
        thresholds = adjusted_thresholds(card, step / FindingsPanel.SENSITIVITY_STEPS)
        for path, row in window.folder.rows.items():
            summary = window.browser.model.item_for(path).data(SUMMARY_ROLE)
            flags = flags_at(row.findings.probabilities, thresholds)
            expected = [x for x, flag in zip(row.findings.labels, flags) if flag]
            assert sorted(x for x, _ in summary.flagged) == sorted(expected), (step, path.name)
            seen.add(len(expected))
    assert len(seen) > 1  # the steps changed what is flagged


def _by_label(window: MainWindow) -> list:
    rows = {r.label: r for r in window.findings.model.rows()}
    return [rows[x] for x in window.image.analysed.findings.labels]


def test_ood_banner_on_an_image_unlike_the_training_chests(qtbot, make_window, tmp_path: Path) -> None:
    from tests.core.chest_phantom import chest_phantom
    from viewer.core.ood import fit_ood

    rng = np.random.default_rng(3)
    ood = fit_ood([chest_phantom(rng, 64) for _ in range(40)])
    model = make_model_pair(tmp_path / "ood-model", card_overrides={"ood": ood})
    chest = chest_png(tmp_path / "imgs" / "chest.png", seed=11)
    noise = tmp_path / "imgs" / "noise.png"
    import cv2

    cv2.imwrite(str(noise), np.random.default_rng(0).integers(0, 255, (128, 128), dtype=np.uint8))

    window = make_window(model)
    window.open_path(noise)
    wait_for_findings(qtbot, window)
    assert window.image.analysed.findings.ood_flag
    assert window.banner.isVisible() and "Out of distribution" in window.banner.text()
    assert any(line.startswith("OUT OF DISTRIBUTION") for line in window.export_footer())

    window.image.open(chest)
    wait_for_findings(qtbot, window)
    assert not window.image.analysed.findings.ood_flag
    assert not window.banner.isVisible()
    assert not any(line.startswith("OUT OF DISTRIBUTION") for line in window.export_footer())


def test_without_a_model_the_viewer_is_a_plain_viewer(qtbot, make_window, nih_like_folder) -> None:
    window = make_window(None, "No --model given, and the bundled demo model is missing")
    window.open_path(nih_like_folder)
    wait_for_image(qtbot, window)
    assert "demo model is missing" in window.findings.message.text()
    assert "plain viewer" in window.model_panel.text.toPlainText()
    # Thumbnails still arrive; nothing is flagged.
    qtbot.waitUntil(lambda: len(window.folder.rows) >= 4, timeout=WAIT_MS)
    assert all(row.findings is None for row in window.folder.rows.values())


def test_a_broken_model_is_reported_and_images_still_show(qtbot, make_window, tmp_path: Path, nih_like_folder) -> None:
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"this is not an onnx file")
    (tmp_path / "broken.gradcam.onnx").write_bytes(b"nor this")
    window = make_window(broken)
    qtbot.waitUntil(lambda: window.models.decided, timeout=WAIT_MS)
    assert window.models.predictor is None
    assert "broken.onnx" in window.models.reason and "ONNX" in window.models.reason
    window.open_path(nih_like_folder / "chest_1.png")
    wait_for_image(qtbot, window)
    assert "broken.onnx" in window.findings.message.text()
    assert "broken.onnx" in window.model_panel.text.toPlainText()


def test_opening_the_next_image_drops_the_pending_one(qtbot, make_window, tiny_model, nih_like_folder) -> None:
    window = make_window(tiny_model)
    qtbot.waitUntil(lambda: window.models.decided, timeout=WAIT_MS)
    shown = []
    window.image.image_shown.connect(lambda loaded: shown.append(loaded.path))
    a, b, c = (nih_like_folder / f"chest_{i}.png" for i in range(3))
    window.image.open(a)
    window.image.open(b)
    window.image.open(c)
    wait_for_findings(qtbot, window)
    window.image.wait()
    QApplication.processEvents()
    assert shown[-1] == c and a not in shown[1:] and b not in shown[1:]
    assert window.canvas.radiograph.path == c and window.image.analysed.path == c


def test_colormap_and_opacity_change_the_overlay_without_a_model_call(qtbot, make_window, tiny_model,
                                                                       nih_like_folder) -> None:
    window = make_window(tiny_model)
    window.open_path(nih_like_folder / "chest_1.png")
    wait_for_findings(qtbot, window)
    predictor = window.models.predictor
    hits = predictor.cache_hits + predictor.cache_misses
    label = window.canvas.heatmap_label
    before = _grab(window)
    window.findings.colormap.setCurrentText("Viridis")
    assert window.canvas.heatmap_label == label
    recoloured = _grab(window)
    assert np.abs(recoloured - before).sum(axis=2).max() > 60
    window.findings.opacity.setValue(100)
    assert window.canvas.heatmap_opacity == pytest.approx(1.0)
    opaque = _grab(window)
    window.findings.opacity.setValue(0)
    clear = _grab(window)
    window.findings.show_heatmap.setChecked(False)
    hidden = _grab(window)
    # Opacity 0 shows the bare radiograph (the colour key in the bottom corner stays).
    assert np.array_equal(clear[:-60], hidden[:-60])
    assert np.abs(opaque - hidden).sum() > np.abs(recoloured - hidden).sum()
    assert predictor.cache_hits + predictor.cache_misses == hits  # no inference at all


def test_folder_analysis_order_and_skips(qtbot, tmp_path: Path) -> None:
    """Images the user is about to look at are analysed first; images the viewer already
    analysed when they were opened are not decoded again."""
    from viewer.core.scan import scan_folder
    from viewer.ui.workers import AnalysisEvents, AnalysisJob, CancelToken

    for name in "abcde":
        chest_png(tmp_path / f"{name}.png", seed=ord(name), size=64)
    images = {i.path.stem: i for i in scan_folder(tmp_path)}
    events = AnalysisEvents()
    batches = []
    events.images_analysed.connect(lambda _run, rows, done, total: batches.append((rows, done, total)))
    job = AnalysisJob(1, events, CancelToken(), None, already_done=lambda path: path.stem == "c")
    job.add([images[x] for x in "abcde"])
    job.prioritize([images["d"].path, images["b"].path])
    job.close()
    job.work()  # synchronously, in this thread
    order = [row.image.path.stem for rows, _, _ in batches for row in rows]
    assert order == ["d", "b", "a", "e"]
    assert batches[-1][1:] == (5, 5)  # the skipped image still counts as done


def test_the_opened_image_is_recorded_in_the_browser_at_once(qtbot, make_window, tiny_model, tmp_path: Path,
                                                            monkeypatch) -> None:
    from viewer.ui import folder_session
    from viewer.ui.browser import SUMMARY_ROLE
    from viewer.ui.workers import AnalysisJob

    class NoAnalysis(AnalysisJob):  # the folder analysis does nothing: only the opened image counts
        def work(self) -> None:
            self.events.analysis_finished.emit(self.run_id, False)

    monkeypatch.setattr(folder_session, "AnalysisJob", NoAnalysis)
    for i in range(3):
        chest_png(tmp_path / f"c{i}.png", seed=60 + i)
    window = make_window(tiny_model)
    window.open_path(tmp_path)
    wait_for_findings(qtbot, window)
    QApplication.processEvents()
    path = window.image.analysed.path
    row = window.folder.rows[path]
    # the folder keeps the findings the window showed, in its compact form
    assert np.array_equal(row.findings.probabilities, window.image.analysed.findings.probabilities)
    assert window.browser.model.item_for(path).data(Qt.ItemDataRole.DecorationRole) is not None  # its thumbnail
    assert row.thumbnail is None and row.thumbnail_array is None  # kept by the browser, not twice
    summary = window.browser.model.item_for(path).data(SUMMARY_ROLE)
    assert summary is not None and summary.top_probability == pytest.approx(float(max(row.findings.probabilities)))
    others = [p for p in (tmp_path / f"c{i}.png" for i in range(3)) if p != path]
    assert all(window.browser.model.item_for(p).data(SUMMARY_ROLE) is None for p in others)


def test_errors_arriving_in_many_batches_restyle_the_status_button_once(qtbot, make_window, monkeypatch) -> None:
    window = make_window(None, "no model")
    styles: list[str] = []
    real = window.errors_button.setStyleSheet
    monkeypatch.setattr(window.errors_button, "setStyleSheet", lambda sheet: (styles.append(sheet), real(sheet)))
    for batch in range(20):  # as a big folder's scan reports them
        window.errors.add_errors([(f"bad/{batch}-{i}.dcm", "not a DICOM file") for i in range(3)])
    qtbot.waitUntil(lambda: window.errors_button.text() == "60 error(s)", timeout=WAIT_MS)
    assert styles == ["color: #dc3c32; font-weight: bold;"]
    assert window.errors_button.styleSheet() == styles[0]
