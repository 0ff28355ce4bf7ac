"""The MIMIC-CXR-JPG reader on generated tables in the published format, against torchxrayvision's
MIMIC_Dataset on the same tables (the wheel ships no MIMIC file)."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import cv2
import numpy as np
import pytest

from trainer.data.chexpert import CHEXPERT_LABELS
from trainer.data.mimic import load_mimic
from trainer.errors import TrainerError

txrv = pytest.importorskip("torchxrayvision")

# (subject, study, [(dicom_id, ViewPosition, split)], label codes); the last study has no label row
STUDIES = [
    (10000032, 50414267, [("d1", "PA", "train"), ("d2", "LATERAL", "train")], {"Edema": "1", "Atelectasis": "-1"}),
    (10000032, 53189527, [("d3", "AP", "train")], {"Pleural Effusion": "1"}),
    (10000764, 57375967, [("d4", "AP", "validate"), ("d5", "LL", "validate")], {"Pneumonia": "-1.0"}),
    (10000898, 50771383, [("d6", "PA", "test")], {"No Finding": "1"}),
    (10000935, 51178377, [("d7", "PA", "test")], None),
]


def _write_gz(path: Path, rows: list[list[object]]) -> None:
    with gzip.open(path, "wt", newline="") as handle:
        csv.writer(handle).writerows(rows)


def make_mimic(root: Path) -> Path:
    """The three tables (gzipped) and one JPEG per image at files/pXX/pSUBJECT/sSTUDY/DICOM.jpg."""
    root.mkdir()
    labels = [["subject_id", "study_id", "No Finding", *CHEXPERT_LABELS]]
    meta = [["dicom_id", "subject_id", "study_id", "PerformedProcedureStepDescription", "ViewPosition", "Rows",
             "Columns", "StudyDate", "StudyTime", "ProcedureCodeSequence_CodeMeaning",
             "ViewCodeSequence_CodeMeaning", "PatientOrientationCodeSequence_CodeMeaning"]]
    split = [["dicom_id", "study_id", "subject_id", "split"]]
    for subject, study, images, codes in STUDIES:
        if codes is not None:
            labels.append([subject, study, codes.get("No Finding", ""), *[codes.get(x, "") for x in CHEXPERT_LABELS]])
        for dicom_id, view, part in images:
            meta.append([dicom_id, subject, study, "CHEST (PA AND LAT)", view, 3056, 2544, 21800506, 213014.531,
                         "CHEST (PA AND LAT)", "postero-anterior", "Erect"])
            split.append([dicom_id, study, subject, part])
            if dicom_id != "d2":  # one image missing from the download
                image = root / "files" / f"p{str(subject)[:2]}" / f"p{subject}" / f"s{study}" / f"{dicom_id}.jpg"
                image.parent.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(image), np.full((32, 32), 128, np.uint8))
    _write_gz(root / "mimic-cxr-2.0.0-chexpert.csv.gz", labels)
    _write_gz(root / "mimic-cxr-2.0.0-metadata.csv.gz", meta)
    _write_gz(root / "mimic-cxr-2.0.0-split.csv.gz", split)
    return root


def test_reads_studies_images_split_and_views(tmp_path: Path) -> None:
    root = make_mimic(tmp_path / "mimic")
    table = load_mimic(root / "files")  # the tables are found in a parent
    assert [s.image_index for s in table.samples] == ["d1.jpg", "d3.jpg", "d4.jpg", "d5.jpg", "d6.jpg"]
    assert [s.patient_id for s in table.samples] == [10000032, 10000032, 10000764, 10000764, 10000898]
    assert [s.official_split for s in table.samples] == ["train", "train", "val", "val", "test"]
    assert [s.view for s in table.samples] == ["PA", "AP", "AP", "LL", "PA"]
    assert [p.name for p in table.unlabelled] == ["d7.jpg"] and table.rows_without_image == 1
    assert table.samples[0].labels == ("Edema",) and table.samples[1].labels == ("Pleural Effusion",)
    assert [s.image_index for s in load_mimic(root, views=["FRONTAL"]).samples] == ["d1.jpg", "d3.jpg", "d4.jpg",
                                                                                   "d6.jpg"]
    assert [s.image_index for s in load_mimic(root, views=["lateral"]).samples] == ["d5.jpg"]
    ignored = load_mimic(root, uncertainty="ignore")
    assert ignored.mask().sum() == ignored.mask().size - 3  # Atelectasis of d1, Pneumonia of d4 and d5
    assert load_mimic(root, uncertainty="ones").samples[2].labels == ("Pneumonia",)


def test_counts_patients_and_positives_equal_torchxrayvisions(tmp_path: Path) -> None:
    root = make_mimic(tmp_path / "mimic")
    for d in ("d2",):  # torchxrayvision lists every metadata row: give it the image we left out
        image = root / "files/p10/p10000032/s50414267" / f"{d}.jpg"
        cv2.imwrite(str(image), np.full((32, 32), 128, np.uint8))
    ours = load_mimic(root, uncertainty="ignore")
    theirs = txrv.datasets.MIMIC_Dataset(imgpath=str(root / "files"),
                                         csvpath=str(root / "mimic-cxr-2.0.0-chexpert.csv.gz"),
                                         metacsvpath=str(root / "mimic-cxr-2.0.0-metadata.csv.gz"), views=["*"],
                                         unique_patients=False)
    assert len(ours.samples) == len(theirs) == 6
    assert {s.patient_id for s in ours.samples} == set(theirs.csv["subject_id"])
    targets, mask = ours.targets(), ours.mask()
    for j, label in enumerate(CHEXPERT_LABELS):
        column = theirs.pathologies.index("Effusion" if label == "Pleural Effusion" else label)
        assert targets[:, j].sum() == np.nansum(theirs.labels[:, column] == 1), label
        assert (mask[:, j] == 0).sum() == (theirs.csv[label] == -1).sum(), label


def test_missing_tables_are_named(tmp_path: Path) -> None:
    root = make_mimic(tmp_path / "mimic")
    (root / "mimic-cxr-2.0.0-chexpert.csv.gz").write_bytes(b"not gzip")
    with pytest.raises(TrainerError, match="chexpert.csv.gz: cannot be read as a label CSV"):
        load_mimic(root, labels_csv=root / "mimic-cxr-2.0.0-chexpert.csv.gz")
    (root / "mimic-cxr-2.0.0-split.csv.gz").unlink()
    with pytest.raises(TrainerError, match=r"no mimic-cxr-2.0.0-split.csv\(.gz\) beside"):
        load_mimic(root)
