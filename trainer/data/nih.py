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
from .images import IMAGE_SUFFIXES, by_name, find_image_files, pair_files, report_pairing
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
    paired = pair_files(files, entries, by_name)
    samples = [Sample(path, path.name, entry.patient_id, entry.labels, entry.view, entry.age, entry.sex)
               for path, entry in paired.pairs.values()
               if not wanted_views or (entry.view or "") in wanted_views]
    if not samples:
        what = f" with view {'/'.join(sorted(wanted_views))}" if wanted_views else ""
        raise TrainerError(
            f"{folder}: none of its {len(files)} images is listed{what} in {csv_path.name} "
            "(the file names must match the CSV's 'Image Index' column)"
        )
    # rows without an image are normal for a partial download or a sample; counted so that a
    # missing images_0NN folder shows
    report_pairing(paired, folder, csv_path.name, len(entries))
    if max_images is not None:
        samples = samples[:max_images]
    return LabelledImages(samples, csv_path, NIH_LABELS, paired.unlabelled, paired.rows_without_image)
