"""The SIIM-ACR Pneumothorax reader: on the real label file torchxrayvision ships, against its
SIIM_Pneumothorax_Dataset; the run-length masks against its decoder and a hand encoding; a
generated DICOM folder in the challenge's nested layout; and a short ``cxr-train train --dataset siim``."""

from __future__ import annotations

import gzip
import json
import logging
from pathlib import Path

import numpy as np
import pytest

from tests.trainer.dicoms import chest_pixels, write_cxr_dicom
from trainer.data.readers import dataset_reader, detect_dataset
from trainer.data.siim import (
    SIIM_LABELS,
    decode_rle,
    load_siim,
    mask_box,
    read_siim_boxes,
    read_siim_labels,
    rle_box,
)
from trainer.errors import TrainerError
from viewer.core.preprocess import preprocess

txrv = pytest.importorskip("torchxrayvision")  # the dev extra installs it
REAL_CSV = Path(txrv.datasets.datapath) / "siim-pneumothorax-train-rle.csv.gz"
HEADER = "ImageId, EncodedPixels\n"  # as the challenge's file has it, with the space


@pytest.fixture(scope="module")
def real_labels() -> dict[str, tuple[str, ...]]:
    return read_siim_labels(REAL_CSV)


@pytest.fixture(scope="module")
def oracle(tmp_path_factory: pytest.TempPathFactory):
    # torchxrayvision's dataset on the same file; it lists imgpath (empty here) and opens no image until indexed
    return txrv.datasets.SIIM_Pneumothorax_Dataset(imgpath=str(tmp_path_factory.mktemp("no-images")))


def test_counts_and_prevalence_equal_torchxrayvisions(real_labels: dict[str, tuple[str, ...]], oracle) -> None:
    # torchxrayvision has a sample per row (an image outlined in three regions is three), we one per image
    assert len(oracle) == 12954 and sum(max(1, len(codes)) for codes in real_labels.values()) == len(oracle)
    assert len(real_labels) == oracle.csv["ImageId"].nunique() == 12047
    positive = {image for image, codes in real_labels.items() if codes}
    assert positive == set(oracle.csv["ImageId"][oracle.labels[:, 0] == 1]) and len(positive) == 2669
    assert sum(map(len, real_labels.values())) == int(oracle.labels[:, 0].sum()) == 3576
    by_image = oracle.csv.assign(label=oracle.labels[:, 0].astype(np.float64)).groupby("ImageId")["label"].max()
    assert len(positive) / len(real_labels) == pytest.approx(float(by_image.mean()), abs=1e-12)


def test_masks_equal_torchxrayvisions_decoding(real_labels: dict[str, tuple[str, ...]], oracle) -> None:
    single = [image for image, codes in real_labels.items() if len(codes) == 1][:12]
    for image in single:  # its decoder keeps only an image's last mask: compare images with one
        theirs = oracle.get_pathology_mask_dict(image, 1024)[0][0]
        assert np.array_equal(decode_rle(real_labels[image][0]), theirs == 1), image


def test_boxes_from_the_runs_equal_the_decoded_masks(real_labels: dict[str, tuple[str, ...]]) -> None:
    codes = [code for masks in real_labels.values() for code in masks]
    for code in codes[::25]:
        assert rle_box(code) == mask_box(decode_rle(code))
    boxes = read_siim_boxes(REAL_CSV)
    assert len(boxes) == 2669 and sum(map(len, boxes.values())) == 3576


def _encode(mask: np.ndarray) -> str:
    """The challenge's mask2rle, written out: column-major runs, each start relative to the
    previous run's end."""
    flat = mask.T.flatten().astype(int)
    changes = np.flatnonzero(np.diff(np.concatenate([[0], flat, [0]])))
    starts, ends = changes[0::2], changes[1::2]
    gaps = starts - np.concatenate([[0], ends[:-1]])
    return " ".join(f"{g} {e - s}" for g, s, e in zip(gaps, starts, ends))


def test_decoding_by_hand_and_round_trip() -> None:
    # 4 x 4, column-major: pixels 2, 3, 4 (rows 2, 3 of column 0 and row 0 of column 1), then 6, 7
    expected = np.zeros((4, 4), bool)
    expected[[2, 3, 0, 2, 3], [0, 0, 1, 1, 1]] = True
    assert np.array_equal(decode_rle("2 3 1 2", 4, 4), expected)
    assert rle_box("2 3 1 2", 4, 4) == mask_box(expected) == (0, 0, 2, 4)  # the run wraps: every row
    assert rle_box("5 2", 4, 4) == (1, 1, 1, 2)
    rng = np.random.default_rng(3)
    for _ in range(20):
        mask = np.zeros((40, 30), bool)  # height 40, width 30: transposes would show
        y, x = rng.integers(0, 30), rng.integers(0, 20)
        mask[y:y + rng.integers(1, 10), x:x + rng.integers(1, 10)] = True
        mask[rng.integers(0, 40, 5), rng.integers(0, 30, 5)] = True
        code = _encode(mask)
        assert np.array_equal(decode_rle(code, 30, 40), mask)
        assert rle_box(code, 30, 40) == mask_box(mask)
    with pytest.raises(ValueError, match="runs past"):
        decode_rle("10 7", 4, 4)
    assert mask_box(np.zeros((4, 4), bool)) is None


# (ImageId, PatientID, view, masks): two images of one patient, one image outlined twice, one without file
IMAGES = [
    ("1.2.276.0.1.1", "secret-pat-1", "PA", ["1000 20 1004 20", "1010 20"]),
    ("1.2.276.0.1.2", "secret-pat-1", "AP", []),
    ("1.2.276.0.1.3", "secret-pat-2", "PA", ["5000 30"]),
    ("1.2.276.0.1.4", "", "AP", []),
    ("1.2.276.0.1.5", "secret-pat-3", "PA", []),
]


def make_siim(root: Path, images: list[tuple[str, str, str, list[str]]] = IMAGES,
              missing: tuple[str, ...] = ("1.2.276.0.1.5",)) -> Path:
    """The challenge's layout: train-rle.csv above dicom-images-train/<study>/<series>/<ImageId>.dcm."""
    lines = [HEADER]
    rng = np.random.default_rng(0)
    for n, (image, patient, view, masks) in enumerate(images):
        lines += [f"{image},{code}\n" for code in masks] or [f"{image}, -1\n"]
        if image not in missing:
            folder = root / "dicom-images-train" / f"1.2.276.0.2.{n}" / f"1.2.276.0.3.{n}"
            write_cxr_dicom(folder / f"{image}.dcm", chest_pixels(rng, bool(masks)), patient_id=patient, view=view)
    (root / "train-rle.csv").write_text("".join(lines))
    return root


def test_a_generated_folder_end_to_end(tmp_path: Path) -> None:
    root = make_siim(tmp_path / "siim")
    stray = write_cxr_dicom(root / "dicom-images-train" / "x" / "y" / "9.9.9.dcm", np.zeros((8, 8)), patient_id="x")
    table = load_siim(root / "dicom-images-train")  # the label file is found in a parent
    assert [s.path.stem for s in table.samples] == [image for image, *_ in IMAGES[:4]]
    assert [s.image_index for s in table.samples][0] == "1.2.276.0.1.1.dcm"
    assert [s.patient_id for s in table.samples] == [1, 1, 3, 4]  # by PatientID; none: a patient of its own
    assert [s.view for s in table.samples] == ["PA", "AP", "PA", "AP"]
    assert table.labels == SIIM_LABELS and table.targets()[:, 0].tolist() == [1, 0, 1, 0]
    assert table.unlabelled == [stray] and table.rows_without_image == 1
    assert preprocess(table.samples[0].path, 16, 16).shape == (16, 16)
    assert [s.path.stem for s in load_siim(root, views=["AP"]).samples] == ["1.2.276.0.1.2", "1.2.276.0.1.4"]
    boxes = read_siim_boxes(root / "train-rle.csv")
    assert list(boxes) == ["1.2.276.0.1.1", "1.2.276.0.1.3"] and len(boxes["1.2.276.0.1.1"]) == 2
    # pixels 1000..1019 and 2024..2043: rows 1000..1019 of columns 0 and 1; 1010..1029 wraps into column 1
    assert boxes["1.2.276.0.1.1"] == ((0, 1000, 2, 20), (0, 0, 2, 1024))
    assert boxes["1.2.276.0.1.3"] == ((4, 904, 1, 30),)  # 5000 = column 4, row 904
    assert dataset_reader("siim") is load_siim
    assert detect_dataset(root / "dicom-images-train") == "siim" and detect_dataset(tmp_path, REAL_CSV) == "siim"


def test_problems_are_one_error_naming_the_file_and_never_the_patient(tmp_path: Path,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    root = make_siim(tmp_path / "siim")
    errors = []
    with caplog.at_level(logging.DEBUG), pytest.raises(TrainerError, match="none of its 4 images is listed with") as e:
        load_siim(root, views=["LATERAL"])
    errors.append(e)
    labels = root / "train-rle.csv"
    for text, expected in [
        ("ImageId,Mask\n1.2.276.0.1.1,-1\n", r"train-rle.csv: no column 'EncodedPixels'"),
        (HEADER + "1.2.276.0.1.1,12 x\n", r"train-rle.csv: row 2: EncodedPixels is not -1 or a run-length code"),
        (HEADER + "1.2.276.0.1.1,5\n", r"row 2: EncodedPixels is not -1 or a run-length code \(not pairs"),
        (HEADER + "1.2.276.0.1.1,1048570 7\n", "row 2: EncodedPixels runs past the 1024 x 1024 image"),
        (HEADER + "1.2.276.0.1.1,3 4\n1.2.276.0.1.1,-1\n", "row 3: a mask and -1"),
    ]:
        labels.write_text(text)
        with pytest.raises(TrainerError, match=expected) as e:
            load_siim(root)
        errors.append(e)
    labels.unlink()
    gzipped = root / "train-rle.csv.gz"
    gzipped.write_bytes(gzip.compress(REAL_CSV.read_bytes())[:5000])  # a truncated download
    with pytest.raises(TrainerError, match=r"train-rle.csv.gz: cannot be read as a label CSV") as e:
        load_siim(root)
    errors.append(e)
    gzipped.unlink()
    with pytest.raises(TrainerError, match="no train-rle.csv or siim-pneumothorax-train-rle.csv") as e:
        load_siim(root)
    errors.append(e)
    assert all("secret-pat" not in str(e.value) for e in errors) and "secret-pat" not in caplog.text


def make_siim_for_training(root: Path, patients: int = 16) -> Path:
    """Two 64 px images of each patient, every third image with a mask."""
    images = [(f"1.2.276.0.9.{n}", f"pat-{n // 2}", "PA", ["400000 30"] if n % 3 == 0 else [])
              for n in range(2 * patients)]
    return make_siim(root, images, missing=())


def test_cxr_train_on_a_siim_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from trainer.cli import main
    from trainer.training.checkpoints import load_checkpoint

    root = make_siim_for_training(tmp_path / "siim")
    out = tmp_path / "run"
    code = main(["train", "--data", str(root / "dicom-images-train"), "--dataset", "siim", "--out", str(out),
                 "--arch", "tiny", "--size", "64", "--epochs", "1", "--batch-size", "8", "--warmup-epochs", "0.5",
                 "--bootstrap", "20", "--gallery", "0", "--threads", "1", "--log-every", "0", "--ood-sample", "20",
                 "--calibration", "none"])
    assert code == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["finished"] is True
    checkpoint = load_checkpoint(out / "checkpoints" / "last.pt")
    assert checkpoint["labels"] == list(SIIM_LABELS) and checkpoint["config"]["dataset"] == "siim"
    assert "pat-" not in (out / "split.csv").read_text()


def test_the_label_pairs_with_other_datasets_models() -> None:
    from trainer.data.taxonomy import label_map
    from viewer.core.nih import NIH_LABELS

    pairing = label_map(SIIM_LABELS, "siim", NIH_LABELS, "nih")
    assert [NIH_LABELS[j] for j, i in enumerate(pairing.source_of) if i is not None] == ["Pneumothorax"]
