"""Window/level: the presets offered for an image, and what a window/level drag does.

Radiographs have no Hounsfield scale, so lung/bone/soft-tissue cannot be fixed numbers as on
CT. They are chosen from this image's own density histogram (padding excluded):
  lung        - the least dense half of the image, where the lung fields lie, stretched;
  soft tissue - the middle densities (mediastinum, heart, diaphragm);
  bone        - the densest part, wide enough to keep cortex and spine apart.
The presets of an image are its header's windows (else its default window, see
``viewer.core.display_transforms.default_window``), those three, and the full data range, each
window once (an 8-bit PNG's default window is its full data range); the first ``PRESET_KEYS``
have number keys, in the order of the list.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from viewer.core.radiograph import Radiograph, Window, WindowFunction

PRESET_KEYS = 5  # presets 1..5 have number keys
DRAG_SPAN_PX = 512.0  # a window/level drag this long spans the image's whole value range
SAME_WINDOW = 1e-3  # presets whose ends are this close (a fraction of the data range) show the same
RELATIVE_PRESETS: Mapping[str, tuple[int, int]] = {  # name -> (low, high) density percentile
    "Lung": (2, 60),
    "Soft tissue": (30, 90),
    "Bone": (60, 99),
}
DENSITY_PERCENTILES = (1, 2, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 98, 99)
_PERCENTILE_SAMPLE = 250_000  # pixels enough for percentiles as good as all of them


def density_percentiles(radiograph: Radiograph) -> dict[int, float]:
    """Modality values at density percentiles (0 = least dense), padding left out.

    For MONOCHROME1 the densest tissue has the LOWEST values, so density percentile q is the
    value percentile 100 - q. Touches every pixel once: call it off the GUI thread.
    """
    values = radiograph.pixels
    if radiograph.padding_mask is not None:
        values = values[~radiograph.padding_mask]
    flat = values.reshape(-1)
    step = max(1, flat.size // _PERCENTILE_SAMPLE)
    value_q = [100 - q if radiograph.inverted else q for q in DENSITY_PERCENTILES]
    found = np.percentile(flat[::step], value_q) if flat.size else np.zeros(len(DENSITY_PERCENTILES))
    return {q: float(v) for q, v in zip(DENSITY_PERCENTILES, found)}


def relative_preset(percentiles: Mapping[int, float], name: str) -> Window:
    """The window named ``name`` (Lung, Soft tissue, Bone) for an image with these percentiles."""
    low_q, high_q = RELATIVE_PRESETS[name]
    a, b = percentiles[low_q], percentiles[high_q]
    low, high = min(a, b), max(a, b)
    if not high > low:
        high = low + 1.0
    return Window(center=(low + high) / 2, width=max(high - low, 1.0), name=name, function=WindowFunction.LINEAR)


def full_range_window(value_min: float, value_max: float) -> Window:
    """Every value of the image from black to white (LINEAR_EXACT: any width > 0 is allowed)."""
    return Window(center=(value_min + value_max) / 2, width=max(value_max - value_min, 1e-6),
                  name="Full data range", function=WindowFunction.LINEAR_EXACT)


@dataclass(frozen=True)
class WindowPresets:
    """The windows offered for one image, in the order of their keys."""

    windows: tuple[Window, ...] = ()

    @classmethod
    def for_image(cls, header_windows: Sequence[Window], default_window: Window,
                  percentiles: Mapping[int, float], value_min: float, value_max: float) -> WindowPresets:
        """Header windows (or the default window), lung / soft tissue / bone, full range; a
        window that shows the same as one before it is left out."""
        candidates = list(header_windows) or [default_window]
        candidates.extend(relative_preset(percentiles, name) for name in RELATIVE_PRESETS)
        candidates.append(full_range_window(value_min, value_max))
        tolerance = SAME_WINDOW * max(value_max - value_min, 1e-6)
        windows: list[Window] = []
        for window in candidates:
            if not any(abs(window.low - w.low) <= tolerance and abs(window.high - w.high) <= tolerance
                       for w in windows):
                windows.append(window)
        return cls(tuple(windows))

    def __len__(self) -> int:
        return len(self.windows)

    def at(self, index: int) -> Window | None:
        """The preset at ``index`` (0-based), or None past the end."""
        return self.windows[index] if 0 <= index < len(self.windows) else None

    def index_of(self, window: Window | None) -> int | None:
        """The position of ``window`` in the list, or None (a manual window, or none)."""
        return self.windows.index(window) if window is not None and window in self.windows else None

    def labels(self) -> list[str]:
        """'Header 1  [1]', ..., 'Full data range': what the presets list shows."""
        return [f"{w.name or 'Window'}{f'  [{i + 1}]' if i < PRESET_KEYS else ''}"
                for i, w in enumerate(self.windows)]


class WindowLevel:
    """The window of the image on screen, inversion, and the rule of a window/level drag.

    A drag moves the width with the horizontal distance and the level with the vertical one,
    ``step`` modality units per screen pixel, from the window the drag started with.
    """

    def __init__(self, default: Window, value_min: float, value_max: float) -> None:
        self.default = default
        self.window = default
        self.inverted = False
        self.step = max(value_max - value_min, 1e-6) / DRAG_SPAN_PX

    def reset(self) -> None:
        """The default window, not inverted."""
        self.window = self.default
        self.inverted = False

    def dragged(self, start: Window, dx: float, dy: float) -> Window:
        """The window after dragging (``dx``, ``dy``) screen pixels from ``start``."""
        width = max(start.width + dx * self.step, self.step)
        center = start.center + dy * self.step
        # LINEAR_EXACT accepts any width > 0 (float images may span less than 1 unit).
        return Window(center=center, width=width, name="Manual", function=WindowFunction.LINEAR_EXACT)
