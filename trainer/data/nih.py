"""The NIH ChestX-ray14 reader: the image files under ``--data`` with their Data_Entry rows.

``load_labelled_images`` pairs the image files under a folder (searched recursively) with their
rows of the NIH Data_Entry CSV (``viewer.core.nih``). It is a ``DatasetReader``
(``trainer.data.labels``): another dataset's reader returns the same ``LabelledImages``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

from viewer.core.nih import NIH_LABELS, find_data_entry, read_data_entry

from ..errors import TrainerError
from .images import IMAGE_SUFFIXES, find_image_files
from .labels import LabelledImages, Sample

__all__ = ["IMAGE_SUFFIXES", "find_image_files", "load_labelled_images"]

log = logging.getLogger(__name__)


def load_labelled_images(
    data: str | os.PathLike[str],
    labels_csv: str | os.PathLike[str] | None = None,
    views: Sequence[str] = (),
    max_images: int | None = None,
) -> LabelledImages:
    """The labelled images under ``data``; raises ``TrainerError`` saying what is missing.

    ``labels_csv`` defaults to the Data_Entry CSV in ``data`` or a parent folder. ``views``
    keeps only those view positions (PA, AP). ``max_images`` keeps the first images by name.
    """
    folder = Path(data)
    if not folder.is_dir():
        raise TrainerError(f"{folder}: data folder not found (pass --data FOLDER with the NIH images)")
    csv_path = Path(labels_csv) if labels_csv else find_data_entry(folder)
    if csv_path is None:
        raise TrainerError(
            f"{folder}: no Data_Entry_2017_v2020.csv or Data_Entry_2017.csv in this folder or its "
            "parents (put the NIH label file beside the images, or pass --labels-csv FILE)"
        )
    entries = read_data_entry(csv_path)  # DataEntryError (a CxrError) names the file's problem
    files = find_image_files(folder)
    if not files:
        raise TrainerError(
            f"{folder}: no images (looked for {', '.join(sorted(IMAGE_SUFFIXES))} in it and its subfolders)"
        )
    wanted_views = {v.strip().upper() for v in views if v.strip()}
    samples: list[Sample] = []
    unlabelled: list[Path] = []
    seen: set[str] = set()
    for path in files:
        entry = entries.get(path.name)
        if entry is None:
            unlabelled.append(path)
            continue
        if path.name in seen:  # the same image in two subfolders: learn from it once
            log.warning("%s: a second copy of %s, left out", path, path.name)
            continue
        if wanted_views and (entry.view or "") not in wanted_views:
            continue
        seen.add(path.name)
        samples.append(Sample(path, path.name, entry.patient_id, entry.labels, entry.view, entry.age, entry.sex))
    if not samples:
        what = f" with view {'/'.join(sorted(wanted_views))}" if wanted_views else ""
        raise TrainerError(
            f"{folder}: none of its {len(files)} images is listed{what} in {csv_path.name} "
            "(the file names must match the CSV's 'Image Index' column)"
        )
    if unlabelled:
        log.warning("%d images under %s are not in %s and are left out (e.g. %s)",
                    len(unlabelled), folder, csv_path.name, unlabelled[0].name)
    found = {path.name for path in files}
    rows_without_image = sum(1 for name in entries if name not in found)
    if rows_without_image:
        # normal for a partial download or a sample; counted so a missing images_0NN folder shows
        log.info("%d of the %d rows of %s have no image under %s and are skipped", rows_without_image,
                 len(entries), csv_path.name, folder)
    if max_images is not None:
        samples = samples[:max_images]
    return LabelledImages(samples, csv_path, NIH_LABELS, unlabelled, rows_without_image)
