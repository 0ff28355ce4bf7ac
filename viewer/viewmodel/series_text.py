"""The words that tell the images of a PACS export apart: its files are all ``IM00000x``.

A DICOM image sits in the browser under a series row (``series_row_text``: its number,
description and image count) and its own row says which instance it is, its view and when it
was taken (``image_row_text``). ``series_caption`` is the same for the image on screen, for the
canvas to draw: 'Series 2 CHEST PA · image 3 of 12 · 2024-01-31 10:22'. Other formats have no
series: an image row says its file name and view, and there is no caption.
"""

from __future__ import annotations

from collections.abc import Sequence

from viewer.core.patient_tree import image_order
from viewer.core.radiograph import SourceFormat
from viewer.core.scan import ScannedImage

SEPARATOR = " \N{MIDDLE DOT} "


def has_series_row(image: ScannedImage) -> bool:
    """Whether the image sits under a series row: DICOM images, whose headers name their series."""
    return image.format is SourceFormat.DICOM


def series_title(number: int | None, description: str) -> str:
    """'Series 2 CHEST PA', 'Series 2', 'CHEST PA' or 'Series'."""
    return " ".join(x for x in (f"Series {number}" if number is not None else "", description.strip()) if x) \
        or "Series"


def series_row_text(number: int | None, description: str, count: int) -> str:
    """'Series 1 · CHEST PA · 3 images'."""
    parts = [f"Series {number}" if number is not None else "Series", description.strip(),
             f"{count} image{'s' if count != 1 else ''}"]
    return SEPARATOR.join(x for x in parts if x)


def image_row_text(image: ScannedImage) -> str:
    """A DICOM instance: 'Image 3 · PA · 2024-01-31 10:22' (its file name where it has no
    instance number), '· 5 frames' for a multi-frame one (a stack of its own); any other image:
    'name.png  [PA]'."""
    if has_series_row(image):
        first = f"Image {image.instance_number}" if image.instance_number is not None else image.name
        frames = f"{image.frames} frames" if image.frames > 1 else ""
        return SEPARATOR.join(x for x in (first, image.view_position, frames, image.acquired) if x)
    extras = [x for x in (image.view_position, image.modality) if x]
    return image.name + (f"  [{' '.join(extras)}]" if extras else "")


def series_caption(image: ScannedImage, members: Sequence[ScannedImage]) -> str | None:
    """'Series 2 CHEST PA · image 3 of 12 · 2024-01-31 10:22' for an image of ``members`` (its
    series as found so far, in any order); None for an image without a series."""
    if not has_series_row(image):
        return None
    paths = [member.path for member in sorted(members, key=image_order)]
    where = f"image {paths.index(image.path) + 1} of {len(paths)}" if image.path in paths else ""
    parts = (series_title(image.series_number, image.series_description), where, image.acquired)
    return SEPARATOR.join(x for x in parts if x)


def patient_title(image: ScannedImage, identity_shown: bool) -> str:
    """A patient row's words: the name and ID from the header (or the NIH patient number) only
    while the reader shows identity; else the scan's pseudonymous number with age and sex
    ('Patient 3 · 58 y M'). Images grouped by their folder (no patient in their files) keep
    the folder's name either way."""
    identified = image.format is SourceFormat.DICOM or image.patient_id is not None
    if identity_shown or not identified:
        return image.patient_label
    age_sex = " ".join(x for x in (f"{image.age} y" if image.age is not None else "", image.sex or "") if x)
    return SEPARATOR.join(x for x in (f"Patient {image.patient_key}", age_sex) if x)
