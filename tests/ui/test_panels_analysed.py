"""An image the folder analysis has already analysed is not analysed again when the user opens
it: its findings and maps come from the folder's results (kept compact), and the model's two
graphs are not called. Counted by wrapping the open model pair's ``classify`` and ``gradcam``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt

from tests.ui.conftest import WAIT_MS
from tests.ui.images import chest_png
from viewer.core.inference import Predictor

# More images than the predictor's own cache holds (32): the first ones have left it by the end
# of the folder analysis, so only the folder's results can spare the model.
IMAGES = 40


def test_opening_an_analysed_image_does_not_run_the_model_again(qtbot, make_window, tiny_model, tmp_path: Path,
                                                                 monkeypatch, screenshot) -> None:
    folder = tmp_path / "imgs"
    for i in range(IMAGES):
        chest_png(folder / f"c{i:02d}.png", seed=i)
    window = make_window(tiny_model)
    done: list[int] = []
    window.folder.analysis_done.connect(lambda: done.append(1))
    window.open_path(folder)
    qtbot.waitUntil(lambda: bool(done) and window.image.analysed is not None, timeout=WAIT_MS)
    assert len(window.folder.rows) == IMAGES
    assert window.models.predictor.cache_size < IMAGES

    pair = window.models.predictor.model
    calls: list[str] = []
    for name in ("classify", "gradcam"):
        graph = getattr(pair, name)
        monkeypatch.setattr(pair, name, lambda *a, _graph=graph, _name=name: calls.append(_name) or _graph(*a))
    messages: list[str] = []
    show_message = window.findings.show_message
    monkeypatch.setattr(window.findings, "show_message", lambda text: messages.append(text) or show_message(text))

    window.activateWindow()
    window.canvas.setFocus()
    qtbot.waitUntil(window.isActiveWindow, timeout=WAIT_MS)
    second = window.browser.visible_images()[1].path
    qtbot.keyClick(window.canvas, Qt.Key.Key_PageDown)
    qtbot.waitUntil(lambda: window.image.analysed is not None and window.image.analysed.path == second,
                    timeout=WAIT_MS)
    assert calls == [], f"the model ran again on an analysed image: {calls}"
    assert not any("Running the model" in m for m in messages), messages

    row = window.folder.rows[second]
    shown = window.image.analysed.findings
    np.testing.assert_array_equal(shown.probabilities, row.findings.probabilities)
    assert window.canvas.heatmap_label is not None and window.findings.model.rowCount() == len(shown.labels)
    screenshot(window, "from-the-folder-analysis")

    # What the folder keeps of each image is compact: float16 maps, a few kB at most.
    assert row.findings.heatmaps.dtype == np.float16
    assert row.findings.heatmaps.nbytes <= 2 * 1024
    # and the maps shown from it are the model's, to float16's precision
    fresh = Predictor(window.models.predictor.model_path).predict(second)
    np.testing.assert_allclose(shown.heatmaps, fresh.heatmaps, rtol=2e-3, atol=1e-3)
