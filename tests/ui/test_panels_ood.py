"""Findings of an image that fails the model's out-of-distribution check are drawn grey, not as
red alarms, and the banner over the image says why; a chest radiograph's flags stay red. Checked
on the pixels the findings list paints."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PySide6.QtGui import QColor

from tests.core.chest_phantom import chest_phantom
from tests.factories import make_model_pair
from tests.ui.conftest import WAIT_MS
from tests.ui.images import chest_png
from viewer.core.ood import fit_ood
from viewer.ui.main_window import MainWindow


def _strip_colours(window: MainWindow) -> list[QColor]:
    """The colour of the flag strip at the left edge of every flagged row but the selected one."""
    panel = window.findings
    picture = panel.list.viewport().grab().toImage()
    scale = picture.devicePixelRatio()
    current = panel.list.currentIndex().row()
    colours = []
    for row, finding in enumerate(panel.model.rows()):
        if finding.flagged and row != current:
            centre = panel.row_rect(finding.label).center()
            colours.append(picture.pixelColor(int(2 * scale), int(centre.y() * scale)))
    return colours


def _is_red(colour: QColor) -> bool:
    return colour.red() > colour.green() + 60 and colour.red() > colour.blue() + 60


def _is_grey(colour: QColor) -> bool:
    return max(colour.red(), colour.green(), colour.blue()) - min(colour.red(), colour.green(), colour.blue()) < 25


def _open(qtbot, window: MainWindow, path: Path) -> None:
    window.image.open(path)
    qtbot.waitUntil(lambda: window.image.analysed is not None and window.image.analysed.path == path,
                    timeout=WAIT_MS)
    window.findings.sensitivity.setValue(window.findings.SENSITIVITY_STEPS)  # flag many: more rows to look at


def test_out_of_distribution_findings_are_grey_and_the_banner_says_why(qtbot, make_window, tmp_path: Path,
                                                                       screenshot) -> None:
    rng = np.random.default_rng(3)
    ood = fit_ood([chest_phantom(rng, 64) for _ in range(40)])
    model = make_model_pair(tmp_path / "ood-model", card_overrides={"ood": ood})
    noise = tmp_path / "imgs" / "noise.png"
    noise.parent.mkdir()
    cv2.imwrite(str(noise), np.random.default_rng(0).integers(0, 255, (128, 128), dtype=np.uint8))
    chest = chest_png(tmp_path / "imgs" / "chest.png", seed=11)
    window = make_window(model)

    _open(qtbot, window, noise)
    assert window.image.analysed.findings.ood_flag
    strips = _strip_colours(window)
    assert strips, "no flagged row to look at"
    assert not any(_is_red(c) for c in strips), [c.name() for c in strips]
    assert all(_is_grey(c) for c in strips), [c.name() for c in strips]
    assert window.banner.isVisible() and "grey" in window.banner.text()
    screenshot(window, "out-of-distribution")

    _open(qtbot, window, chest)
    assert not window.image.analysed.findings.ood_flag
    strips = _strip_colours(window)
    assert strips and all(_is_red(c) for c in strips), [c.name() for c in strips]
    screenshot(window.findings, "chest")
