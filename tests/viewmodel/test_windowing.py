"""Window presets of an image and the window/level drag."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.ui.images import chest_dicom
from viewer.core.display_transforms import default_window, to_unit_grey
from viewer.core.loader import load_radiograph
from viewer.core.radiograph import Radiograph, Window
from viewer.viewmodel.windowing import (
    PRESET_KEYS,
    RELATIVE_PRESETS,
    WindowLevel,
    WindowPresets,
    density_percentiles,
    relative_preset,
)


@pytest.mark.parametrize("photometric", ["MONOCHROME2", "MONOCHROME1"])
def test_relative_presets_follow_density_not_raw_values(tmp_path: Path, photometric: str) -> None:
    rg = load_radiograph(chest_dicom(tmp_path / "a.dcm", photometric=photometric))
    percentiles = density_percentiles(rg)
    lung, bone = relative_preset(percentiles, "Lung"), relative_preset(percentiles, "Bone")
    assert lung.width > 0 and bone.width > 0
    # Whatever the photometric: the lung window spreads the least dense tissue and saturates the
    # dense to white; the bone window spreads the dense and turns the lungs black.
    assert to_unit_grey(rg, lung).mean() > to_unit_grey(rg, bone).mean() + 0.08


def test_padding_is_left_out_of_the_densities() -> None:
    pixels = np.full((40, 40), 1000.0, np.float32)
    pixels[:, 20:] = np.linspace(0, 100, 20 * 40, dtype=np.float32).reshape(40, 20)
    mask = np.zeros(pixels.shape, bool)
    mask[:, :20] = True
    rg = Radiograph(Path("x.dcm"), pixels, "dicom", "MONOCHROME2", 12, padding_mask=mask)
    assert max(density_percentiles(rg).values()) <= 100.0


def test_a_flat_image_still_gets_a_usable_window() -> None:
    window = relative_preset({q: 7.0 for q in range(101)}, "Bone")
    assert window.width >= 1.0 and window.low <= 7.0 <= window.high


def test_presets_start_with_the_header_windows_and_end_with_the_full_range() -> None:
    header = [Window(40, 400, "Header 1"), Window(100, 1000, "Header 2")]
    percentiles = {q: float(q * 10) for q in range(101)}
    presets = WindowPresets.for_image(header, header[0], percentiles, -5.0, 4000.0)
    assert [w.name for w in presets.windows] == ["Header 1", "Header 2", *RELATIVE_PRESETS, "Full data range"]
    full = presets.windows[-1]
    assert (full.low, full.high) == (-5.0, 4000.0)
    labels = presets.labels()
    assert labels[0] == "Header 1  [1]" and labels[PRESET_KEYS - 1].endswith(f"[{PRESET_KEYS}]")
    assert labels[-1] == "Full data range"  # the sixth has no key
    assert presets.at(0) == header[0] and presets.at(len(presets)) is None and presets.at(-1) is None


def test_without_header_windows_the_default_window_comes_first(tmp_path: Path) -> None:
    rg = load_radiograph(chest_dicom(tmp_path / "a.dcm"))
    assert not rg.windows
    default = default_window(rg)
    presets = WindowPresets.for_image(rg.windows, default, density_percentiles(rg), 0.0, 4095.0)
    assert presets.at(0) == default and len(presets) == 5
    assert presets.labels()[0] == f"{default.name}  [1]"


def test_a_drag_moves_width_sideways_and_level_up_and_down() -> None:
    start = Window(2000, 1000, "Header 1")
    levels = WindowLevel(start, 0.0, 4096.0)
    assert levels.step == pytest.approx(8.0)  # 512 px span the data
    dragged = levels.dragged(start, 10, -5)
    assert (dragged.width, dragged.center) == (1080.0, 1960.0)
    assert dragged.name == "Manual" and dragged.function == "LINEAR_EXACT"
    assert levels.dragged(start, -10_000, 0).width == levels.step  # never zero or negative


def test_reset_returns_to_the_default_window_not_inverted() -> None:
    default = Window(1, 2)
    levels = WindowLevel(default, 0.0, 0.0)
    assert levels.step > 0  # a constant image still drags
    levels.window, levels.inverted = Window(5, 6), True
    levels.reset()
    assert levels.window == default and not levels.inverted


def test_a_window_that_shows_the_same_as_one_before_it_is_offered_once() -> None:
    """An 8-bit PNG using all 256 values: its default window (0-255) is its full data range."""
    default = Window(127.5, 255.0, "Full range", "LINEAR_EXACT")
    percentiles = {q: float(q * 2.5) for q in range(101)}
    presets = WindowPresets.for_image([], default, percentiles, 0.0, 255.0)
    assert [w.name for w in presets.windows] == ["Full range", *RELATIVE_PRESETS]
    assert presets.labels() == ["Full range  [1]", "Lung  [2]", "Soft tissue  [3]", "Bone  [4]"]
    # a data range a little narrower is another window, and stays
    narrower = WindowPresets.for_image([], default, percentiles, 3.0, 250.0)
    assert narrower.windows[-1].name == "Full data range" and len(narrower) == 5


def test_the_position_of_a_window_in_the_list() -> None:
    header = [Window(40, 400, "Header 1")]
    presets = WindowPresets.for_image(header, header[0], {q: float(q) for q in range(101)}, 0.0, 100.0)
    assert presets.index_of(header[0]) == 0 and presets.index_of(presets.windows[-1]) == len(presets) - 1
    manual = WindowLevel(header[0], 0.0, 100.0).dragged(header[0], 3, 4)
    assert presets.index_of(manual) is None and presets.index_of(None) is None
