"""``--dataset`` and ``--uncertainty``: detecting the dataset of a data folder, the options'
errors, what a run records, and a short CheXpert run whose exported model has CheXpert's labels."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from trainer.cli import build_parser, resolve_train_config
from trainer.config import TrainConfig, config_from_dict, with_dataset
from trainer.data.chexpert import CHEXPERT_LABELS
from trainer.data.mimic import CHEXPERT_CSV
from trainer.data.readers import detect_dataset
from trainer.errors import TrainerError
from viewer.core.model import ModelPair

HEADER = ["Path", "Sex", "Age", "Frontal/Lateral", "AP/PA", "No Finding", *CHEXPERT_LABELS]


def make_chexpert_for_training(root: Path, patients: int = 16, seed: int = 0) -> Path:
    """``root/CheXpert-v1.0-small`` with train.csv, valid.csv and two 64 px frontal JPEGs per
    patient; every label has positives, some uncertain cells (-1) and blanks."""
    rng = np.random.default_rng(seed)
    top = root / "CheXpert-v1.0-small"
    rows: dict[str, list[list[str]]] = {"train": [], "valid": []}
    n = 0
    for patient in range(1, patients + 1):
        split = "valid" if patient > patients - 2 else "train"
        for study in (1, 2):
            codes = {CHEXPERT_LABELS[n % len(CHEXPERT_LABELS)]: "1"} if n % 3 else {}
            codes[CHEXPERT_LABELS[(n * 5) % len(CHEXPERT_LABELS)]] = codes.get(
                CHEXPERT_LABELS[(n * 5) % len(CHEXPERT_LABELS)], "-1")
            pixels = rng.normal(100, 20, (64, 64))
            for label, code in codes.items():
                if code == "1":
                    y, x = divmod(CHEXPERT_LABELS.index(label), 4)
                    pixels[y * 16:(y + 1) * 16, x * 16:(x + 1) * 16] += 80
            relative = f"{split}/patient{patient:05d}/study{study}/view1_frontal.jpg"
            image = top / relative
            image.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(image), np.clip(pixels, 0, 255).astype(np.uint8))
            rows[split].append([f"CheXpert-v1.0-small/{relative}", "Male", "50", "Frontal", "AP", "",
                                *[codes.get(label, "") for label in CHEXPERT_LABELS]])
            n += 1
    for split, listed in rows.items():
        with (top / f"{split}.csv").open("w", newline="") as handle:
            csv.writer(handle).writerows([HEADER, *listed])
    return top


@pytest.fixture(scope="module")
def chexpert_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_chexpert_for_training(tmp_path_factory.mktemp("chexpert"))


def test_the_dataset_is_found_from_the_label_files(tiny_data: Path, chexpert_folder: Path, tmp_path: Path) -> None:
    assert detect_dataset(tiny_data) == "nih"
    assert detect_dataset(tiny_data / "images") == "nih"  # the Data_Entry CSV above
    assert detect_dataset(chexpert_folder) == "chexpert"
    assert detect_dataset(chexpert_folder.parent) == "chexpert"  # the archive's top folder inside
    assert detect_dataset(chexpert_folder / "train") == "chexpert"
    mimic = tmp_path / "mimic"
    (mimic / "files").mkdir(parents=True)
    (mimic / f"{CHEXPERT_CSV}.gz").write_bytes(b"")
    assert detect_dataset(mimic / "files") == "mimic"
    # a label file named on the command line decides; another name is a renamed Data_Entry CSV
    assert detect_dataset(tmp_path, chexpert_folder / "valid.csv") == "chexpert"
    assert detect_dataset(tmp_path, mimic / f"{CHEXPERT_CSV}.gz") == "mimic"
    assert detect_dataset(tmp_path, tmp_path / "my_labels.csv") == "nih"


def test_the_nearest_label_file_decides_and_a_tie_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "train.csv").write_text("x\n")
    nih = tmp_path / "nih"
    nih.mkdir()
    (nih / "Data_Entry_2017.csv").write_text("x\n")
    assert detect_dataset(nih) == "nih"  # nearer than the train.csv above it
    assert detect_dataset(tmp_path) == "chexpert"
    (tmp_path / "Data_Entry_2017_v2020.csv").write_text("x\n")
    with pytest.raises(TrainerError, match=r"several datasets.*--dataset nih\|chexpert\|mimic") as error:
        detect_dataset(tmp_path)
    assert str(tmp_path) in str(error.value)


def test_an_unknown_folder_is_one_error_naming_it_and_the_choices(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    choices = r"--dataset nih\|chexpert\|mimic"
    expected = r"no Data_Entry.* \(nih\), train.csv or valid.csv \(chexpert\).*" + choices
    with pytest.raises(TrainerError, match=expected) as error:
        detect_dataset(empty)
    assert str(error.value).startswith(str(empty)) and "\n" not in str(error.value)
    with pytest.raises(TrainerError, match="data folder not found"):
        detect_dataset(tmp_path / "missing")


def _resolve(argv: list[str]) -> TrainConfig:
    """The configuration of ``cxr-train train ARGV`` as the run records it."""
    return with_dataset(resolve_train_config(build_parser().parse_args(["train", *argv]), argv))


def test_the_command_line_records_the_dataset_found(tiny_data: Path, chexpert_folder: Path, tmp_path: Path) -> None:
    nih = _resolve(["--data", str(tiny_data), "--out", str(tmp_path / "a")])
    assert (nih.dataset, nih.uncertainty) == ("nih", None)
    chexpert = _resolve(["--data", str(chexpert_folder), "--out", str(tmp_path / "b")])
    assert (chexpert.dataset, chexpert.uncertainty) == ("chexpert", "zeros")
    ignore = _resolve(["--data", str(tiny_data), "--dataset", "chexpert", "--uncertainty", "ignore",
                       "--labels-csv", str(chexpert_folder / "train.csv"), "--out", str(tmp_path / "c")])
    assert (ignore.dataset, ignore.uncertainty) == ("chexpert", "ignore")
    with pytest.raises(TrainerError, match="--uncertainty applies to chexpert and mimic labels only"):
        _resolve(["--data", str(tiny_data), "--uncertainty", "ones", "--out", str(tmp_path / "d")])
    with pytest.raises(TrainerError, match="--dataset must be one of auto, nih, chexpert, mimic, .*not 'openi'"):
        _resolve(["--data", str(tiny_data), "--dataset", "openi", "--out", str(tmp_path / "e")])
    with pytest.raises(TrainerError, match="--uncertainty must be one of ignore, zeros, ones"):
        _resolve(["--data", str(chexpert_folder), "--uncertainty", "maybe", "--out", str(tmp_path / "f")])


def test_a_run_saved_before_the_option_reads_as_nih(tiny_config: TrainConfig) -> None:
    saved = dataclasses.asdict(tiny_config)
    del saved["dataset"], saved["uncertainty"]  # a checkpoint of the trainer before --dataset
    config = with_dataset(config_from_dict(saved))
    assert (config.dataset, config.uncertainty) == ("nih", None)
    assert dataclasses.replace(config, dataset="auto") == tiny_config


def test_a_chexpert_run_trains_on_its_labels_and_exports_them(chexpert_folder: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    from trainer.cli import main
    from trainer.pipeline.prepare import prepare_data
    from trainer.pipeline.run import train_mask
    from trainer.training.checkpoints import load_checkpoint

    out = tmp_path / "run"
    code = main(["train", "--data", str(chexpert_folder), "--out", str(out), "--uncertainty", "ignore", "--arch",
                 "tiny", "--size", "64", "--epochs", "2", "--batch-size", "8", "--warmup-epochs", "0.5",
                 "--bootstrap", "20", "--gallery", "0", "--threads", "1", "--log-every", "0", "--ood-sample", "20",
                 "--calibration", "none", "--stop-after", "1"])
    assert code == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out) == {"finished": False, "epochs_run": 1}
    # the resumed run reads the same dataset and policy from its checkpoint, and a different one is refused
    assert main(["train", "--resume", str(out / "checkpoints" / "last.pt"), "--uncertainty", "ones"]) == 1
    assert "--uncertainty" in capsys.readouterr().err
    assert main(["train", "--resume", str(out / "checkpoints" / "last.pt")]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["finished"] is True
    recorded = yaml.safe_load((out / "config.yaml").read_text(encoding="utf-8"))
    assert (recorded["dataset"], recorded["uncertainty"]) == ("chexpert", "ignore")
    checkpoint = load_checkpoint(out / "checkpoints" / "last.pt")
    assert checkpoint["labels"] == list(CHEXPERT_LABELS)
    assert (checkpoint["config"]["dataset"], checkpoint["config"]["uncertainty"]) == ("chexpert", "ignore")
    pair = ModelPair.open(summary["model"])
    assert tuple(pair.card.labels) == CHEXPERT_LABELS
    # the run's loss had a mask: the uncertain findings (ignore) leave zeros in the training split's
    config = with_dataset(config_from_dict(recorded))
    data = prepare_data(config, tmp_path / "again", write=False)
    mask = train_mask(data)
    assert mask is not None and 0 < mask.sum() < mask.size


def test_training_items_carry_the_mask_last(tiny_data: Path) -> None:
    from trainer.data.augment import AugmentConfig
    from trainer.data.datasets import TrainImages
    from trainer.data.sources import DecodeSource

    paths = sorted((tiny_data / "images").glob("*.png"))[:3]
    targets, aux = np.zeros((3, 2), np.float32), np.full((3, 4), 0.5, np.float32)
    mask = np.array([[1, 0], [1, 1], [0, 1]], np.float32)
    item = TrainImages(DecodeSource(paths, 64), targets, 64, AugmentConfig(), aux=aux, mask=mask)[2]
    assert len(item) == 4 and item[2].tolist() == [0.5] * 4 and item[3].tolist() == [0.0, 1.0]
    assert len(TrainImages(DecodeSource(paths, 64), targets, 64, AugmentConfig(), mask=mask)[0]) == 3
    with pytest.raises(ValueError, match="differ in length"):
        TrainImages(DecodeSource(paths, 64), targets, 64, AugmentConfig(), mask=mask[:2])
