"""trainer.export.int8.variant: the exporter's int8 pair, measured on test, with a card that tells its own figures."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

import trainer.export.int8.variant as int8_variant
from tests.factories import NIH_LABELS, card_dict, make_model_pair
from trainer.export.int8.variant import Int8VariantError, make_int8_variant, uncalibrated
from viewer.core.model import ModelPair
from viewer.core.model_card import ModelCard
from viewer.core.onnx_card import read_card
from viewer.core.preprocess import preprocess

SIZE = 64
EMPTY_LABEL = "Hernia"  # no positives among the test images: AUROC n/a
FP32_METRICS = {
    "auroc": {x: None for x in NIH_LABELS}, "mean_auroc": 0.8, "validation_mean_auroc": 0.9,
    "bootstrap": {"resamples": 60, "seed": 3, "unit": "image", "interval": "percentile 95%"},
    "split": {"method": "test split", "hash": "abc123"},
}


def _write_images(folder: Path, count: int, seed: int) -> list[Path]:
    """Blurred noise at varied brightness and contrast, so the tiny model's outputs vary."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        noise = cv2.GaussianBlur(rng.normal(0, 1, (96, 96)), (0, 0), 3 + i % 4)
        pixels = rng.uniform(40, 200) + rng.uniform(10, 60) * noise / noise.std()
        path = folder / f"{seed:04d}{i:04d}_000.png"
        cv2.imwrite(str(path), np.clip(pixels, 0, 255).astype(np.uint8))
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def setting(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("int8")
    model = make_model_pair(root / "run", size=SIZE, card_overrides={"metrics": FP32_METRICS})
    train = _write_images(root / "train", 10, seed=1)
    test = _write_images(root / "test", 30, seed=2)
    batch = np.stack([preprocess(p, SIZE, SIZE) for p in test])[:, None]
    fp32_probs = ModelPair.open(model).classify(batch)[0]
    # known answers: label 0 is positive exactly where fp32 scores it above its median (AUROC 1),
    # Hernia has no positives (n/a), the others are seeded coin flips with both classes
    targets = (np.random.default_rng(5).random(fp32_probs.shape) < 0.4).astype(np.float64)
    targets[0], targets[1] = 1.0, 0.0  # both classes in every label
    targets[:, 0] = fp32_probs[:, 0] > np.median(fp32_probs[:, 0])
    targets[:, NIH_LABELS.index(EMPTY_LABEL)] = 0.0
    return {"model": model, "train": train, "test": test, "batch": batch, "targets": targets,
            "fp32_probs": fp32_probs}


def _auroc_or_none(y: np.ndarray, p: np.ndarray) -> float | None:
    return float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else None


def test_variant_is_written_with_its_own_metrics(setting: dict, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    calibrated_on = []
    real = int8_variant.quantize_pair_on

    def recording(model, calibration, out, **kwargs):
        calibrated_on.extend(calibration)
        return real(model, calibration, out, **kwargs)

    monkeypatch.setattr(int8_variant, "quantize_pair_on", recording)
    targets = setting["targets"]
    result = make_int8_variant(setting["model"], setting["train"], setting["test"], targets, tmp_path,
                               calibration_count=6, bootstrap=50)

    assert result["kept"] and "within the allowed drop" in result["reason"]
    json.dumps(result, allow_nan=False)  # for export_checks.json
    assert len(calibrated_on) == 6 and set(calibrated_on) <= set(setting["train"])  # training images only
    assert result["calibration_images"] == 6 and result["test_images"] == len(setting["test"])
    classifier = Path(result["files"]["classifier"])
    assert classifier == tmp_path / "tiny-int8.onnx" and Path(result["files"]["sidecar"]).is_file()
    assert result["size_bytes"]["int8"] == classifier.stat().st_size

    pair = ModelPair.open(classifier)  # the viewer's contract check
    int8_probs = pair.classify(setting["batch"])[0]
    metrics = pair.card.metrics
    for j, label in enumerate(NIH_LABELS):  # sklearn as the oracle of the int8 model's own AUROCs
        expected = _auroc_or_none(targets[:, j], int8_probs[:, j])
        entry = metrics["auroc"][label]
        if expected is None:
            assert entry is None and result["auroc"][label] == {"fp32": None, "int8": None, "change": None}
            continue
        assert entry["value"] == pytest.approx(expected, abs=1e-6)
        assert entry["n_pos"] == int(targets[:, j].sum()) and len(entry["ci95"]) == 2
        fp32_expected = _auroc_or_none(targets[:, j], setting["fp32_probs"][:, j])
        row = result["auroc"][label]
        assert row["int8"] == pytest.approx(expected, abs=1e-6)
        assert row["fp32"] == pytest.approx(fp32_expected, abs=1e-6)
        assert row["change"] == pytest.approx(row["int8"] - row["fp32"], abs=1e-9)
    assert result["auroc"][NIH_LABELS[0]]["fp32"] == 1.0  # targets made from the fp32 scores
    defined = [e["value"] for e in metrics["auroc"].values() if e is not None]
    assert metrics["mean_auroc"] == pytest.approx(np.mean(defined), abs=1e-6)
    assert result["mean_auroc"]["int8"] == metrics["mean_auroc"]
    assert result["mean_auroc"]["change"] == pytest.approx(
        result["mean_auroc"]["int8"] - result["mean_auroc"]["fp32"], abs=1e-9)
    assert result["max_probability_difference"] == pytest.approx(
        np.abs(int8_probs - setting["fp32_probs"]).max(), abs=1e-6)

    # recomputed where possible, carried over where it is about the data, dropped otherwise
    assert metrics["n_images"] == len(setting["test"]) and metrics["mean_auroc"] != FP32_METRICS["mean_auroc"]
    assert metrics["bootstrap"]["resamples"] == 50 and metrics["bootstrap"]["seed"] == 3
    assert metrics["split"] == FP32_METRICS["split"] and "validation_mean_auroc" not in metrics
    point = metrics["operating_points"]["per_label"][NIH_LABELS[1]]
    assert point["tp"] == int(((int8_probs[:, 1] >= 0.5) & (targets[:, 1] > 0)).sum())
    note = pair.card.training["quantization"]
    assert note["metrics_not_remeasured"] == ["validation_mean_auroc"] and note["calibration_images"] == 6
    assert ModelPair.open(classifier).card == pair.card  # the sidecar carries the same card
    assert read_card(classifier.with_name("tiny-int8.gradcam.onnx")) == pair.card


def test_too_large_a_drop_deletes_the_files_and_says_why(setting: dict, tmp_path: Path) -> None:
    result = make_int8_variant(setting["model"], setting["train"], setting["test"], setting["targets"], tmp_path,
                               max_auroc_drop=-1.0, calibration_count=4, bootstrap=0)
    assert not result["kept"]
    assert "more than the allowed -1.0000" in result["reason"] and "deleted" in result["reason"]
    assert f"{result['mean_auroc']['fp32']:.4f}" in result["reason"]
    assert not Path(result["files"]["classifier"]).exists() and not Path(result["files"]["sidecar"]).exists()
    assert setting["model"].is_file()  # the fp32 pair stays


def test_bad_targets_and_failures_leave_no_int8_files(setting: dict, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(Int8VariantError, match=r"tiny\.onnx: test targets have shape \[30, 3\]"):
        make_int8_variant(setting["model"], setting["train"], setting["test"], setting["targets"][:, :3], tmp_path)
    with pytest.raises(Int8VariantError, match="no training images"):
        make_int8_variant(setting["model"], [], setting["test"], setting["targets"], tmp_path)

    def broken(*args, **kwargs):
        raise RuntimeError("session exploded")

    monkeypatch.setattr(int8_variant, "_classify_both", broken)
    with pytest.raises(Int8VariantError, match=r"tiny-int8\.onnx: .*session exploded.*removed"):
        make_int8_variant(setting["model"], setting["train"], setting["test"], setting["targets"], tmp_path,
                          calibration_count=4)
    assert not list(tmp_path.glob("*.onnx"))


def test_uncalibrated_undoes_the_cards_platt_scaling() -> None:
    labels = ("A", "B")
    calibration = {"method": "platt", "scale": {"A": 0.5, "B": 2.0}, "bias": {"A": -1.0, "B": 0.3}}
    card = ModelCard.from_dict(card_dict("0" * 64, labels, calibration=calibration))
    logits = np.random.default_rng(0).normal(0, 2, (20, 2))
    calibrated = 1 / (1 + np.exp(-(logits * [0.5, 2.0] + [-1.0, 0.3])))
    np.testing.assert_allclose(uncalibrated(calibrated, card), 1 / (1 + np.exp(-logits)), atol=1e-9)
    plain = ModelCard.from_dict(card_dict("0" * 64, labels))
    np.testing.assert_array_equal(uncalibrated(calibrated, plain), calibrated)
