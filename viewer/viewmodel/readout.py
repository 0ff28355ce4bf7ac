"""The text drawn over the image: what it is, its window, and the view.

An exported view leaves the file name out (``for_export``): a file name may carry the patient's
name, and an exported PNG carries no identifying text.
"""

from __future__ import annotations

from dataclasses import dataclass

from viewer.core.radiograph import Radiograph, Window

from .view_transform import ViewTransform


@dataclass(frozen=True)
class Readout:
    """Lines for three corners of the view (the fourth holds the heatmap's colour key)."""

    top_left: tuple[str, ...]
    bottom_left: tuple[str, ...]
    top_right: tuple[str, ...]


def level_text(value: float) -> str:
    """A window width or level: whole units from 100 up, three significant digits below."""
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"


def readout(radiograph: Radiograph, window: Window | None, inverted: bool, view: ViewTransform,
            *, for_export: bool) -> Readout:
    """The read-out of ``radiograph`` shown with ``window`` in ``view``."""
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
        bottom_left.append(f"W {level_text(window.width)}  L {level_text(window.center)}{name}")
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
