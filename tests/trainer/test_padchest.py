"""The PadChest reader: on the real label file torchxrayvision ships, against its PC_Dataset, and
end to end on a generated folder in PadChest's layout (PNGs in numbered folders), through
``cxr-train train``."""

from __future__ import annotations

import csv
import gzip
import json
import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

from trainer.data.ids import stable_id
from trainer.data.padchest import (
    PADCHEST_CSV,
    PADCHEST_LABELS,
    PadchestRow,
    labels_of_terms,
    load_padchest,
    read_padchest_csv,
)
from trainer.data.readers import dataset_reader, detect_dataset
from trainer.data.taxonomy import finding_of
from trainer.data.views import view_filter
from trainer.errors import TrainerError
from viewer.core.model import ModelPair
from viewer.core.preprocess import preprocess

txrv = pytest.importorskip("torchxrayvision")  # the dev extra installs it
REAL_CSV = Path(txrv.datasets.datapath) / f"{PADCHEST_CSV}.gz"
# PC_Dataset's name of each of our labels (ours are PadChest's terms, as taxonomy.py names them)
TXRV_NAME = {
    "hiatal hernia": "Hernia", "infiltrates": "Infiltration", "pleural effusion": "Effusion",
    "pleural thickening": "Pleural_Thickening", "pulmonary edema": "Edema", "pulmonary fibrosis": "Fibrosis",
}


def txrv_name(label: str) -> str:
    return TXRV_NAME.get(label) or label.title()


@pytest.fixture(scope="module")
def real() -> tuple[list[PadchestRow], int]:
    return read_padchest_csv(REAL_CSV)


@pytest.fixture(scope="module")
def oracle(tmp_path_factory: pytest.TempPathFactory):  # PC_Dataset opens no image until indexed
    return txrv.datasets.PC_Dataset(imgpath=str(tmp_path_factory.mktemp("no-images")), csvpath=str(REAL_CSV),
                                    views=["*"], unique_patients=False)


@pytest.fixture(scope="module")
def common(real: tuple[list[PadchestRow], int], oracle) -> list[PadchestRow]:
    """Our rows of the images PC_Dataset keeps, in its order."""
    by_id = {row.image_id: row for row in real[0]}
    return [by_id[image] for image in oracle.csv["ImageID"]]


def test_the_label_set_is_pc_datasets(oracle) -> None:
    assert sorted(txrv_name(label) for label in PADCHEST_LABELS) == sorted(oracle.pathologies)
    # the findings taxonomy.py knows are named as it names PadChest's
    assert {finding_of("padchest", label) for label in PADCHEST_LABELS} >= {
        "Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Effusion", "Emphysema", "Fibrosis", "Hernia",
        "Infiltration", "Mass", "Nodule", "Pleural_Thickening", "Pneumonia", "Pneumothorax"}


def test_rows_are_pc_datasets_and_the_ones_it_drops(real: tuple[list[PadchestRow], int], oracle) -> None:
    rows, blank = real
    assert (len(rows), blank) == (160758, 103)  # 160,861 rows, 103 whose Labels is "nan"
    ours, theirs = {r.image_id for r in rows}, set(oracle.csv["ImageID"])
    assert len(oracle) == 158616 and theirs <= ours
    # PC_Dataset also drops the images of patients born in 2009 or later or of no known birth year,
    # and 21 files it lists as missing or broken; this reader keeps both (module docstring)
    import pandas as pd

    raw = pd.read_csv(REAL_CSV, usecols=["ImageID", "PatientBirth", "Labels"])
    raw = raw[raw["Labels"].notna()]
    young = set(raw["ImageID"][~(2019 - raw["PatientBirth"] > 10)])
    assert len(young) == 2121 and not young & theirs
    assert len(ours - theirs - young) == 21


def test_patients_equal_torchxrayvisions(common: list[PadchestRow], oracle) -> None:
    # compared as numbers and counts, so that a failure prints no PatientID
    theirs = [stable_id(p) for p in oracle.csv["patientid"]]
    codes = int(oracle.csv["patientid"].nunique())
    assert len(set(theirs)) == codes == 66246  # no two codes share a number
    assert sum(r.patient_id == t for r, t in zip(common, theirs, strict=True)) == len(common)


def test_positives_and_prevalences_equal_torchxrayvisions(common: list[PadchestRow], oracle) -> None:
    n = len(common)
    for label in PADCHEST_LABELS:
        column = oracle.labels[:, oracle.pathologies.index(txrv_name(label))]
        ours = np.array([label in r.findings for r in common])
        assert (ours == (column == 1)).all(), label  # image by image, not only in number
        assert ours.sum() / n == pytest.approx(float(np.mean(column == 1)), abs=1e-12), label
    assert sum(not r.findings for r in common) == int((oracle.labels.sum(axis=1) == 0).sum())


@pytest.mark.parametrize(("ours", "theirs"), [(("PA",), ["PA"]), (("LATERAL",), ["L"]),
                                              (("AP",), ["AP", "AP Supine"]),
                                              (("FRONTAL",), ["PA", "AP", "AP Supine"])])
def test_views_equal_torchxrayvisions(common: list[PadchestRow], oracle, ours: tuple[str, ...],
                                      theirs: list[str]) -> None:
    # PC_Dataset(views=theirs) keeps the rows whose "view" is one of them (limit_to_selected_views)
    keep = view_filter(ours)
    assert sum(keep(r.view) for r in common) == int(oracle.csv["view"].isin(theirs).sum()) > 0


def test_terms_map_as_pc_dataset_maps_them() -> None:
    assert labels_of_terms(["normal"]) == ()
    assert labels_of_terms(["loculated pleural effusion", "pseudonodule"]) == ("nodule", "pleural effusion")
    assert labels_of_terms(["NSG tube"]) == ("tube",)
    assert labels_of_terms(["tuberculosis sequelae"]) == ("tuberculosis",)  # no "tube": the term goes on
    assert labels_of_terms(["double J stent", "pacemaker"]) == ("support devices", "tube")
    assert labels_of_terms(["air bronchogram"]) == ("consolidation", "infiltrates")


HEADER = ["", "ImageID", "ImageDir", "StudyDate_DICOM", "StudyID", "PatientID", "PatientBirth", "PatientSex_DICOM",
          "ViewPosition_DICOM", "Projection", "MethodProjection", "Pediatric", "Report", "MethodLabel", "Labels"]
SECRET_PATIENT = "PATIENT-CODE-1"  # must appear in no message


def _row(image: str, folder: int, patient: str, projection: str, labels: str, birth: str = "1950.0",
         sex: str = "F", date: str = "20120315") -> list[str]:
    return ["0", image, str(folder), date, "study", patient, birth, sex, "POSTEROANTERIOR", projection,
            "Manual review of DICOM fields", "No", "texto del informe", "Physician", labels]


def make_padchest(root: Path, rows: list[list[str]], images: list[tuple[int, str]] | None = None,
                  gzipped: bool = True) -> Path:
    """PadChest's table (gzipped) and a 32 px PNG per listed image in its numbered folder."""
    root.mkdir(parents=True, exist_ok=True)
    name = root / (f"{PADCHEST_CSV}.gz" if gzipped else PADCHEST_CSV)
    with (gzip.open(name, "wt", newline="") if gzipped else name.open("w", newline="")) as handle:
        csv.writer(handle).writerows([HEADER, *rows])
    for folder, image in images if images is not None else [(int(r[2]), r[1]) for r in rows]:
        (root / str(folder)).mkdir(exist_ok=True)
        cv2.imwrite(str(root / str(folder) / image), np.random.default_rng(0).integers(0, 255, (32, 32), np.uint8))
    return root


ROWS = [
    _row("a.png", 0, SECRET_PATIENT, "PA", "['pleural effusion', 'NSG tube']"),
    _row("b.png", 0, SECRET_PATIENT, "L", "['normal']"),
    _row("c.png", 1, "PATIENT-CODE-2", "AP_horizontal", "['loculated pleural effusion', 'pseudonodule']",
         birth="", sex="M"),
    _row("d.png", 1, "PATIENT-CODE-3", "COSTAL", "['rib fracture']", birth="2011.0", sex="O"),
    _row("e.png", 1, "PATIENT-CODE-3", "PA", "nan"),  # no labels: unlabelled
    _row("f.png", 2, "PATIENT-CODE-4", "AP", "['cardiomegaly']"),  # no image
]


def test_a_generated_folder_end_to_end(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = make_padchest(tmp_path / "padchest", ROWS, [(0, "a.png"), (0, "b.png"), (1, "c.png"), (1, "d.png"),
                                                        (1, "e.png"), (1, "stray.png")])
    with caplog.at_level(logging.INFO):
        table = load_padchest(root / "1")  # the table is found in a parent
        table = load_padchest(root)
    assert [s.image_index for s in table.samples] == ["a.png", "b.png", "c.png", "d.png"]
    ids = [s.patient_id for s in table.samples]
    assert ids[0] == ids[1] == stable_id(SECRET_PATIENT) and len(set(ids)) == 3
    assert [s.view for s in table.samples] == ["PA", "LATERAL", "AP", "COSTAL"]
    assert [s.age for s in table.samples] == [62, 62, None, 1]
    assert [s.sex for s in table.samples] == ["F", "F", "M", None]
    assert [s.official_split for s in table.samples] == [None] * 4  # PadChest publishes no split
    assert [s.labels for s in table.samples] == [("pleural effusion", "tube"), (), ("nodule", "pleural effusion"),
                                                 ("fracture",)]
    assert [p.name for p in table.unlabelled] == ["e.png", "stray.png"] and table.rows_without_image == 1
    assert table.labels == PADCHEST_LABELS and table.uncertainty is None and table.mask().min() == 1
    assert table.targets()[:, PADCHEST_LABELS.index("pleural effusion")].tolist() == [1, 0, 1, 0]
    assert preprocess(table.samples[0].path, 16, 16).shape == (16, 16)
    assert [s.image_index for s in load_padchest(root, views=["FRONTAL"]).samples] == ["a.png", "c.png"]
    assert [s.image_index for s in load_padchest(root, views=["lateral"]).samples] == ["b.png"]
    assert len(load_padchest(root, max_images=2).samples) == 2
    assert dataset_reader("padchest") is load_padchest
    assert detect_dataset(root / "0") == "padchest"
    assert detect_dataset(tmp_path, root / f"{PADCHEST_CSV}.gz") == "padchest"
    assert "PATIENT-CODE" not in caplog.text and "1950" not in caplog.text


def test_problems_are_one_error_naming_the_file(tmp_path: Path) -> None:
    root = make_padchest(tmp_path / "a", [*ROWS[:2], _row("x.png", 0, SECRET_PATIENT, "PA", "['normal'", "1937.0")],
                         gzipped=False)
    with pytest.raises(TrainerError, match=r"\.csv: row 4: Labels is not a list of terms") as error:
        load_padchest(root)
    assert SECRET_PATIENT not in str(error.value) and "1937" not in str(error.value)
    with pytest.raises(TrainerError, match=r"\.csv\.gz: row 2: ImageID or PatientID is blank"):
        load_padchest(make_padchest(tmp_path / "b", [_row("a.png", 0, "", "PA", "['normal']")]))
    missing = make_padchest(tmp_path / "c", ROWS[:1])
    with gzip.open(missing / f"{PADCHEST_CSV}.gz", "wt") as handle:
        handle.write("ImageID,PatientID,Projection\na.png,x,PA\n")
    with pytest.raises(TrainerError, match=rf"{PADCHEST_CSV}.gz: no column 'Labels'"):
        load_padchest(missing)
    truncated = make_padchest(tmp_path / "d", ROWS * 20)
    data = (truncated / f"{PADCHEST_CSV}.gz").read_bytes()
    (truncated / f"{PADCHEST_CSV}.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(TrainerError, match=rf"{PADCHEST_CSV}.gz: cannot be read as a label CSV") as error:
        load_padchest(truncated)
    assert "\n" not in str(error.value)
    with pytest.raises(TrainerError, match=rf"no {PADCHEST_CSV}"):
        load_padchest(_empty(tmp_path))
    with pytest.raises(TrainerError, match="none of its 1 images is listed with labels and one of the views"):
        load_padchest(make_padchest(tmp_path / "e", ROWS[:1]), views=["LATERAL"])


def _empty(tmp_path: Path) -> Path:
    (tmp_path / "empty").mkdir()
    return tmp_path / "empty"


def make_padchest_for_training(root: Path, patients: int = 16) -> Path:
    """Two 64 px PNGs per patient, each with one or two terms whose label brightens its own tile."""
    rng = np.random.default_rng(0)
    terms = ["cardiomegaly", "pleural effusion", "nodule", "atelectasis", "pneumonia", "normal"]
    rows = []
    for n in range(patients * 2):
        chosen = [terms[n % len(terms)], *([terms[(n * 5) % len(terms)]] if n % 3 == 0 else [])]
        pixels = rng.normal(100, 20, (64, 64))
        for label in labels_of_terms(chosen):
            y, x = divmod(PADCHEST_LABELS.index(label) % 16, 4)
            pixels[y * 16:(y + 1) * 16, x * 16:(x + 1) * 16] += 80
        image, folder = f"img{n:03d}.png", n % 3
        (root / str(folder)).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / str(folder) / image), np.clip(pixels, 0, 255).astype(np.uint8))
        rows.append(_row(image, folder, f"PATIENT-CODE-{n // 2}", "PA" if n % 2 else "AP", repr(chosen)))
    return make_padchest(root, rows, images=[])


def test_cxr_train_trains_on_a_padchest_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from trainer.cli import main
    from trainer.training.checkpoints import load_checkpoint

    data, out = make_padchest_for_training(tmp_path / "padchest"), tmp_path / "run"
    code = main(["train", "--data", str(data), "--dataset", "padchest", "--out", str(out), "--arch", "tiny",
                 "--size", "64", "--epochs", "1", "--batch-size", "8", "--warmup-epochs", "0.5", "--bootstrap", "20",
                 "--gallery", "0", "--threads", "1", "--log-every", "0", "--ood-sample", "20",
                 "--calibration", "none"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    summary = json.loads(captured.out)
    assert summary["finished"] is True
    checkpoint = load_checkpoint(out / "checkpoints" / "last.pt")
    assert checkpoint["labels"] == list(PADCHEST_LABELS) and checkpoint["config"]["dataset"] == "padchest"
    assert tuple(ModelPair.open(summary["model"]).card.labels) == PADCHEST_LABELS  # the viewer's model has them
    assert "PATIENT-CODE" not in captured.err + "".join(p.read_text(errors="replace") for p in out.rglob("*.csv"))
