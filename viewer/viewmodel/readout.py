"""The text drawn over the image: what it is, its window, and the view.

An exported view leaves the file name out (``for_export``): a file name may carry the patient's
name, and an exported PNG carries no identifying text.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from viewer.core.radiograph import Radiograph, Window

from .view_transform import ViewTransform


@dataclass(frozen=True)
class Readout:
    """Lines for three corners of the view (the fourth holds the heatmap's colour key)."""

    top_left: tuple[str, ...]
    bottom_left: tuple[str, ...]
    top_right: tuple[str, ...]


def level_text(value: float, integer: bool = False) -> str:
    """A window width or level as precise as it means something: whole units for integer data
    (a drag moves the window by fractions of a unit that no pixel has) and from 1000 up, four
    significant digits otherwise."""
    value = value + 0.0  # no "-0"
    if (integer and abs(value) >= 1) or abs(value) >= 1000:
        return f"{value:.0f}"
    return f"{value:.4g}"


def window_text(window: Window, integer: bool = False) -> str:
    """'W 400  L 40': the window as the overlay and the status bar both show it."""
    return f"W {level_text(window.width, integer)}  L {level_text(window.center, integer)}"


def integer_data(radiograph: Radiograph) -> bool:
    """Whether the image's values are whole numbers by their type (the display's renderer
    knows it exactly, after any rescale: pass its answer to ``readout`` where it is at hand)."""
    return bool(np.issubdtype(radiograph.pixels.dtype, np.integer))


def readout(radiograph: Radiograph, window: Window | None, inverted: bool, view: ViewTransform,
            *, for_export: bool, integer: bool | None = None) -> Readout:
    """The read-out of ``radiograph`` shown with ``window`` in ``view``; ``integer``: its values
    are whole numbers (None: judged by their type)."""
    top_left = [] if for_export else [radiograph.path.name]
    top_left.append(f"{radiograph.width} x {radiograph.height} px  {radiograph.source_format.upper()}  "
                    f"{radiograph.photometric}")
    if radiograph.pixel_spacing is not None:
        top_left.append(f"spacing {radiograph.pixel_spacing[0]:.3f} x {radiograph.pixel_spacing[1]:.3f} mm")
    else:
        top_left.append("pixel spacing unknown: distances in pixels")
    bottom_left: list[str] = []
    if window is not None:
        name = f" ({window.name})" if window.name else ""
        whole = integer_data(radiograph) if integer is None else integer
        bottom_left.append(f"{window_text(window, whole)}{name}")
        if inverted:
            bottom_left.append("inverted")
    top_right = [f"zoom {view.zoom * 100:.0f}%"]
    orientation = []
    if view.rotation_degrees:
        orientation.append(f"rotated {view.rotation_degrees}\N{DEGREE SIGN}")
    if view.flipped:
        orientation.append("flipped")
    if orientation:
        top_right.append(", ".join(orientation))
    return Readout(tuple(top_left), tuple(bottom_left), tuple(top_right))
