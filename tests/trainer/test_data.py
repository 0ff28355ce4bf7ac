"""trainer.data: pairing image files with their Data_Entry rows, and the datasets."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import torch

from trainer.config import TrainConfig
from trainer.data.augment import AugmentConfig
from trainer.data.datasets import EvalImages, TrainImages
from trainer.data.labels import LabelledImages, label_matrix
from trainer.data.nih import load_labelled_images
from trainer.data.sources import DecodeSource
from trainer.errors import TrainerError
from trainer.pipeline.prepare import prepare_data
from viewer.core.nih import NIH_LABELS, DataEntryError
from viewer.core.preprocess import preprocess


def test_pairs_files_with_their_rows(tiny_data: Path) -> None:
    table = load_labelled_images(tiny_data)
    assert len(table.samples) == 48
    assert table.csv_path.name == "Data_Entry_2017_v2020.csv"
    first = table.samples[0]
    assert (first.image_index, first.patient_id, first.view) == ("00000001_000.png", 1, "PA")
    assert [s.image_index for s in table.samples] == sorted(s.image_index for s in table.samples)
    targets = table.targets()
    assert targets.shape == (48, 14) and targets.dtype == np.float32
    assert (targets.sum(axis=0) > 0).all()  # the generator gives every finding positives


def test_unlisted_images_are_left_out_and_views_filter(tiny_data: Path, tmp_path: Path) -> None:
    data = shutil.copytree(tiny_data, tmp_path / "copy")
    shutil.copy(data / "images" / "00000001_000.png", data / "images" / "99999999_000.png")
    nested = data / "images" / "more"
    nested.mkdir()
    shutil.copy(data / "images" / "00000002_000.png", nested / "00000002_000.png")  # a second copy
    table = load_labelled_images(data)
    assert [p.name for p in table.unlabelled] == ["99999999_000.png"]
    assert len(table.samples) == 48
    assert load_labelled_images(data, views=["PA"]).samples == table.samples
    with pytest.raises(TrainerError, match="none of its 50 images is listed with view AP"):
        load_labelled_images(data, views=["AP"])
    assert len(load_labelled_images(data, max_images=5).samples) == 5


def test_label_matrix_follows_the_label_order() -> None:
    from trainer.data.labels import Sample

    samples = [Sample(Path("a.png"), "a.png", 1, ("Hernia", "Atelectasis"), "PA"),
               Sample(Path("b.png"), "b.png", 2, (), "PA")]
    matrix = label_matrix(samples, NIH_LABELS)
    assert matrix[0, 0] == 1 and matrix[0, 13] == 1 and matrix.sum() == 2


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ("no_csv", "no Data_Entry_2017_v2020.csv or Data_Entry_2017.csv"),
        ("empty", "no images"),
        ("missing", "data folder not found"),
        ("unlisted", "none of its 1 images is listed"),
    ],
)
def test_bad_data_folders(tmp_path: Path, layout: str, message: str) -> None:
    folder = tmp_path / "data"
    if layout != "missing":
        (folder / "images").mkdir(parents=True)
    if layout in ("empty", "unlisted"):
        (folder / "Data_Entry_2017.csv").write_text("Image Index,Finding Labels,Patient ID\nx.png,Edema,1\n")
    if layout in ("no_csv", "unlisted"):
        (folder / "images" / "00000001_000.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    with pytest.raises(TrainerError, match=message):
        load_labelled_images(folder)


def test_a_csv_without_the_columns_names_its_problem(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "Data_Entry_2017.csv").write_text("name,labels\nx.png,Edema\n")
    with pytest.raises(DataEntryError, match="no column 'Image Index'"):
        load_labelled_images(tmp_path)


def test_datasets_give_model_ready_tensors(tiny_data: Path) -> None:
    table = load_labelled_images(tiny_data)
    paths = [s.path for s in table.samples[:4]]
    targets = table.targets(range(4))
    evaluation = EvalImages(DecodeSource(paths, 64), targets, 64)
    image, target = evaluation[2]
    assert image.shape == (1, 64, 64) and image.dtype == torch.float32
    # validation pixels are exactly the viewer's: THE preprocessing function at the input size
    np.testing.assert_array_equal(image[0].numpy(), preprocess(paths[2], 64, 64))
    assert torch.equal(target, torch.from_numpy(targets[2]))

    training = TrainImages(DecodeSource(paths, 74), targets, 64, AugmentConfig(), seed=3)
    a, _ = training[1]
    b, _ = training[1]
    training.set_epoch(1)
    c, _ = training[1]
    assert a.shape == (1, 64, 64) and torch.equal(a, b) and not torch.equal(a, c)
    assert 0.0 <= float(a.min()) and float(a.max()) <= 1.0


def test_csv_rows_without_an_image_are_counted(tiny_data: Path, tmp_path: Path) -> None:
    data = shutil.copytree(tiny_data, tmp_path / "copy")
    for name in ("00000001_000.png", "00000002_001.png", "00000005_000.png"):
        (data / "images" / name).unlink()
    table = load_labelled_images(data)
    assert len(table.samples) == 45 and table.rows_without_image == 3
    assert load_labelled_images(tiny_data).rows_without_image == 0


def test_image_files_are_found_once_through_links_and_loops(tmp_path: Path) -> None:
    """A download linked into itself (``images/loop -> ..``) is walked once, like the viewer's
    scan: each image listed once, hidden twins left out, an image-named pipe kept for the loader
    to report."""
    import os

    from trainer.data.nih import find_image_files

    images = tmp_path / "nih" / "images_001" / "images"
    images.mkdir(parents=True)
    for name in ("00000001_000.png", "00000002_000.png"):
        (images / name).write_bytes(b"\x89PNG\r\n\x1a\n")
    (images / "._00000001_000.png").write_bytes(b"AppleDouble")
    (images / "loop").symlink_to(tmp_path / "nih", target_is_directory=True)
    (tmp_path / "nih" / "linked").symlink_to(images, target_is_directory=True)
    os.mkfifo(images / "00000003_000.png")
    found = find_image_files(tmp_path / "nih")
    assert [p.name for p in found] == ["00000001_000.png", "00000002_000.png", "00000003_000.png"]


def test_the_image_walk_follows_links_out_of_data(tmp_path: Path) -> None:
    """A dataset assembled from links to other disks is found: the trainer's walk follows links
    out of --data, where the viewer's scan does not (never into /proc: test_hostile_links.py)."""
    from trainer.data.nih import find_image_files

    elsewhere = tmp_path / "other disk" / "images_002"
    elsewhere.mkdir(parents=True)
    (elsewhere / "00000004_000.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    data = tmp_path / "nih"
    data.mkdir()
    (data / "images_002").symlink_to(elsewhere, target_is_directory=True)
    assert [p.relative_to(data).as_posix() for p in find_image_files(data)] == ["images_002/00000004_000.png"]


def test_a_dataset_reader_plugs_into_the_data_step(tiny_config: TrainConfig, tmp_path: Path) -> None:
    """``prepare_data`` splits and caches whatever its reader returns, asked with the run's options."""
    calls = []

    def every_other_patient(data: str, labels_csv: str | None = None, views: Sequence[str] = (),
                            max_images: int | None = None) -> LabelledImages:
        calls.append((data, labels_csv, tuple(views), max_images))
        table = load_labelled_images(data, labels_csv, views, max_images)
        return dataclasses.replace(table, samples=[s for s in table.samples if s.patient_id % 2])

    config = dataclasses.replace(tiny_config, views=["PA", "AP"], max_images=40)
    prepared = prepare_data(config, tmp_path, reader=every_other_patient)
    assert calls == [(config.data, None, ("PA", "AP"), 40)]
    split = prepared.split
    chosen = [prepared.table.samples[i] for i in (*split.train, *split.val, *split.test)]
    assert chosen and all(s.patient_id % 2 for s in chosen)
    assert len(chosen) == len(prepared.table.samples) < len(load_labelled_images(config.data).samples)
    assert len(prepared.sources["train"]) == len(split.train)
