"""Ground-truth boxes: which image, which finding, where; from NIH's, VinDr-CXR's or RSNA's file.

``find_bbox_csv`` finds the box file beside or above a folder of images, ``BoxTable.load`` reads
it, whichever of the three it is (``box_formats`` tells them apart by their header), and
``BoxTable.for_image`` gives an image's boxes in that image's pixels. NIH's and RSNA's boxes are
in the 1024x1024 pixel space of their original images and are scaled to the image's actual size
(the NIH sample's downsampled 512x512 PNGs, say); VinDr-CXR's are in the pixels of each original
DICOM, whose size the file does not give: they are placed as they are on the image as opened
(the original), or scaled from the original size when the caller knows it (``original=``).
Labels are normalised to the names of ``labels.NIH_LABELS`` where one corresponds.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath

from .box_formats import NIH, VINDR, BoxFormat, BoxListError, not_a_box_list, read_rows, recognise
from .csv_limits import LabelFileError, bounded_lines
from .heatmap import Box
from .labels import canonical_label, match_label, same_label

__all__ = [
    "BBOX_NAMES", "SOURCE_SIZE", "BoxListError", "BoxTable", "GroundTruthBox", "find_bbox_csv", "normalize_label",
]

SOURCE_SIZE = 1024  # NIH's boxes were drawn on the original 1024x1024 images (as were RSNA's)
# The box files, nearest first at each folder: each dataset's own names. VinDr-CXR's come in
# PhysioNet's layout (annotations/ beside train/ and test/) or Kaggle's (train.csv beside train/).
_NIH_AND_RSNA = ("BBox_List_2017.csv", "stage_2_train_labels.csv", "stage_1_train_labels.csv")


def _vindr_names(first: str, second: str) -> tuple[str, ...]:
    return (f"annotations/annotations_{first}.csv", f"annotations/annotations_{second}.csv",
            f"annotations_{first}.csv", f"annotations_{second}.csv", "train.csv")


BBOX_NAMES: tuple[str, ...] = _NIH_AND_RSNA + _vindr_names("train", "test")
_TEST_FIRST = _NIH_AND_RSNA + _vindr_names("test", "train")  # for a folder under test/
# A name other datasets use too (CheXpert's train.csv): taken only when its header is a box list's.
GENERIC_NAMES = frozenset({"train.csv"})
OUTSIDE_TOLERANCE = 0.01  # a box may overrun its original by a pixel or two, not by a scale factor


def normalize_label(label: str) -> str:
    """The official finding name for a box label (``Infiltrate`` -> ``Infiltration``), by the
    rule of ``labels.canonical_label``.

    Labels the NIH list does not know are returned stripped but otherwise unchanged.
    """
    return canonical_label(label) or label.strip()


@dataclass(frozen=True)
class GroundTruthBox:
    """One ground-truth box of one image, in that image's pixels (see ``BoxTable.for_image``).

    ``label`` is the finding, in NIH's name where one corresponds (VinDr's ``Pleural effusion``
    is ``Effusion``), else in the file's own (``Aortic enlargement``); ``findings`` the NIH
    findings it shows when they are more than its label (VinDr's ``Nodule/Mass``: Nodule and
    Mass); ``reader`` the radiologist who drew it, where the file says (VinDr's ``R8``).
    """

    image_index: str
    label: str
    x: float
    y: float
    w: float
    h: float
    reader: str = ""
    findings: tuple[str, ...] = ()
    source: str = NIH.title  # the file's dataset, as the findings panel names it

    @property
    def box(self) -> Box:
        """(x, y, w, h) as the ``heatmap`` module's ``Box``."""
        return Box(self.x, self.y, self.w, self.h)

    @property
    def names(self) -> tuple[str, ...]:
        """Every finding name the box answers to: its label, then ``findings``."""
        return (self.label, *(f for f in self.findings if f != self.label))

    @property
    def caption(self) -> str:
        """What the canvas writes beside it: the label, and who drew it where the file says."""
        return f"{self.label} ({self.reader})" if self.reader else self.label

    def shows(self, finding: str) -> bool:
        """Whether this is a box of ``finding`` (any spelling of it, by ``labels.same_label``)."""
        return any(same_label(name, finding) for name in self.names)

    def outputs(self, labels: Sequence[str]) -> dict[str, str]:
        """The model outputs among ``labels`` this box belongs to: {output: the name that matched}."""
        matched: dict[str, str] = {}
        for name in self.names:
            output = match_label(name, labels)
            if output is not None:
                matched.setdefault(output, name)
        return matched


class BoxTable:
    """All boxes of one box file, by image, in the file's own pixel space (``box_format``)."""

    def __init__(self, boxes: dict[str, list[GroundTruthBox]], source: Path | None = None,
                 box_format: BoxFormat = NIH) -> None:
        self._boxes = boxes
        self.source = source
        self.format = box_format

    @classmethod
    def load(cls, csv_path: str | os.PathLike[str]) -> BoxTable:
        """Read the file, whichever format its header says; raise ``BoxListError`` naming the line
        of anything unreadable."""
        path = Path(csv_path)
        remedy = "restore the box list from its dataset's download"
        try:
            with open(path, newline="", encoding="utf-8-sig") as handle:
                rows = csv.reader(bounded_lines(handle))
                header = next(rows, None)
                if header is None:
                    raise BoxListError(path, "is empty", remedy)
                box_format = recognise(header)
                if box_format is None:
                    raise not_a_box_list(path, header)
                remedy = box_format.remedy
                boxes: dict[str, list[GroundTruthBox]] = {}
                for row in read_rows(path, box_format, header, rows):
                    boxes.setdefault(row.image, []).append(GroundTruthBox(
                        row.image, row.label, row.x, row.y, row.w, row.h, row.reader, row.findings, box_format.title))
        except BoxListError:
            raise
        except LabelFileError as exc:
            raise BoxListError(path, str(exc), remedy) from None
        except UnicodeDecodeError:
            raise BoxListError(path, "is not a text CSV file", remedy) from None
        except csv.Error as exc:
            raise BoxListError(path, f"is not a readable CSV file ({exc})") from None
        except OSError as exc:
            raise BoxListError(path, f"cannot be read ({exc.strerror or exc})") from None
        return cls(boxes, path, box_format)

    def __len__(self) -> int:
        """Number of images with at least one box."""
        return len(self._boxes)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, (str, PurePath)) and self._key(name) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(self._boxes)

    @property
    def box_count(self) -> int:
        return sum(len(v) for v in self._boxes.values())

    @property
    def in_image_pixels(self) -> bool:
        """The boxes are in each original image's own pixels (VinDr-CXR), not a fixed space."""
        return self.format.source_size is None

    def labels_for(self, name: str | PurePath) -> tuple[str, ...]:
        """The findings that have a box on this image, in file order, without repeats."""
        return tuple(dict.fromkeys(b.label for b in self._image_boxes(name)))

    def for_image(self, name: str | PurePath, width: int, height: int,
                  original: tuple[int, int] | None = None) -> list[GroundTruthBox]:
        """The boxes of image ``name`` (a file name or path), in pixels of ``width`` x ``height``.

        Empty when the image has none. Boxes of a fixed space (NIH's and RSNA's 1024x1024) scale
        by ``width / 1024`` across and ``height / 1024`` down, as those images were made square
        without padding. Boxes in the original image's pixels (VinDr-CXR) scale from
        ``original`` = (width, height) of the original, by default the size given: the image as
        opened is the original. Such boxes reaching beyond the original raise ``BoxListError``:
        the image is a resized copy, on which they would be misplaced.
        """
        if width <= 0 or height <= 0:
            raise ValueError(f"image size must be positive, got {width}x{height}")
        size = self.format.source_size
        source_w, source_h = (size, size) if size is not None else (original or (width, height))
        if source_w <= 0 or source_h <= 0:
            raise ValueError(f"original size must be positive, got {source_w}x{source_h}")
        boxes = self._image_boxes(name)
        if self.in_image_pixels:
            self._check_inside(name, boxes, source_w, source_h)
        sx, sy = width / source_w, height / source_h
        return [
            GroundTruthBox(b.image_index, b.label, b.x * sx, b.y * sy, b.w * sx, b.h * sy, b.reader, b.findings,
                           b.source)
            for b in boxes
        ]

    def _check_inside(self, name: str | PurePath, boxes: list[GroundTruthBox], width: int, height: int) -> None:
        """Boxes in the original's pixels that reach well beyond the image: it is not the original
        (a downsampled copy), and they would be drawn in the wrong place."""
        right = max((b.x + b.w for b in boxes), default=0.0)
        bottom = max((b.y + b.h for b in boxes), default=0.0)
        if right > width * (1 + OUTSIDE_TOLERANCE) + 2 or bottom > height * (1 + OUTSIDE_TOLERANCE) + 2:
            raise BoxListError(
                self.source or Path("box list"),
                f"the boxes of {PurePath(name).name} reach {right:.0f} x {bottom:.0f} px, beyond its {width} x "
                f"{height} px: {self.format.title}'s boxes are in the original image's pixels",
                "open the original DICOMs, not a resized copy",
            )

    def _image_boxes(self, name: str | PurePath) -> list[GroundTruthBox]:
        key = self._key(name)
        return self._boxes[key] if key is not None else []

    def _key(self, name: str | PurePath) -> str | None:
        # match by file name only: a path from the folder scan or a bare Image Index both work;
        # VinDr's and RSNA's files name an image by its stem (<image_id>.dicom, <patientId>.dcm)
        base = PurePath(name).name if isinstance(name, PurePath) else os.path.basename(name.replace("\\", "/"))
        if base in self._boxes:
            return base
        if self.format.by_stem:
            stem = PurePath(base).stem
            if stem in self._boxes:
                return stem
        return None


def find_bbox_csv(folder: str | os.PathLike[str]) -> Path | None:
    """The box file (``BBOX_NAMES``) for a folder of images: in it or in the nearest parent.

    As the official downloads lay them out (``images/`` beside the CSV files), and as
    ``nih.find_data_entry`` finds the label file. A file path starts at its folder. Of
    VinDr-CXR's two annotation files, the test one comes first for a folder under ``test``. A
    ``train.csv`` counts only with VinDr-CXR's header. None if absent.
    """
    start = Path(folder).absolute()
    if not start.is_dir():
        start = start.parent
    names = _TEST_FIRST if "test" in (part.casefold() for part in start.parts) else BBOX_NAMES
    for directory in (start, *start.parents):
        for name in names:
            candidate = directory / name
            try:
                if candidate.is_file() and (name not in GENERIC_NAMES or _header_format(candidate) is VINDR):
                    return candidate
            except OSError:  # an unreadable parent (permissions, stale mount): keep looking up
                continue
    return None


def _header_format(path: Path) -> BoxFormat | None:
    """The box format of a file's first line, or None (unreadable, or another kind of CSV)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            header = next(csv.reader(bounded_lines(handle)), None)
    except (OSError, UnicodeDecodeError, LabelFileError, csv.Error):
        return None
    return recognise(header) if header is not None else None
