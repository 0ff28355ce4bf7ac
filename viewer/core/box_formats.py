"""The ground-truth box files the viewer and the report read, told apart by their header.

* NIH ChestX-ray14's ``BBox_List_2017.csv``: ``Image Index,Finding Label,Bbox [x,y,w,h],,,``
  (the box title split by its own commas over four columns), top-left corner, width and height
  in the 1024x1024 pixel space of the original images. ``Infiltrate`` means Infiltration.
* VinDr-CXR's ``train.csv`` (Kaggle) and ``annotations/annotations_train.csv`` /
  ``annotations_test.csv`` (PhysioNet): ``image_id,rad_id,class_name,x_min,y_min,x_max,y_max``
  (``rad_id`` and ``class_id`` may be absent, columns in any order), corners in the pixels of the
  original DICOM, whose sizes vary (about 2000 to 3000 px). One row per radiologist's box, so a
  finding can have up to three boxes; ``No finding`` rows, and image-level labels without
  coordinates, have no box. Images are named by ``image_id``, the file stem.
* The RSNA Pneumonia Detection Challenge's ``stage_2_train_labels.csv`` (and stage 1's):
  ``patientId,x,y,width,height,Target`` in the 1024x1024 DICOMs' pixels, the boxes of lung
  opacities suggesting pneumonia; ``Target`` 0 rows have no box. Images are named by ``patientId``.

A class name is mapped to the NIH finding it is (``findings_of``), so that a box belongs to the
model's output for that finding as NIH's boxes do.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import NamedTuple

from .errors import FileProblem
from .labels import canonical_label


class BoxListError(FileProblem):
    """A box list cannot be read, or is none of the box lists of ``box_formats``."""


@dataclass(frozen=True)
class BoxFormat:
    """One dataset's box file: how it names images and in which pixels its boxes are."""

    key: str  # "nih", "vindr" or "rsna"
    title: str  # the source as the viewer and the report name it
    source_size: int | None  # the square pixel space the boxes were drawn in; None: the original image's pixels
    by_stem: bool  # rows name images by file stem (no extension), not by file name
    remedy: str  # what fixes a broken file of this format


NIH = BoxFormat("nih", "BBox_List_2017", 1024, False, "restore BBox_List_2017.csv from the NIH download")
VINDR = BoxFormat("vindr", "VinDr-CXR", None, True, "restore the box CSV from the VinDr-CXR download")
RSNA = BoxFormat("rsna", "RSNA Pneumonia", 1024, True, "restore stage_2_train_labels.csv from the RSNA download")

# VinDr-CXR class names -> the NIH findings they show, where the name alone does not say it (a
# name equal to an NIH label but for case and spaces, "Pleural thickening", needs no row). As
# trainer/data/taxonomy.py pairs VinDr's labels with NIH's (a test checks that they agree), with
# one addition for boxes only: a Nodule/Mass box shows a nodule or a mass, so it is a box of
# both (taxonomy does not pair the labels, as a Nodule/Mass label says neither which).
VINDR_FINDINGS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "Pleural effusion": ("Effusion",),
    "Pulmonary fibrosis": ("Fibrosis",),
    "Nodule/Mass": ("Nodule", "Mass"),
})
VINDR_NO_BOX = "No finding"
RSNA_LABEL = "Pneumonia"  # Target 1: "Lung Opacity" in the detailed class file, evidence of pneumonia


class BoxRow(NamedTuple):
    """One box as a file gives it, in that file's pixel space."""

    image: str
    label: str
    findings: tuple[str, ...]  # the NIH findings it shows when more than its label (Nodule/Mass)
    reader: str  # who drew it (VinDr's rad_id), "" when the file does not say
    x: float
    y: float
    w: float
    h: float


@lru_cache(maxsize=256)  # a file repeats its few class names tens of thousands of times
def findings_of(class_name: str) -> tuple[str, ...]:
    """The NIH findings a VinDr-CXR class name means (``Pleural effusion`` -> Effusion,
    ``Nodule/Mass`` -> Nodule and Mass); empty for one NIH does not have (``Aortic enlargement``)."""
    name = class_name.strip()
    for key, findings in VINDR_FINDINGS.items():
        if key.casefold() == name.casefold():
            return findings
    canonical = canonical_label(name)
    return (canonical,) if canonical else ()


def recognise(header: list[str]) -> BoxFormat | None:
    """The format whose header this is, or None."""
    names = {cell.strip() for cell in header}
    if {"Image Index", "Finding Label"} <= names and any(n.lower().startswith("bbox") for n in names):
        return NIH
    if {"image_id", "class_name", "x_min", "y_min", "x_max", "y_max"} <= names:
        return VINDR
    if {"patientId", "x", "y", "width", "height", "Target"} <= names:
        return RSNA
    return None


def not_a_box_list(path: Path, header: list[str]) -> BoxListError:
    """The error for a header that is none of the three formats'."""
    found = ", ".join(repr(n.strip()) for n in header[:6] if n.strip()) or "nothing"
    return BoxListError(
        path,
        "is not a BBox_List_2017.csv, nor a VinDr-CXR or RSNA box list: its header needs 'Image Index', "
        "'Finding Label' and 'Bbox [x,y,w,h]' (NIH), or image_id, class_name, x_min, y_min, x_max, y_max "
        f"(VinDr-CXR), or patientId, x, y, width, height, Target (RSNA) (found {found})",
        "use the box list of the NIH, VinDr-CXR or RSNA download",
    )


def read_rows(path: Path, box_format: BoxFormat, header: list[str], rows: Iterator[list[str]]) -> Iterator[BoxRow]:
    """The boxes of the rows after ``header``; ``BoxListError`` names the line of a bad one."""
    names = [cell.strip() for cell in header]
    if box_format is NIH:
        return _nih_rows(path, names, rows)
    if box_format is VINDR:
        return _vindr_rows(path, names, rows)
    return _rsna_rows(path, names, rows)


def _lines(path: Path, rows: Iterator[list[str]], needed: int) -> Iterator[tuple[int, list[str]]]:
    """(line number, row) of the non-blank rows, each checked to have ``needed`` fields."""
    for line, row in enumerate(rows, start=2):
        if not any(cell.strip() for cell in row):
            continue  # blank lines (a trailing newline, an editor's extra line)
        if len(row) < needed:
            raise BoxListError(path, f"line {line} has {len(row)} fields, expected at least {needed}")
        yield line, row


def _numbers(path: Path, line: int, cells: list[str]) -> tuple[float, ...]:
    try:
        values = tuple(float(cell) for cell in cells)
    except ValueError:
        raise BoxListError(path, f"line {line}: box {cells} is not four numbers") from None
    if not all(math.isfinite(v) for v in values):
        raise BoxListError(path, f"line {line}: box {cells} is not four finite numbers")
    return values


def _checked(path: Path, line: int, row: BoxRow, name_it: bool = True) -> BoxRow:
    """``row``, or the error of an empty box or image name; ``name_it``: the image's name may be
    shown (a file name; RSNA's patientId is a patient ID, so the line number says which)."""
    if row.w <= 0 or row.h <= 0 or not row.image:
        which = f"'{row.image}' has" if name_it else "has"
        raise BoxListError(path, f"line {line}: {which} an empty or invalid box {[row.x, row.y, row.w, row.h]}")
    return row


def _nih_rows(path: Path, names: list[str], rows: Iterator[list[str]]) -> Iterator[BoxRow]:
    image, label = names.index("Image Index"), names.index("Finding Label")
    x_col = next(i for i, n in enumerate(names) if n.lower().startswith("bbox"))
    for line, row in _lines(path, rows, max(image, label, x_col + 3) + 1):
        x, y, w, h = _numbers(path, line, row[x_col:x_col + 4])
        name = row[label].strip()
        yield _checked(path, line, BoxRow(row[image].strip(), canonical_label(name) or name, (), "", x, y, w, h))


def _vindr_rows(path: Path, names: list[str], rows: Iterator[list[str]]) -> Iterator[BoxRow]:
    image, label = names.index("image_id"), names.index("class_name")
    corners = [names.index(n) for n in ("x_min", "y_min", "x_max", "y_max")]
    reader = names.index("rad_id") if "rad_id" in names else None
    for line, row in _lines(path, rows, max(image, label, *corners, reader or 0) + 1):
        class_name = row[label].strip()
        cells = [row[i].strip() for i in corners]
        if class_name.casefold() == VINDR_NO_BOX.casefold() or not any(cells):
            continue  # an image-level label: no box
        x0, y0, x1, y1 = _numbers(path, line, cells)
        findings = findings_of(class_name)
        shown = findings[0] if len(findings) == 1 else class_name  # NIH's name where there is one
        yield _checked(path, line, BoxRow(row[image].strip(), shown, findings if len(findings) > 1 else (),
                                          row[reader].strip() if reader is not None else "",
                                          x0, y0, x1 - x0, y1 - y0))


def _rsna_rows(path: Path, names: list[str], rows: Iterator[list[str]]) -> Iterator[BoxRow]:
    image, target = names.index("patientId"), names.index("Target")
    columns = [names.index(n) for n in ("x", "y", "width", "height")]
    for line, row in _lines(path, rows, max(image, target, *columns) + 1):
        flag = row[target].strip()
        if flag == "0":
            continue  # no pneumonia: no box
        if flag != "1":
            raise BoxListError(path, f"line {line}: Target is {flag!r}, not 0 or 1")
        x, y, w, h = _numbers(path, line, [row[i].strip() for i in columns])
        yield _checked(path, line, BoxRow(row[image].strip(), RSNA_LABEL, (), "", x, y, w, h), name_it=False)
