"""The image files under a data folder, and their pairing with a label file's rows.

Every dataset reader searches ``--data`` the same way (``find_image_files``), so links, hidden
files and unreadable entries are treated alike whatever the dataset, and pairs files with rows
the same way (``pair_files``): an image listed once however many copies the folder holds, the
files no row names and the rows no file has counted and reported alike (``report_pairing``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

from viewer.core.errors import ImageLoadError
from viewer.core.loader import DICOM_SUFFIXES, RASTER_SUFFIXES, load_radiograph
from viewer.core.radiograph import Radiograph
from viewer.core.walk import walk_files

from ..errors import TrainerError
from .labels import Sample

IMAGE_SUFFIXES = frozenset(RASTER_SUFFIXES | DICOM_SUFFIXES)
log = logging.getLogger(__name__)
Row = TypeVar("Row")
Prepared = TypeVar("Prepared")


def find_image_files(folder: Path) -> list[Path]:
    """Every file with an image suffix under ``folder`` (recursively), sorted by path.

    NIH's download spreads its images over ``images_001/images/`` ... folders. Links are
    followed, each real folder once (a symlink loop ends), to folders outside ``folder`` too (a
    dataset is often assembled from links to other disks) but never into ``/proc``, ``/sys`` or
    ``/dev``; hidden files (``._AppleDouble`` twins) are left out, as the viewer's folder scan
    leaves them out. Image-named entries that
    are not regular files are listed, so that they are reported as unreadable, not lost.
    """
    found = []
    for entry in walk_files(folder, follow_links=True):
        # an image-named pipe, device or broken link is kept: the loader says what is wrong
        path = entry if isinstance(entry, Path) else entry.path if entry.kind == "file" else None
        if path is not None and path.suffix.lower() in IMAGE_SUFFIXES:
            found.append(path)
    return sorted(found)


@dataclass
class Paired(Generic[Row]):
    """Image files paired with label rows by a key (file name or stem)."""

    pairs: dict[str, tuple[Path, Row]]  # key -> (its first file by path, its row), in path order
    unlabelled: list[Path] = field(default_factory=list)  # files no row names
    copies: list[Path] = field(default_factory=list)  # later files of a key already paired
    rows_without_image: int = 0  # rows whose key no file has


def by_name(path: Path) -> str:
    """A file's key when the label file names whole file names (NIH, PadChest)."""
    return path.name


def by_stem(path: Path) -> str:
    """A file's key when the label file names images without suffix (MIMIC, VinDr, RSNA, SIIM):
    ``x.dicom`` and a converted ``x.png`` are the same image."""
    return path.stem


def pair_files(files: Sequence[Path], rows: Mapping[str, Row], key: Callable[[Path], str] = by_stem) -> Paired[Row]:
    """Pair each of ``files`` (sorted by path) with the row of its key; a second file of a key
    (the same image in two folders, or as DICOM and PNG) is learnt from once: it is a copy."""
    paired: Paired[Row] = Paired({})
    for path in files:
        name = key(path)
        row = rows.get(name)
        if row is None:
            paired.unlabelled.append(path)
        elif name in paired.pairs:
            paired.copies.append(path)
        else:
            paired.pairs[name] = (path, row)
    paired.rows_without_image = sum(1 for name in rows if name not in paired.pairs)
    return paired


def report_pairing(paired: Paired[Row], folder: Path, label_file: str, rows: int, *, name_files: bool = True) -> None:
    """Log what pairing left out: copies and files without a row (warnings: the user may have
    meant them), rows without a file (information: normal for a partial download). With
    ``name_files=False`` no file name is logged (an RSNA file name is a PatientID)."""
    for what, files in (("are second copies of an image there", paired.copies),
                        (f"are not in {label_file}", paired.unlabelled)):
        if files:
            example = f" (e.g. {files[0].name})" if name_files else ""
            log.warning("%d images under %s %s and are left out%s", len(files), folder, what, example)
    if paired.rows_without_image:
        log.info("%d of the %d images of %s are not under %s and are skipped", paired.rows_without_image, rows,
                 label_file, folder)


def prepared_in_chunks(samples: Sequence[Sample], prepare: Callable[[Radiograph], Prepared], size: int,
                       unreadable: dict[str, str], on_progress: Callable[[int, int], None] | None = None,
                       ) -> Iterator[tuple[list[Sample], list[Prepared]]]:
    """The readable ``samples``, ``size`` at a time, each decoded once and given to ``prepare``
    (the model's preprocessing, at one size or several): what every command that runs a model on
    a split's images (report, baselines, calibrate, compare) iterates over. An image that cannot
    be read or prepared is named in ``unreadable`` (image name -> why) and left out, never
    silently; ``on_progress(done, total)`` after each chunk."""
    for start in range(0, len(samples), size):
        chunk: list[Sample] = []
        prepared: list[Prepared] = []
        for sample in samples[start:start + size]:
            try:
                prepared.append(prepare(load_radiograph(sample.path)))
            except ImageLoadError as exc:
                unreadable[sample.image_index] = str(exc)
                continue
            chunk.append(sample)
        if chunk:
            yield chunk, prepared
        if on_progress:
            on_progress(min(start + size, len(samples)), len(samples))


def none_readable(samples: Sequence[Sample], unreadable: Mapping[str, str]) -> TrainerError:
    """The error when ``prepared_in_chunks`` left no image: how many, and one reason."""
    example = next(iter(unreadable.values()), "no images")
    return TrainerError(f"none of the {len(samples)} images could be read (e.g. {example})")
