"""The CheXpert reader: on the real label file torchxrayvision ships, against its CheX_Dataset,
and end to end on a generated folder in CheXpert's layout with each uncertainty policy."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

from trainer.data.chexpert import CHEXPERT_LABELS, ChexpertRow, load_chexpert, read_chexpert_csv
from trainer.errors import TrainerError
from viewer.core.preprocess import preprocess

txrv = pytest.importorskip("torchxrayvision")  # the dev extra installs it
REAL_CSV = Path(txrv.datasets.datapath) / "chexpert_train.csv.gz"
TXRV_NAME = {"Pleural Effusion": "Effusion"}  # CheX_Dataset renames this one


@pytest.fixture(scope="module")
def real_rows() -> list[ChexpertRow]:
    return read_chexpert_csv(REAL_CSV, "ignore")


@pytest.fixture(scope="module")
def oracle():  # torchxrayvision's dataset on the same file; it opens no image until indexed
    return txrv.datasets.CheX_Dataset(imgpath="unused", csvpath=str(REAL_CSV), views=["*"], unique_patients=False)


def test_counts_and_patients_equal_torchxrayvisions(real_rows: list[ChexpertRow], oracle) -> None:
    assert len(real_rows) == len(oracle) == 223414
    assert {r.patient_id for r in real_rows} == {int(p) for p in oracle.csv["patientid"]}
    assert sorted(r.key for r in real_rows) == sorted(p.split("/", 1)[1] for p in oracle.csv["Path"])
    assert {r.official_split for r in real_rows} == {"train"}


def test_positives_uncertain_and_prevalences_equal_torchxrayvisions(real_rows: list[ChexpertRow], oracle) -> None:
    n = len(real_rows)
    for label in CHEXPERT_LABELS:
        column = oracle.pathologies.index(TXRV_NAME.get(label, label))
        positives = sum(label in r.findings.positives for r in real_rows)
        uncertain = sum(label in r.findings.uncertain for r in real_rows)
        assert positives == int(np.nansum(oracle.labels[:, column] == 1)), label
        # the -1 cells left after No Finding zeroing (its labels turn them and blanks into NaN alike)
        assert uncertain == int((oracle.csv[label] == -1).sum()), label
        assert positives / n == pytest.approx(float(np.mean(oracle.labels[:, column] == 1)), abs=1e-12)
        # prevalence among the annotated images under `ignore` (blank = negative, -1 = masked)
        known = ~np.isnan(oracle.labels[:, column]) | oracle.csv[label].isna().to_numpy()
        assert positives / (n - uncertain) == pytest.approx(np.sum(oracle.labels[known, column] == 1) / known.sum())
    assert sum(r.findings.masked == r.findings.uncertain for r in real_rows) == n


@pytest.mark.parametrize(("ours", "theirs"), [(("PA", "AP"), ["PA", "AP"]), (("LATERAL",), ["L"]), (("PA",), ["PA"])])
def test_views_equal_torchxrayvisions(real_rows: list[ChexpertRow], ours: tuple[str, ...], theirs: list[str]) -> None:
    oracle = txrv.datasets.CheX_Dataset(imgpath="unused", csvpath=str(REAL_CSV), views=theirs, unique_patients=False)
    assert sum(r.view in ours for r in real_rows) == len(oracle)


def test_age_and_sex(real_rows: list[ChexpertRow]) -> None:
    assert {r.sex for r in real_rows} == {"M", "F", None}  # one "Unknown"
    assert sum(r.age is None for r in real_rows) == 3  # age 0 = unknown


HEADER = ["Path", "Sex", "Age", "Frontal/Lateral", "AP/PA", "No Finding", *CHEXPERT_LABELS]


def _row(path: str, view: str, codes: dict[str, str], no_finding: str = "") -> list[str]:
    frontal = view != "Lateral"
    return [f"CheXpert-v1.0-small/{path}", "Female", "60", "Frontal" if frontal else "Lateral",
            view if frontal else "", no_finding, *[codes.get(label, "") for label in CHEXPERT_LABELS]]


def make_chexpert(root: Path) -> Path:
    """A CheXpert-v1.0-small folder: 3 train images of 2 patients, 1 valid image, JPEGs at 32 px."""
    top = root / "CheXpert-v1.0-small"
    train = [_row("train/patient00001/study1/view1_frontal.jpg", "PA", {"Edema": "1", "Cardiomegaly": "-1"}),
             _row("train/patient00001/study1/view2_lateral.jpg", "Lateral", {"Edema": "1", "Fracture": "0"}),
             _row("train/patient00002/study1/view1_frontal.jpg", "AP", {"Support Devices": "1"}, no_finding="1"),
             _row("train/patient00003/study1/view1_frontal.jpg", "AP", {"Pneumonia": "1"})]  # no image
    valid = [_row("valid/patient64541/study1/view1_frontal.jpg", "AP", {"Atelectasis": "-1.0", "Edema": "0.0"})]
    for name, rows in (("train.csv", train), ("valid.csv", valid)):
        top.mkdir(parents=True, exist_ok=True)
        with (top / name).open("w", newline="") as handle:
            csv.writer(handle).writerows([HEADER, *rows])
        for row in rows[:3]:
            image = top / row[0].split("/", 1)[1]
            image.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(image), np.random.default_rng(0).integers(0, 255, (32, 32), np.uint8))
    return top


def test_a_generated_folder_end_to_end(tmp_path: Path) -> None:
    top = make_chexpert(tmp_path)
    (top / "train" / "stray.jpg").write_bytes((top / "train/patient00001/study1/view1_frontal.jpg").read_bytes())
    table = load_chexpert(tmp_path)  # found from a folder above, as from the folder itself
    assert [s.image_index for s in table.samples] == [
        "train/patient00001/study1/view1_frontal.jpg", "train/patient00001/study1/view2_lateral.jpg",
        "train/patient00002/study1/view1_frontal.jpg", "valid/patient64541/study1/view1_frontal.jpg"]
    assert [s.patient_id for s in table.samples] == [1, 1, 2, 64541]
    assert [s.official_split for s in table.samples] == ["train", "train", "train", "val"]
    assert [s.view for s in table.samples] == ["PA", "LATERAL", "AP", "AP"]
    assert [p.name for p in table.unlabelled] == ["stray.jpg"] and table.rows_without_image == 1
    assert table.labels == CHEXPERT_LABELS and table.uncertainty == "zeros"
    assert preprocess(table.samples[0].path, 16, 16).shape == (16, 16)
    edema, cardio, atel = (CHEXPERT_LABELS.index(x) for x in ("Edema", "Cardiomegaly", "Atelectasis"))
    targets = table.targets()
    assert targets[:, edema].tolist() == [1, 1, 0, 0] and targets[:, cardio].tolist() == [0, 0, 0, 0]
    assert table.mask().min() == 1  # zeros: nothing masked
    assert table.samples[2].labels == ("Support Devices",)  # No Finding keeps the devices
    assert load_chexpert(top, views=["FRONTAL"]).samples == [s for s in table.samples if s.view != "LATERAL"]
    assert [s.view for s in load_chexpert(top, views=["lateral"]).samples] == ["LATERAL"]


@pytest.mark.parametrize(("policy", "cardio_target", "cardio_mask"),
                         [("ignore", 0, 0), ("zeros", 0, 1), ("ones", 1, 1)])
def test_uncertainty_policies(tmp_path: Path, policy: str, cardio_target: int, cardio_mask: int) -> None:
    table = load_chexpert(make_chexpert(tmp_path), uncertainty=policy)
    cardio, atel = CHEXPERT_LABELS.index("Cardiomegaly"), CHEXPERT_LABELS.index("Atelectasis")
    targets, mask = table.targets(), table.mask()
    assert (targets[0, cardio], mask[0, cardio]) == (cardio_target, cardio_mask)
    assert (targets[3, atel], mask[3, atel]) == (cardio_target, cardio_mask)  # "-1.0" reads as -1
    assert table.samples[0].uncertain == ("Cardiomegaly",)
    assert mask.sum() == mask.size - (2 if policy == "ignore" else 0)
    assert table.mask([0]).shape == (1, len(CHEXPERT_LABELS))


def test_problems_are_one_error_naming_the_file(tmp_path: Path) -> None:
    top = make_chexpert(tmp_path)
    with pytest.raises(TrainerError, match="unknown uncertainty policy"):
        load_chexpert(top, uncertainty="maybe")
    text = (top / "train.csv").read_text().replace(",-1,", ",2,", 1)
    (top / "train.csv").write_text(text)
    with pytest.raises(TrainerError, match=r"train.csv: row 2: column 'Cardiomegaly' holds something other"):
        load_chexpert(top)
    (top / "train.csv").write_text("Path,Sex\nx,y\n")
    with pytest.raises(TrainerError, match="no column 'Frontal/Lateral'"):
        load_chexpert(top)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(TrainerError, match="no train.csv or valid.csv"):
        load_chexpert(empty)
