"""View > Check This Map, as a user does it: open the demo study with the demo model, click a
finding, choose the command, wait, read the status bar. Oracle: ``map_faithfulness`` called here
on the same image, prepared and predicted by a Predictor of this test's own."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from tests.ui.browser_helpers import open_folder_from_menu
from tests.ui.conftest import WAIT_MS, wait_for_findings
from viewer.core.demo import demo_study_dir
from viewer.core.inference import Predictor
from viewer.core.loader import load_radiograph
from viewer.core.map_faithfulness import map_faithfulness
from viewer.core.resources import demo_model_path

LABEL = "Effusion"


def test_check_this_map_reports_the_core_deletion_score_of_the_shown_finding(
        qtbot, make_window, tmp_path: Path, monkeypatch, screenshot) -> None:
    folder = demo_study_dir(tmp_path / "cache")
    window = make_window(demo_model_path())
    assert not window.act_check_map.isEnabled(), "no map on screen yet"
    assert window.act_check_map in window.act_heatmap.associatedObjects()[0].actions()  # View, with Heatmap
    open_folder_from_menu(qtbot, window, folder, monkeypatch)
    wait_for_findings(qtbot, window)
    panel = window.findings
    qtbot.mouseClick(panel.list.viewport(), Qt.MouseButton.LeftButton, pos=panel.row_rect(LABEL).center())
    assert window.canvas.heatmap_label == LABEL
    assert window.act_check_map.isEnabled()

    with qtbot.waitSignal(window.map_check.finished, timeout=WAIT_MS) as blocker:
        window.act_check_map.trigger()
        assert "Checking the Effusion map" in window.statusBar().currentMessage()
    shown = blocker.args[1]
    message = window.statusBar().currentMessage()
    screenshot(window, "map-checked")

    predictor = Predictor.open(demo_model_path())
    prepared = predictor.prepare(load_radiograph(window.image.path))
    findings = predictor.predict_prepared(prepared)
    index = findings.labels.index(LABEL)
    expected = map_faithfulness(prepared, findings.heatmaps[index], index, findings.labels,
                                lambda batch: predictor.model.classify(batch)[0])
    assert shown.label == LABEL and shown.score == pytest.approx(expected.score, abs=1e-3)
    assert message.startswith(f"{LABEL} map of {window.image.path.name}: top 20% of the map removed: ")
    assert message.endswith(f"faithfulness {expected.score:+.2f}")
    assert f"probability {expected.original:.2f} -> {expected.map_curve[2]:.2f}" in message
    assert f"Map check: {expected.summary()}" in panel.details.toPlainText()  # where there is room to read it

    window.act_heatmap.setChecked(False)  # no map on screen: nothing to check
    assert not window.act_check_map.isEnabled()
