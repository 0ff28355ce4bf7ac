"""The RSNA Pneumonia reader: on the real label and header files torchxrayvision ships, against its
RSNA_Pneumonia_Dataset; on generated DICOM folders; and a short ``cxr-train train --dataset rsna``."""

from __future__ import annotations

import csv
import io
import json
import logging
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tests.trainer.dicoms import chest_pixels, write_cxr_dicom
from trainer.data.readers import dataset_reader, detect_dataset
from trainer.data.rsna import (
    RSNA_LABELS,
    RsnaImage,
    load_rsna,
    read_rsna_boxes,
    read_rsna_headers,
    read_rsna_labels,
)
from trainer.errors import TrainerError
from viewer.core.preprocess import preprocess

txrv = pytest.importorskip("torchxrayvision")  # the dev extra installs it
REAL_LABELS = Path(txrv.datasets.datapath) / "kaggle_stage_2_train_labels.csv.zip"
REAL_HEADERS = Path(txrv.datasets.datapath) / "kaggle_stage_2_train_images_dicom_headers.csv.gz"
HEADER = ["patientId", "x", "y", "width", "height", "Target"]


@pytest.fixture(scope="module")
def real_images() -> dict[str, RsnaImage]:
    return read_rsna_labels(REAL_LABELS)


@pytest.fixture(scope="module")
def oracle():  # torchxrayvision's dataset on the same files; it opens no image until indexed
    return txrv.datasets.RSNA_Pneumonia_Dataset(imgpath="unused", views=["*"])


def test_counts_patients_and_prevalences_equal_torchxrayvisions(real_images: dict[str, RsnaImage], oracle) -> None:
    assert len(real_images) == len(oracle) == 26684
    assert set(real_images) == set(oracle.csv["patientId"])
    assert list(oracle.pathologies) == list(RSNA_LABELS)
    theirs = dict(zip(oracle.csv["patientId"], oracle.labels[:, 0] == 1))
    assert {image: entry.positive for image, entry in real_images.items()} == theirs
    for j, label in enumerate(RSNA_LABELS):
        positives = sum(entry.positive for entry in real_images.values())
        assert positives == int(oracle.labels[:, j].sum()) == 6012, label
        prevalence = float(np.mean(oracle.labels[:, j], dtype=np.float64))
        assert positives / len(real_images) == pytest.approx(prevalence, abs=1e-12)
    # every image is its own patient: the header table's PatientID is the image id
    headers = read_rsna_headers(REAL_HEADERS)
    assert {image: tags.patient_id for image, tags in headers.items()} == {i: i for i in real_images}
    assert oracle.csv["patientid"].nunique() == len(real_images)
    assert [entry.number for entry in real_images.values()] == list(range(1, len(real_images) + 1))


@pytest.mark.parametrize("view", ["PA", "AP"])
def test_views_equal_torchxrayvisions(view: str) -> None:
    headers = read_rsna_headers(REAL_HEADERS)
    oracle = txrv.datasets.RSNA_Pneumonia_Dataset(imgpath="unused", views=[view])
    assert sum(tags.view == view for tags in headers.values()) == len(oracle)
    assert {tags.sex for tags in headers.values()} == {"M", "F"}
    assert sum(tags.age is None for tags in headers.values()) == 5  # 148 to 155: typos


def test_boxes_equal_the_label_rows_and_torchxrayvisions_masks(oracle) -> None:
    boxes = read_rsna_boxes(REAL_LABELS)
    rows = oracle.raw_csv[oracle.raw_csv["Target"] == 1]
    assert len(boxes) == 6012 and sum(map(len, boxes.values())) == len(rows) == 9555
    for image in list(boxes)[:25]:  # rasterised at 1024 px, our boxes cover what its masks cover
        ours = np.zeros((1024, 1024))
        for box in boxes[image]:
            x, y, w, h = (int(v) for v in box)
            ours[y:y + h, x:x + w] = 1
        assert np.array_equal(ours, oracle.get_mask_dict(image, 1024)[0][0]), image
    first = rows.iloc[0]
    assert boxes[first["patientId"]][0] == (first["x"], first["y"], first["width"], first["height"])


def _write_labels(path: Path, rows: list[list[object]]) -> Path:
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows([HEADER, *rows])
    return path


# (image id, PatientID in its DICOM, view, Target, boxes): two images of one patient, one without file
IMAGES = [
    ("img-a", "pat-1", "PA", 1, [(10, 12, 20, 30), (40, 12, 10, 10)]),
    ("img-b", "pat-1", "AP", 0, []),
    ("img-c", "pat-2", "AP", 1, [(5, 5, 50, 50)]),
    ("img-d", "pat-3", "PA", 0, []),
    ("img-e", "pat-4", "PA", 0, []),
]


def make_rsna(root: Path, images: list[tuple[str, str, str, int, list[tuple[int, ...]]]] = IMAGES,
              missing: tuple[str, ...] = ("img-e",)) -> Path:
    """Kaggle's layout: stage_2_train_labels.csv beside stage_2_train_images/<patientId>.dcm."""
    rows: list[list[object]] = []
    rng = np.random.default_rng(0)
    for image, patient, view, target, boxes in images:
        rows += [[image, *box, 1] for box in boxes] or [[image, "", "", "", "", target]]
        if image not in missing:
            write_cxr_dicom(root / "stage_2_train_images" / f"{image}.dcm", chest_pixels(rng, bool(target)),
                            patient_id=patient, view=view, sex="M" if target else "F")
    _write_labels(root / "stage_2_train_labels.csv", rows)
    return root


def test_a_generated_folder_end_to_end(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = make_rsna(tmp_path / "rsna")
    stray = write_cxr_dicom(root / "stage_2_train_images" / "not-listed.dcm", np.zeros((8, 8)), patient_id="x")
    with caplog.at_level(logging.INFO):
        table = load_rsna(root / "stage_2_train_images")  # the label file is found in a parent
    assert [s.image_index for s in table.samples] == ["img-a.dcm", "img-b.dcm", "img-c.dcm", "img-d.dcm"]
    assert [s.patient_id for s in table.samples] == [1, 1, 3, 4]  # by PatientID, numbered in file order
    assert [s.view for s in table.samples] == ["PA", "AP", "AP", "PA"]
    assert [(s.age, s.sex) for s in table.samples[:2]] == [(51, "M"), (51, "F")]
    assert table.labels == RSNA_LABELS and table.targets().tolist() == [[1, 1], [0, 0], [1, 1], [0, 0]]
    assert table.mask().min() == 1 and table.unlabelled == [stray] and table.rows_without_image == 1
    assert "not-listed" not in caplog.text  # an RSNA file name is a PatientID: counted, not named
    assert preprocess(table.samples[0].path, 16, 16).shape == (16, 16)
    assert [s.image_index for s in load_rsna(root, views=["ap"]).samples] == ["img-b.dcm", "img-c.dcm"]
    assert len(load_rsna(root, views=["FRONTAL"]).samples) == 4 and len(load_rsna(root, max_images=2).samples) == 2
    assert read_rsna_boxes(root / "stage_2_train_labels.csv") == {"img-a": ((10, 12, 20, 30), (40, 12, 10, 10)),
                                                                 "img-c": ((5, 5, 50, 50),)}
    assert dataset_reader("rsna") is load_rsna


def test_real_label_and_header_files_with_generated_dicoms(real_images: dict[str, RsnaImage], tmp_path: Path) -> None:
    """The real zipped label file with its header table beside it: view, age and sex from the
    table (the DICOMs here say otherwise), each image its own patient."""
    chosen = list(real_images)[:3]
    for image in chosen:
        write_cxr_dicom(tmp_path / f"{image}.dcm", np.full((16, 16), 90), patient_id="same", view="LL", age="007Y")
    table = load_rsna(tmp_path, labels_csv=REAL_LABELS)
    headers = read_rsna_headers(REAL_HEADERS)
    assert sorted(s.path.stem for s in table.samples) == sorted(chosen)
    assert [(s.view, s.age, s.sex) for s in table.samples] == [
        (headers[s.path.stem].view, headers[s.path.stem].age, headers[s.path.stem].sex) for s in table.samples]
    assert sorted(s.patient_id for s in table.samples) == [real_images[i].number for i in chosen]
    assert table.rows_without_image == len(real_images) - 3


def test_the_dataset_is_detected_from_its_label_file(tmp_path: Path) -> None:
    root = make_rsna(tmp_path / "rsna")
    assert detect_dataset(root / "stage_2_train_images") == "rsna"
    assert detect_dataset(tmp_path, REAL_LABELS) == "rsna"
    zipped = tmp_path / "zipped"
    zipped.mkdir()
    with zipfile.ZipFile(zipped / "stage_2_train_labels.csv.zip", "w") as archive:
        archive.write(root / "stage_2_train_labels.csv", "stage_2_train_labels.csv")
    assert detect_dataset(zipped) == "rsna"


def test_problems_are_one_error_naming_the_file_and_never_the_patient(tmp_path: Path) -> None:
    root = make_rsna(tmp_path / "rsna")
    labels = root / "stage_2_train_labels.csv"
    labels.write_text("patientId,x,y,width,height\nimg-a,,,,\n")
    with pytest.raises(TrainerError, match=r"stage_2_train_labels.csv: no column 'Target'"):
        load_rsna(root)
    _write_labels(labels, [["img-a", "", "", "", "", 0], ["secret-id-7", "", "", "", "", 2]])
    with pytest.raises(TrainerError, match=r"stage_2_train_labels.csv: row 3: Target is not 0 or 1") as error:
        load_rsna(root)
    _write_labels(labels, [["secret-id-7", 1, 2, 3, 4, 1], ["secret-id-7", "", "", "", "", 0]])
    with pytest.raises(TrainerError, match="row 3: its Target differs") as other:
        load_rsna(root)
    _write_labels(labels, [["secret-id-7", "x", 2, 3, 4, 1]])
    with pytest.raises(TrainerError, match="row 2: Target 1 needs x, y, width and height") as third:
        load_rsna(root)
    assert all("secret-id-7" not in str(e.value) for e in (error, other, third))
    zipped = root / "stage_2_train_labels.csv.zip"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("stage_2_train_labels.csv", REAL_LABELS.read_bytes()[:4000])
    zipped.write_bytes(buffer.getvalue()[:len(buffer.getvalue()) // 2])  # cut in the middle
    with pytest.raises(TrainerError, match=r"stage_2_train_labels.csv.zip: cannot be read as a label CSV"):
        load_rsna(root, labels_csv=zipped)
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("a.csv", "x\n")
        archive.writestr("b.csv", "x\n")
    with pytest.raises(TrainerError, match=r"csv.zip: cannot be read .*the archive holds 2 files, not one CSV"):
        load_rsna(root, labels_csv=zipped)
    labels.unlink()
    zipped.unlink()
    with pytest.raises(TrainerError, match="no stage_2_train_labels.csv or kaggle_stage_2_train_labels.csv"):
        load_rsna(root)


def test_no_image_with_the_view_asked_for_names_no_patient(tmp_path: Path,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    root = make_rsna(tmp_path / "rsna")
    with caplog.at_level(logging.DEBUG), pytest.raises(TrainerError, match="none of its 4 images is listed with"):
        load_rsna(root, views=["LATERAL"])
    assert "pat-" not in caplog.text and "img-" not in caplog.text


def make_rsna_for_training(root: Path, patients: int = 16) -> Path:
    """Two 64 px images of each patient, every third image with a box."""
    images = [(f"img-{n:03d}", f"pat-{n // 2}", "AP" if n % 2 else "PA", int(n % 3 == 0),
               [(100, 100, 200, 300)] if n % 3 == 0 else []) for n in range(2 * patients)]
    return make_rsna(root, images, missing=())


def test_cxr_train_on_an_rsna_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from trainer.cli import main
    from trainer.training.checkpoints import load_checkpoint

    root = make_rsna_for_training(tmp_path / "rsna")
    out = tmp_path / "run"
    code = main(["train", "--data", str(root), "--dataset", "rsna", "--out", str(out), "--arch", "tiny", "--size",
                 "64", "--epochs", "1", "--batch-size", "8", "--warmup-epochs", "0.5", "--bootstrap", "20",
                 "--gallery", "0", "--threads", "1", "--log-every", "0", "--ood-sample", "20",
                 "--calibration", "none"])
    assert code == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["finished"] is True
    checkpoint = load_checkpoint(out / "checkpoints" / "last.pt")
    assert checkpoint["labels"] == list(RSNA_LABELS) and checkpoint["config"]["dataset"] == "rsna"
    split = (out / "split.csv").read_text()
    assert "pat-" not in split  # the split records patient numbers, not PatientIDs


def test_the_labels_pair_with_other_datasets_models() -> None:
    from trainer.data.taxonomy import label_map
    from viewer.core.nih import NIH_LABELS

    pairing = label_map(RSNA_LABELS, "rsna", NIH_LABELS, "nih")
    assert pairing.unmatched_sources == ("Lung Opacity",)  # NIH has no Lung Opacity
    assert [NIH_LABELS[j] for j, i in enumerate(pairing.source_of) if i is not None] == ["Pneumonia"]
    assert label_map(RSNA_LABELS, "rsna", ["Lung Opacity", "Pneumonia"], "chexpert").source_of == (0, 1)
