"""The VinDr-CXR reader: on the Kaggle table torchxrayvision ships, against its VinDr_Dataset
(labels and box masks), and end to end on generated folders in PhysioNet's and Kaggle's layouts
(DICOMs named by image id), through ``cxr-train train``."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from tests.ui.images import chest_png, write_dicom
from trainer.data.readers import dataset_reader, detect_dataset
from trainer.data.taxonomy import finding_of
from trainer.data.vindr import (
    VINDR_LABELS,
    Annotation,
    boxes_by_image,
    image_labels,
    load_vindr,
    radiologist_labels,
    read_boxes,
    read_vindr_csv,
)
from trainer.errors import TrainerError
from viewer.core.loader import DICOM_SUFFIXES
from viewer.core.preprocess import preprocess

txrv = pytest.importorskip("torchxrayvision")  # the dev extra installs it
REAL_CSV = Path(txrv.datasets.datapath) / "vinbigdata-train.csv.gz"
TXRV_NAME = {"Pleural effusion": "Effusion", "Pleural thickening": "Pleural_Thickening",
             "Other lesion": "Other Lesion", "Pulmonary fibrosis": "Pulmonary Fibrosis"}


@pytest.fixture(scope="module")
def real() -> list[Annotation]:
    return read_vindr_csv(REAL_CSV)


@pytest.fixture(scope="module")
def oracle(tmp_path_factory: pytest.TempPathFactory):  # VinDr_Dataset opens no image until indexed
    return txrv.datasets.VinDr_Dataset(imgpath=str(tmp_path_factory.mktemp("no-images")), csvpath=str(REAL_CSV))


def test_images_and_positives_equal_torchxrayvisions(real: list[Annotation], oracle) -> None:
    labels = image_labels(real)
    assert len(real) == 67914 and len(labels) == len(oracle) == 15000
    assert sorted(TXRV_NAME.get(label, label) for label in VINDR_LABELS) == sorted(oracle.pathologies)
    ours = [labels[image] for image in oracle.csv["image_id"]]
    for label in VINDR_LABELS:
        column = oracle.labels[:, list(oracle.pathologies).index(TXRV_NAME.get(label, label))]
        positive = np.array([label in found for found in ours])
        assert (positive == (column == 1)).all(), label  # image by image
        assert positive.mean() == pytest.approx(float(np.mean(column == 1)), abs=1e-12), label
    assert sum(not found for found in ours) == int((oracle.labels.sum(axis=1) == 0).sum()) == 10606
    # every label is one taxonomy.py knows as VinDr's
    assert all(finding_of("vindr", label) is not None for label in VINDR_LABELS)


def test_each_radiologists_labels_and_their_union(real: list[Annotation]) -> None:
    by_rad, union = radiologist_labels(real), image_labels(real)
    assert {len(rads) for rads in by_rad.values()} == {3}  # three readers per training image
    for image, rads in by_rad.items():
        assert set().union(*rads.values()) == set(union[image])
    everyone = sum(all("Cardiomegaly" in found for found in rads.values()) for rads in by_rad.values())
    anyone = sum("Cardiomegaly" in found for found in union.values())
    assert 0 < everyone < anyone == 2300  # agreement is there to be measured


def test_boxes_equal_torchxrayvisions_masks(real: list[Annotation], oracle) -> None:
    boxes = boxes_by_image(real)
    assert sum(map(len, boxes.values())) == int((oracle.rawcsv["class_name"] != "No finding").sum()) == 36096
    assert len(boxes) == int(oracle.csv["has_masks"].sum())
    drawn = oracle.rawcsv[oracle.rawcsv["class_name"] != "No finding"]
    assert {box.rad_id for found in boxes.values() for box in found} == set(drawn["rad_id"])
    for image in sorted(boxes)[:4]:  # torchxrayvision's masks are slow to make
        height = int(max(b.y_max for b in boxes[image])) + 1
        width = int(max(b.x_max for b in boxes[image])) + 1
        theirs = oracle.get_mask_dict(image, (1, height, width))
        ours: dict[int, np.ndarray] = {}
        for box in boxes[image]:  # PC_Dataset's rule: each label's boxes painted into one mask
            index = list(oracle.pathologies).index(TXRV_NAME.get(box.label, box.label))
            mask = ours.setdefault(index, np.zeros((1, height, width)))
            mask[0, int(box.y_min):int(box.y_max), int(box.x_min):int(box.x_max)] = 1
        assert theirs.keys() == ours.keys(), image
        assert all((theirs[i] == ours[i]).all() for i in ours), image


def test_dicom_is_an_image_suffix() -> None:
    assert ".dicom" in DICOM_SUFFIXES  # VinDr-CXR's files are <image_id>.dicom


COLUMNS = ["image_id", "rad_id", "class_name", "x_min", "y_min", "x_max", "y_max"]


def _write(path: Path, rows: list[list[object]], header: list[str] = COLUMNS) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with (gzip.open(path, "wt", newline="") if path.suffix == ".gz" else path.open("w", newline="")) as handle:
        csv.writer(handle).writerows([header, *rows])


def _dicom(path: Path, seed: int = 0) -> None:
    pixels = np.random.default_rng(seed).integers(0, 4095, (48, 40))
    write_dicom(path, pixels, photometric="MONOCHROME1" if seed % 2 else "MONOCHROME2")


TRAIN = [
    ["aaa", "R1", "Cardiomegaly", 10, 20, 30, 40],
    ["aaa", "R1", "Pleural effusion", 1, 2, 3, 4],
    ["aaa", "R2", "No finding", "", "", "", ""],
    ["aaa", "R3", "Cardiomegaly", 11, 21, 31, 41],
    ["bbb", "R4", "No finding", "", "", "", ""],
    ["bbb", "R5", "No finding", "", "", "", ""],
    ["ccc", "R1", "Rib fracture", 5, 5, 9, 9],  # a local label outside the 14: a box, no label
    ["ddd", "R2", "Nodule/Mass", 0, 0, 1, 1],  # no image
]
TEST = [["eee", "Pneumothorax", 1.5, 2.5, 3.5, 4.5], ["fff", "No finding", "", "", "", ""]]


def make_physionet(root: Path) -> Path:
    """PhysioNet's layout: annotations/annotations_{train,test}.csv (the test one without rad_id,
    a consensus), train/ and test/ with <image_id>.dicom, one image converted to PNG."""
    _write(root / "annotations" / "annotations_train.csv", TRAIN)
    _write(root / "annotations" / "annotations_test.csv", TEST, [c for c in COLUMNS if c != "rad_id"])
    for seed, name in enumerate(["train/aaa.dicom", "train/bbb.dicom", "train/stray.dicom", "test/eee.dicom"]):
        _dicom(root / name, seed)
    chest_png(root / "train" / "ccc.png", size=32)
    chest_png(root / "test" / "fff.jpg", size=32)
    return root


def test_a_physionet_folder_end_to_end(tmp_path: Path) -> None:
    root = make_physionet(tmp_path / "vindr")
    table = load_vindr(root)
    assert [s.image_index for s in table.samples] == ["eee.dicom", "fff.jpg", "aaa.dicom", "bbb.dicom", "ccc.png"]
    assert [s.official_split for s in table.samples] == ["test", "test", "train", "train", "train"]
    assert [s.labels for s in table.samples] == [("Pneumothorax",), (), ("Cardiomegaly", "Pleural effusion"), (), ()]
    assert len({s.patient_id for s in table.samples}) == 5  # no patient id in VinDr: one per image
    assert {s.view for s in table.samples} == {"PA"} and table.labels == VINDR_LABELS
    assert [p.name for p in table.unlabelled] == ["stray.dicom"] and table.rows_without_image == 1
    assert table.mask().min() == 1 and table.uncertainty is None
    assert table.targets()[:, VINDR_LABELS.index("Cardiomegaly")].tolist() == [0, 0, 1, 0, 0]
    assert preprocess(table.samples[0].path, 16, 16).shape == (16, 16)  # the DICOM decodes
    assert load_vindr(root / "train", views=["FRONTAL"]).samples == load_vindr(root / "train").samples
    with pytest.raises(TrainerError, match="every VinDr-CXR image is a PA view"):
        load_vindr(root, views=["LATERAL"])
    assert len(load_vindr(root, max_images=2).samples) == 2
    assert dataset_reader("vindr") is load_vindr
    assert detect_dataset(root / "train") == "vindr" == detect_dataset(root)
    # per radiologist, and the boxes in the image's pixels with who drew them
    annotations = read_vindr_csv(root / "annotations" / "annotations_train.csv")
    assert radiologist_labels(annotations)["aaa"] == {"R1": ("Cardiomegaly", "Pleural effusion"), "R2": (),
                                                      "R3": ("Cardiomegaly",)}
    boxes = read_boxes(root / "annotations" / "annotations_train.csv")
    assert sorted(boxes) == ["aaa", "ccc", "ddd"]
    assert [(b.label, b.rad_id, b.x_min, b.y_min, b.x_max, b.y_max) for b in boxes["aaa"]] == [
        ("Cardiomegaly", "R1", 10, 20, 30, 40), ("Pleural effusion", "R1", 1, 2, 3, 4),
        ("Cardiomegaly", "R3", 11, 21, 31, 41)]
    assert boxes["ccc"][0].label == "Rib fracture"
    consensus = read_boxes(root / "annotations" / "annotations_test.csv")
    assert consensus["eee"][0].rad_id is None and consensus["eee"][0].x_min == 1.5


def test_a_kaggle_folder_is_found_by_its_columns(tmp_path: Path) -> None:
    root = tmp_path / "kaggle"
    _write(root / "train.csv", [[r[0], r[2], 0, *r[1:2], *r[3:]] for r in TRAIN],
           ["image_id", "class_name", "class_id", "rad_id", "x_min", "y_min", "x_max", "y_max"])
    _dicom(root / "train" / "aaa.dicom")
    assert detect_dataset(root / "train") == "vindr"  # a train.csv, but VinDr's columns
    assert detect_dataset(tmp_path, root / "train.csv") == "vindr"
    table = load_vindr(root / "train")
    assert [(s.image_index, s.labels, s.official_split) for s in table.samples] == [
        ("aaa.dicom", ("Cardiomegaly", "Pleural effusion"), "train")]
    chexpert = tmp_path / "chexpert"
    _write(chexpert / "train.csv", [["CheXpert-v1.0-small/train/patient1/study1/view1_frontal.jpg"]], ["Path"])
    assert detect_dataset(chexpert) == "chexpert"
    with pytest.raises(TrainerError, match="no annotations_train.csv, annotations_test.csv, vinbigdata-train.csv or "
                                           "VinDr-CXR train.csv"):
        load_vindr(chexpert)


def test_problems_are_one_error_naming_the_file(tmp_path: Path) -> None:
    table = tmp_path / "a" / "annotations_train.csv"
    _write(table, TRAIN, [c for c in COLUMNS if c != "y_max"])
    with pytest.raises(TrainerError, match=r"annotations_train.csv: no column 'y_max'"):
        load_vindr(tmp_path / "a")
    _write(table, [["aaa", "R1", "Cardiomegaly", 10, 20, "wide", 40]])
    with pytest.raises(TrainerError, match=r"annotations_train.csv: row 2: x_min, y_min, x_max or y_max is not a"):
        load_vindr(tmp_path / "a")
    _write(table, [["aaa", "R1", "Cardiomegaly", 10, 20, 30, 40], ["aaa", "R1", "Cardiomegaly", 30, 20, 10, 40]])
    with pytest.raises(TrainerError, match=r"annotations_train.csv: row 3: the box is not x_min <= x_max"):
        read_boxes(table)
    gz = tmp_path / "b" / "vinbigdata-train.csv.gz"
    _write(gz, TRAIN * 50)
    gz.write_bytes(gz.read_bytes()[:-20])  # the end of the stream and its checksum lost
    with pytest.raises(TrainerError, match=r"vinbigdata-train.csv.gz: cannot be read as a label CSV") as error:
        load_vindr(tmp_path / "b")
    assert "\n" not in str(error.value)


def make_vindr_for_training(root: Path, images: int = 32) -> Path:
    """Kaggle's layout: train.csv and 64 px DICOMs, three readers per image, each finding
    brightening its own tile."""
    rng = np.random.default_rng(0)
    rows = []
    for n in range(images):
        image = f"{n:032x}"
        found = [VINDR_LABELS[n % len(VINDR_LABELS)]] if n % 4 else []
        pixels = rng.normal(1500, 300, (64, 64))
        for label in found:
            y, x = divmod(VINDR_LABELS.index(label), 4)
            pixels[y * 16:(y + 1) * 16, x * 16:(x + 1) * 16] += 1500
        write_dicom(root / "train" / f"{image}.dicom", np.clip(pixels, 0, 4095))
        for rad in ("R1", "R2", "R3"):
            saw = found if rad != "R3" or n % 3 else []  # R3 misses a third of the findings
            rows += [[image, label, 0, rad, 4, 4, 20, 20] for label in saw] or [[image, "No finding", 14, rad,
                                                                                 "", "", "", ""]]
    _write(root / "train.csv", rows, ["image_id", "class_name", "class_id", "rad_id", "x_min", "y_min", "x_max",
                                      "y_max"])
    return root


def test_cxr_train_trains_on_a_vindr_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from trainer.cli import main
    from trainer.training.checkpoints import load_checkpoint

    data, out = make_vindr_for_training(tmp_path / "vindr"), tmp_path / "run"
    code = main(["train", "--data", str(data / "train"), "--dataset", "vindr", "--out", str(out), "--arch", "tiny",
                 "--size", "64", "--epochs", "1", "--batch-size", "8", "--warmup-epochs", "0.5", "--bootstrap", "20",
                 "--gallery", "0", "--threads", "1", "--log-every", "0", "--ood-sample", "20",
                 "--calibration", "none", "--no-export"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert json.loads(captured.out)["finished"] is True
    checkpoint = load_checkpoint(out / "checkpoints" / "last.pt")
    assert checkpoint["labels"] == list(VINDR_LABELS) and checkpoint["config"]["dataset"] == "vindr"
