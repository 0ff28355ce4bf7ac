"""Row 1(i): decode + THE preprocessing against the plain path, per image.

Plain path: ``pydicom.pixels.pixel_array(path)`` or ``cv2.imread(path, IMREAD_UNCHANGED)``, then
one ``cv2.resize`` (INTER_AREA) of the raw values to the model input: what a script would do, with
no windowing, no photometric handling and no checks. Ours: ``preprocess(path, H, W)``, which loads
a ``Radiograph`` (header checks, modality LUT) and produces windowed float32 in [0, 1].
"""

from __future__ import annotations

import os

import cv2
from pydicom.pixels import pixel_array

from viewer.core.preprocess import preprocess

from .common import Row, Settings, interleaved, ms, nih_images, rg1_path, skipped


def _plain(path: os.PathLike[str], kind: str, size: int) -> None:
    image = pixel_array(path) if kind == "dicom" else cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)


def rows(settings: Settings, size: int) -> list[Row]:
    cases = []
    pngs = nih_images(settings.data, size=1024, limit=1)
    if pngs:
        cases.append(("NIH PNG 1024x1024", pngs[0], "png"))
    else:
        cases.append(("NIH PNG 1024x1024", None, "png"))
    cases.append(("RG1_UNCR.dcm 1841x1955 16-bit", rg1_path(), "dicom"))
    out = []
    repeats = settings.repeats(40, 3)
    for name, path, kind in cases:
        what = f"decode + preprocess to {size} px: {name}"
        if path is None:
            out.append(skipped("1i", what))
            continue
        times = interleaved({
            "plain": lambda path=path, kind=kind: _plain(path, kind, size),
            "ours": lambda path=path: preprocess(path, size, size),
        }, repeats)
        ratio = times["ours"] / times["plain"]
        out.append(Row(
            "1i", what, ms(times["ours"]), f"{ms(times['plain'])} plain (read + cv2.resize)", ratio,
            "<= 1.0", ratio <= 1.0,
            f"ours windows to float32 in [0, 1]; plain resizes the raw integers; median of {repeats}",
        ))
    return out
