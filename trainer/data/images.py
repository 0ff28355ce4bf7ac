"""The image files under a data folder: what every dataset reader pairs with its label file.

Each reader (``nih``, ``chexpert``, ``mimic``) searches ``--data`` the same way, so links, hidden
files and unreadable entries are treated alike whatever the dataset.
"""

from __future__ import annotations

from pathlib import Path

from viewer.core.loader import DICOM_SUFFIXES, RASTER_SUFFIXES
from viewer.core.walk import walk_files

IMAGE_SUFFIXES = frozenset(RASTER_SUFFIXES | DICOM_SUFFIXES)


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
