"""The text drawn over the image, corner by corner, as every viewer has it, and its scale bar.

Top left: the patient's identity (only when the user shows it), the file name, the image's place
in its series (``series_text.series_caption``), age and sex, the study date. Top right: modality,
view and laterality, series and image, zoom and orientation. Bottom left: the window, inversion,
the image's size and format, its pixel spacing (and where a spacing that is not the image's own
came from). The bottom right holds the heatmap's colour key, the bottom middle the scale bar. An
exported view leaves out the identity, the file name (it may carry the patient's name), the
series caption and the study date: an exported PNG carries nothing that identifies the patient.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from viewer.core.radiograph import Radiograph, Window

from .annotations import ImageFacts, ScaleBar, scale_bar
from .view_transform import ViewTransform

SCALE_BAR_SHARE = 0.25  # the scale bar is at most this share of the view's width


@dataclass(frozen=True)
class Readout:
    """Lines for three corners of the view (the fourth holds the heatmap's colour key), the
    identity lines drawn above the top left ones (empty unless shown; in no ``repr``), and the
    scale bar (None without a pixel spacing)."""

    top_left: tuple[str, ...]
    bottom_left: tuple[str, ...]
    top_right: tuple[str, ...]
    identity: tuple[str, ...] = field(default=(), repr=False)
    scale: ScaleBar | None = None


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
            *, for_export: bool, integer: bool | None = None, facts: ImageFacts | None = None,
            identity: Sequence[str] = (), viewport: tuple[float, float] | None = None,
            caption: str = "", name: str | None = None) -> Readout:
    """The read-out of ``radiograph`` shown with ``window`` in ``view``; ``integer``: its values
    are whole numbers (None: judged by their type); ``facts``: its description
    (``annotations.image_facts``); ``identity``: the identity lines the user asked to see (left
    out of an export); ``viewport``: the view's size, for the scale bar; ``caption``: the image's
    place in its series (left out of an export, like the file name and the dates); ``name``: the
    file name as the screen may show it (the caller removes identities from it), else the path's."""
    facts = facts or ImageFacts()
    top_left = [] if for_export else [radiograph.path.name if name is None else name, caption]
    top_left.append(facts.age_sex)
    if not for_export:
        top_left.append(facts.study_date)
    bottom_left = [f"{radiograph.width} x {radiograph.height} px  {radiograph.source_format.upper()}  "
                   f"{radiograph.photometric}"]
    if radiograph.pixel_spacing is not None:
        bottom_left.append(f"spacing {radiograph.pixel_spacing[0]:.3f} x {radiograph.pixel_spacing[1]:.3f} mm"
                           f"{spacing_note(radiograph.spacing_source)}")
    else:
        bottom_left.append("pixel spacing unknown: distances in pixels")
    if window is not None:  # last: the bottom line, where the eye looks while windowing
        name = f" ({window.name})" if window.name else ""
        whole = integer_data(radiograph) if integer is None else integer
        bottom_left.append(f"{window_text(window, whole)}{name}")
        if inverted:
            bottom_left.append("inverted")
    top_right = [facts.acquisition, facts.position, f"zoom {view.zoom * 100:.0f}%"]
    orientation = []
    if view.rotation_degrees:
        orientation.append(f"rotated {view.rotation_degrees}\N{DEGREE SIGN}")
    if view.flipped:
        orientation.append("flipped")
    if orientation:
        top_right.append(", ".join(orientation))
    scale = scale_bar(view, radiograph.pixel_spacing, viewport[0] * SCALE_BAR_SHARE) if viewport else None
    return Readout(_lines(top_left), _lines(bottom_left), _lines(top_right),
                   () if for_export else tuple(identity), scale)


def spacing_note(source: str | None) -> str:
    """Where a spacing that is not the image's own calibrated one came from: ImagerPixelSpacing
    is at the detector (it overstates sizes by the beam's magnification), and an NIH PNG's is
    the original radiograph's scaled to the PNG (Data_Entry)."""
    if source is None or source == "PixelSpacing":
        return ""
    if source == "ImagerPixelSpacing":
        return " (ImagerPixelSpacing: at the detector)"
    return " (from Data_Entry, scaled)" if source.startswith("Data_Entry") else f" ({source[:40]})"


def _lines(lines: Sequence[str]) -> tuple[str, ...]:
    return tuple(line for line in lines if line)
