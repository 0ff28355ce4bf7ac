"""The findings panel says what a flag is worth (issue 23): with the demo model, a click on a
finding shows its validation sensitivity and specificity at the operating point, the positives
they rest on and the expected PPV at the label's prevalence; moving the operating point moves
them along the card's validation ROC. Driven as a user does it: a click on the row, arrow keys
on the operating-point slider, the panel's text read back."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt

from tests.ui.conftest import WAIT_MS
from tests.ui.images import chest_png
from viewer.core.resources import demo_model_path

# a test image of the demo's split with Effusion (its NIH label), flagged by the demo model
NIH_IMAGE = Path(__file__).resolve().parents[2].parent / "shared/data/nih-sample/images/00011585_000.png"
LINE = re.compile(r"Validation at this operating point: sensitivity (\d\.\d\d), specificity (\d\.\d\d) "
                  r"\((\d+) positives, (\d+) negatives\); expected PPV (\d\.\d\d) at prevalence (\d+\.\d)%, "
                  r"training split\.")


def _figures(window) -> tuple[float, float, int, int, float, float]:
    match = LINE.search(" ".join(window.findings.details.toPlainText().split()))
    assert match, window.findings.details.toPlainText()
    sens, spec, pos, neg, ppv, prevalence = match.groups()
    return float(sens), float(spec), int(pos), int(neg), float(ppv), float(prevalence)


def _bayes(sens: float, spec: float, prevalence: float) -> float:
    return sens * prevalence / (sens * prevalence + (1 - spec) * (1 - prevalence))


def test_the_selected_finding_says_its_validation_figures_at_the_operating_point(
        qtbot, make_window, tmp_path: Path, screenshot) -> None:
    folder = tmp_path / "imgs"
    if NIH_IMAGE.is_file():  # a real chest when the shared data is here; the figures do not depend on it
        folder.mkdir()
        shutil.copy(NIH_IMAGE, folder / NIH_IMAGE.name)
    else:
        chest_png(folder / "chest.png", seed=3)
    window = make_window(demo_model_path())
    window.open_path(folder)
    qtbot.waitUntil(lambda: window.image.analysed is not None, timeout=WAIT_MS)
    card = window.models.operating_point.card
    assert card is not None
    panel = window.findings
    label = "Effusion"
    qtbot.mouseClick(panel.list.viewport(), Qt.MouseButton.LeftButton, pos=panel.row_rect(label).center())
    assert window.canvas.heatmap_label == label

    entry = card.thresholds["per_label"][label]
    sens, spec, pos, neg, ppv, prevalence = _figures(window)
    assert (sens, spec) == (round(entry["val_sensitivity"], 2), round(entry["val_specificity"], 2))
    assert (pos, neg) == (entry["val_positives"], entry["val_negatives"])
    assert prevalence == round(100 * entry["prevalence"], 1)
    assert ppv == round(_bayes(entry["val_sensitivity"], entry["val_specificity"], entry["prevalence"]), 2)
    screenshot(panel, "card-thresholds")

    panel.sensitivity.setFocus()
    for _ in range(3):  # three steps more sensitive
        qtbot.keyClick(panel.sensitivity, Qt.Key.Key_Right)
    qtbot.waitUntil(lambda: window.models.operating_point.step == 3, timeout=WAIT_MS)
    threshold = float(window.image.state.thresholds[window.image.state.shown.index(label)])
    assert threshold < card.threshold_values()[label]
    roc = card.thresholds["roc"][label]
    at = int(np.argmin(np.abs(np.asarray(roc["threshold"]) - threshold)))
    assert abs(roc["threshold"][at] - threshold) < 1e-6  # the moved threshold is a point of the ROC
    moved = _figures(window)
    assert moved[:2] == (round(roc["tpr"][at], 2), round(1 - roc["fpr"][at], 2))
    assert moved[0] >= sens and moved[2:4] == (pos, neg)
    assert moved[4] == round(_bayes(roc["tpr"][at], 1 - roc["fpr"][at], entry["prevalence"]), 2)
    screenshot(panel, "more-sensitive")


def test_a_model_without_the_figures_shows_no_line(qtbot, make_window, tiny_model, tmp_path: Path) -> None:
    chest_png(tmp_path / "imgs" / "a.png", seed=1)
    window = make_window(tiny_model)  # the tests' model: a fixed 0.5 rule, no validation figures
    window.open_path(tmp_path / "imgs")
    qtbot.waitUntil(lambda: window.image.analysed is not None, timeout=WAIT_MS)
    assert window.image.state.selected_label is not None
    assert "Validation at this operating point" not in window.findings.details.toPlainText()
