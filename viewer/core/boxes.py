"""The NIH ground-truth boxes, ``BBox_List_2017.csv``: which image, which finding, where.

The official file's header is ``Image Index,Finding Label,Bbox [x,y,w,h],,,``: the box title
is split by its own commas over four columns (``Bbox [x``, ``y``, ``w``, ``h]``) followed by
empty ones, and each row then has six fields. Coordinates are in the 1024x1024 pixel space of
the original images (top-left corner, width, height); ``BoxTable.for_image`` scales them to the
image's actual size (the NIH sample's downsampled 512x512 PNGs, say). Infiltration's boxes are
labelled ``Infiltrate`` in the file; labels are normalised to the names of ``labels.NIH_LABELS``.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePath

from .csv_limits import LabelFileError, bounded_lines
from .errors import FileProblem
from .heatmap import Box
from .labels import canonical_label
from .nih import find_upwards

BBOX_NAMES: tuple[str, ...] = ("BBox_List_2017.csv",)
SOURCE_SIZE = 1024  # the boxes were drawn on the original 1024x1024 images



class BoxListError(FileProblem):
    """The box list cannot be read or is not a ``BBox_List_2017.csv``."""


def normalize_label(label: str) -> str:
    """The official finding name for a box label (``Infiltrate`` -> ``Infiltration``), by the
    rule of ``labels.canonical_label``.

    Labels the NIH list does not know are returned stripped but otherwise unchanged.
    """
    return canonical_label(label) or label.strip()


@dataclass(frozen=True)
class GroundTruthBox:
    """One ground-truth box of one image, in that image's pixels (see ``BoxTable.for_image``)."""

    image_index: str
    label: str
    x: float
    y: float
    w: float
    h: float

    @property
    def box(self) -> Box:
        """(x, y, w, h) as the ``heatmap`` module's ``Box``."""
        return Box(self.x, self.y, self.w, self.h)


class BoxTable:
    """All boxes of one ``BBox_List_2017.csv``, by image file name, in 1024-pixel space."""

    def __init__(self, boxes: dict[str, list[GroundTruthBox]], source: Path | None = None) -> None:
        self._boxes = boxes
        self.source = source

    @classmethod
    def load(cls, csv_path: str | os.PathLike[str]) -> BoxTable:
        """Read the file; raise ``BoxListError`` naming the line of anything unreadable."""
        path = Path(csv_path)
        try:
            with open(path, newline="", encoding="utf-8-sig") as handle:
                rows = csv.reader(bounded_lines(handle))
                header = next(rows, None)
                if header is None:
                    raise BoxListError(path, "is empty", "restore BBox_List_2017.csv from the NIH download")
                columns = _columns(path, header)
                boxes = _read_rows(path, rows, columns)
        except BoxListError:
            raise
        except LabelFileError as exc:
            raise BoxListError(path, str(exc), "restore BBox_List_2017.csv from the NIH download") from None
        except UnicodeDecodeError:
            raise BoxListError(
                path, "is not a text CSV file", "restore BBox_List_2017.csv from the NIH download"
            ) from None
        except csv.Error as exc:
            raise BoxListError(path, f"is not a readable CSV file ({exc})") from None
        except OSError as exc:
            raise BoxListError(path, f"cannot be read ({exc.strerror or exc})") from None
        return cls(boxes, path)

    def __len__(self) -> int:
        """Number of images with at least one box."""
        return len(self._boxes)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, (str, PurePath)) and _key(name) in self._boxes

    def __iter__(self) -> Iterator[str]:
        return iter(self._boxes)

    @property
    def box_count(self) -> int:
        return sum(len(v) for v in self._boxes.values())

    def labels_for(self, name: str | PurePath) -> tuple[str, ...]:
        """The findings that have a box on this image, in file order, without repeats."""
        return tuple(dict.fromkeys(b.label for b in self._boxes.get(_key(name), ())))

    def for_image(self, name: str | PurePath, width: int, height: int) -> list[GroundTruthBox]:
        """The boxes of image ``name`` (a file name or path), scaled to ``width`` x ``height``.

        Empty when the image has none. The scale is ``width / 1024`` across and ``height / 1024``
        down, as the NIH images were made square without padding.
        """
        if width <= 0 or height <= 0:
            raise ValueError(f"image size must be positive, got {width}x{height}")
        sx, sy = width / SOURCE_SIZE, height / SOURCE_SIZE
        return [
            GroundTruthBox(b.image_index, b.label, b.x * sx, b.y * sy, b.w * sx, b.h * sy)
            for b in self._boxes.get(_key(name), ())
        ]


def _key(name: str | PurePath) -> str:
    # match by file name only: a path from the folder scan or a bare Image Index both work
    return PurePath(name).name if isinstance(name, PurePath) else os.path.basename(name.replace("\\", "/"))


def _columns(path: Path, header: list[str]) -> tuple[int, int, int]:
    names = [cell.strip() for cell in header]
    try:
        image = names.index("Image Index")
        label = names.index("Finding Label")
        bbox = next(i for i, n in enumerate(names) if n.lower().startswith("bbox"))
    except (ValueError, StopIteration):
        raise BoxListError(
            path,
            "is not a BBox_List_2017.csv: its header needs 'Image Index', 'Finding Label' and "
            f"'Bbox [x,y,w,h]' (found {', '.join(repr(n) for n in names[:6] if n) or 'nothing'})",
            "use the box list of the NIH ChestX-ray14 download",
        ) from None
    return image, label, bbox


def _read_rows(path: Path, rows: Iterator[list[str]], columns: tuple[int, int, int]) -> dict[str, list[GroundTruthBox]]:
    image_col, label_col, x_col = columns
    needed = max(image_col, label_col, x_col + 3) + 1
    boxes: dict[str, list[GroundTruthBox]] = {}
    for line, row in enumerate(rows, start=2):
        if not any(cell.strip() for cell in row):
            continue  # blank lines (a trailing newline, an editor's extra line)
        if len(row) < needed:
            raise BoxListError(path, f"line {line} has {len(row)} fields, expected at least {needed}")
        name = row[image_col].strip()
        try:
            x, y, w, h = (float(row[x_col + i]) for i in range(4))
        except ValueError:
            raise BoxListError(
                path, f"line {line}: box {row[x_col:x_col + 4]} is not four numbers"
            ) from None
        if not all(math.isfinite(v) for v in (x, y, w, h)) or w <= 0 or h <= 0 or not name:
            raise BoxListError(path, f"line {line}: '{name}' has an empty or invalid box {[x, y, w, h]}")
        box = GroundTruthBox(name, normalize_label(row[label_col]), x, y, w, h)
        boxes.setdefault(name, []).append(box)
    return boxes


def find_bbox_csv(folder: str | os.PathLike[str]) -> Path | None:
    """The ``BBox_List_2017.csv`` for a folder of NIH images: in it or in the nearest parent.

    As the official download lays it out (``images/`` beside the CSV files), and as
    ``nih.find_data_entry`` finds the label file. A file path starts at its folder. None if absent.
    """
    return find_upwards(folder, BBOX_NAMES)
