"""``cxr-train calibrate``: a pair recalibrated on local labelled images, checked against
independent computations (numpy logits of the tiny graph, scikit-learn's ROC and Brier score),
the original files untouched, and the demo model on the real NIH sample."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper
from sklearn.metrics import brier_score_loss, roc_curve

from tests.factories import NIH_LABELS, make_model_pair
from tests.trainer.synthetic import make_dataset
from trainer.cli import main
from trainer.evaluation.metrics import calibration_error, confusion_figures
from trainer.recalibrate.fit import NewCalibration, carried_threshold
from trainer.recalibrate.graph import CalibrationSite
from trainer.recalibrate.holdout import compare_holdout
from viewer.core.inference import Predictor
from viewer.core.model import ModelPair
from viewer.core.model_card import ModelCard
from viewer.core.onnx_card import read_card, set_card
from viewer.core.ood import METHOD, OodCheck
from viewer.core.preprocess import preprocess
from viewer.core.resources import demo_model_path

NIH_SAMPLE = Path(__file__).resolve().parents[3] / "shared" / "data" / "nih-sample"
MISCALIBRATION = 3.0


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(z, np.float64)))


def miscalibrated_pair(folder: Path) -> Path:
    """The tiny pair as cxr-train would export it with a calibration of scale 3, bias 0: a Mul and
    an Add before the Sigmoid, the sidecar's kernel times 3, the card saying so."""
    path = make_model_pair(folder)
    classifier, sidecar = onnx.load(str(path)), onnx.load(str(folder / "tiny.gradcam.onnx"))
    graph = classifier.graph
    n = len(NIH_LABELS)
    graph.initializer.extend([numpy_helper.from_array(np.full(n, MISCALIBRATION, np.float32), "calibration_scale"),
                              numpy_helper.from_array(np.zeros(n, np.float32), "calibration_bias")])
    nodes = list(graph.node)
    sigmoid = nodes[-1]
    sigmoid.input[0] = "calibrated"
    del graph.node[:]
    graph.node.extend(nodes[:-1] + [helper.make_node("Mul", ["logits", "calibration_scale"], ["scaled"]),
                                    helper.make_node("Add", ["scaled", "calibration_bias"], ["calibrated"]), sigmoid])
    kernel = sidecar.graph.initializer[0]
    kernel.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(kernel) * np.float32(MISCALIBRATION), kernel.name))
    card = read_card(path).to_dict()
    card["calibration"] = {"method": "platt", "applied_in_graph": True,
                           "scale": {x: MISCALIBRATION for x in NIH_LABELS}, "bias": {x: 0.0 for x in NIH_LABELS}}
    for proto, target in ((classifier, path), (sidecar, folder / "tiny.gradcam.onnx")):
        set_card(proto, ModelCard.from_dict(card))
        onnx.checker.check_model(proto)
        onnx.save(proto, str(target))
    return path


def tiny_logits(model: Path, image: np.ndarray) -> np.ndarray:
    """The tiny classifier's logits, in numpy from its weights (tests/factories.py's graph)."""
    weights = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(model)).graph.initializer}
    size = image.shape[0]
    pooled = image.reshape(size // 8, 8, size // 8, 8).mean(axis=(1, 3))
    features = np.maximum(weights["conv_w"][:, 0, 0, 0, None, None] * pooled + weights["conv_b"][:, None, None], 0)
    return weights["fc_w"] @ features.mean(axis=(1, 2)) + weights["fc_b"]


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    status = main(["calibrate", *args])
    return status, capsys.readouterr().err


@pytest.fixture
def site_data(tmp_path: Path) -> Path:
    """A generated NIH-like folder of 48 images of 24 patients (a private copy per test)."""
    return make_dataset(tmp_path / "site")


def test_recalibrating_a_miscalibrated_pair(tmp_path: Path, site_data: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    model = miscalibrated_pair(tmp_path / "model")
    sidecar = tmp_path / "model" / "tiny.gradcam.onnx"
    hashes = {p: _sha(p) for p in (model, sidecar)}
    status, err = _run(["--model", str(model), "--data", str(site_data), "--bootstrap", "200", "--rule", "youden",
                        "--json", str(tmp_path / "r.json"), "--markdown", str(tmp_path / "r.md")], capsys)
    assert status == 0, err
    report = json.loads((tmp_path / "r.json").read_text())
    new = tmp_path / "model" / "tiny-local.onnx"
    assert report["model"]["new"] == str(new)
    assert {p: _sha(p) for p in (model, sidecar)} == hashes  # the original pair is only read

    # held out: the scale-3 pair is overconfident, the recalibrated one much less so
    ece = report["held_out"]["mean"]["ece"]
    assert ece["after"] < ece["before"] - 0.05
    assert ece["change_ci95"][1] < 0
    assert "| ECE (10 bins) |" in (tmp_path / "r.md").read_text()

    # the new pair, through the viewer's Predictor, is sigmoid(a * logit + b) of the tiny graph's logits
    a = np.array([report["fitted"]["scale"][x] for x in NIH_LABELS])
    b = np.array([report["fitted"]["bias"][x] for x in NIH_LABELS])
    assert report["fitted"]["original_scale"] == {x: MISCALIBRATION for x in NIH_LABELS}
    predictor = Predictor.open(new, cache_size=0)
    old = Predictor.open(model, cache_size=0)
    for name in report["images"]["held_out"][:3]:
        path = site_data / "images" / name
        logits = tiny_logits(model, preprocess(path, 64, 64))
        found = predictor.predict(path)
        np.testing.assert_allclose(found.probabilities, _sigmoid(a * logits + b), atol=1e-5)
        # Grad-CAM of the new calibrated logit: the old maps times a / 3
        np.testing.assert_allclose(found.heatmaps, old.predict(path).heatmaps * (a / MISCALIBRATION)[:, None, None],
                                   rtol=1e-4, atol=1e-6)

    # thresholds: Youden's J by scikit-learn's ROC on the fit part's new probabilities; a label
    # with fewer than 10 fit positives is guarded onto the prevalence rule (its flag rate is checked)
    fit = report["images"]["fit"]
    targets = np.array([[x in row for x in NIH_LABELS] for row in _labels_of(site_data, fit)], float)
    probs = np.stack([_sigmoid(a * tiny_logits(model, preprocess(site_data / "images" / n, 64, 64)) + b)
                      for n in fit])
    card = read_card(new)
    checked = 0
    for j, label in enumerate(NIH_LABELS):
        if label in report["fitted"]["thresholds_carried_for"]:
            continue
        entry = card.thresholds["per_label"][label]
        if entry["rule"] == "youden":
            fpr, tpr, cuts = roc_curve(targets[:, j], probs[:, j], drop_intermediate=False)
            k = int(np.argmax(tpr[1:] - fpr[1:])) + 1  # the first, infinite threshold flags nothing
            lower = cuts[k + 1] if k + 1 < len(cuts) else cuts[k]
            assert card.threshold_values()[label] == pytest.approx((cuts[k] + lower) / 2, abs=2e-6)
        else:
            assert entry["rule"] == "prevalence" and entry["requested_rule"] == "youden" and "guard" in entry
            flagged = probs[:, j] >= card.threshold_values()[label]
            assert entry["val_flag_rate"] == pytest.approx(flagged.mean(), abs=1e-4)
        checked += 1
    assert checked >= 10

    # the card: a new model, where its calibration came from, the held-out figures
    original = read_card(model)
    assert card.model_id != original.model_id and card.name == "tiny-local"
    provenance = card.calibration["recalibration"]
    assert provenance["original"] == {"model_id": original.model_id, "name": original.name, "file": "tiny.onnx"}
    assert provenance["data"]["folder"] == "site" and provenance["data"]["dataset"] == "nih"
    assert provenance["data"]["images"] == 48 and provenance["split"]["fit_images"] == len(fit)
    assert provenance["rule"] == "youden" and provenance["date"]
    assert card.calibration["original"]["scale"]["Atelectasis"] == MISCALIBRATION
    assert card.metrics["local_holdout"]["mean"]["ece"] == ece
    assert ModelPair.open(new).card == card  # the viewer opens the pair, both files with one card


def _labels_of(data: Path, names: list[str]) -> list[set[str]]:
    rows = {}
    for line in (data / "Data_Entry_2017_v2020.csv").read_text().splitlines()[1:]:
        name, findings = line.split(",")[:2]
        rows[name] = set(findings.split("|"))
    return [rows[n] for n in names]


def test_an_imported_pair_without_calibration_gets_one_and_can_be_recalibrated_again(
        tmp_path: Path, site_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = make_model_pair(tmp_path / "model")  # Sigmoid of the logits, card calibration "none"
    once, twice = tmp_path / "once.onnx", tmp_path / "twice.onnx"
    status, err = _run(["--model", str(model), "--data", str(site_data), "--calibration", "temperature",
                        "--ood", "refit", "--bootstrap", "0", "--out", str(once), "--json", str(tmp_path / "1.json")],
                       capsys)
    assert status == 0, err
    ood = read_card(once).ood  # the card had no OOD check; refit fits one on the fit part
    assert ood["method"] == METHOD and ood["n_images"] == 24 and ood["fitted_on"].startswith("24 images of the fit")
    ops = [n.op_type for n in onnx.load(str(once)).graph.node]
    assert ops[-3:] == ["Mul", "Add", "Sigmoid"]
    first = json.loads((tmp_path / "1.json").read_text())["fitted"]
    assert all(v == 0.0 for v in first["bias"].values())  # temperature: a scale only
    status, err = _run(["--model", str(once), "--data", str(site_data), "--calibration", "keep", "--bootstrap", "0",
                        "--out", str(twice), "--json", str(tmp_path / "2.json")], capsys)
    assert status == 0, err
    second = json.loads((tmp_path / "2.json").read_text())["fitted"]
    assert second["scale"] == first["scale"]  # keep: the calibration stays, the thresholds are refitted
    path = site_data / "images" / "00000001_000.png"
    np.testing.assert_allclose(Predictor.open(twice).predict(path).probabilities,
                               Predictor.open(once).predict(path).probabilities, atol=1e-6)
    chain = read_card(twice).calibration
    assert chain["original"]["recalibration"]["original"]["file"] == "tiny.onnx"


def test_refused_when_the_card_says_calibrated_but_the_graph_is_not(
        tmp_path: Path, site_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = make_model_pair(tmp_path / "m", card_overrides={"calibration": {"method": "platt",
                                                                            "applied_in_graph": True}})
    status, err = _run(["--model", str(model), "--data", str(site_data)], capsys)
    assert status == 1
    assert "tiny.onnx: its card says the calibration (platt) is inside the graph" in err
    assert "Traceback" not in err and not (tmp_path / "m" / "tiny-local.onnx").exists()


@pytest.mark.parametrize("case", ["missing model", "no labels", "too few", "out is original", "out is sidecar",
                                  "out exists"])
def test_errors_are_one_line(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = make_model_pair(tmp_path / "m")
    data = make_dataset(tmp_path / "site", patients=8) if case == "too few" else make_dataset(tmp_path / "site")
    args = ["--model", str(model), "--data", str(data)]
    expected = {"missing model": "missing.onnx: model file not found",
                "no labels": "no Data_Entry",
                "too few": "too few images: 16 readable labelled images",
                "out is original": "is the original pair's file",
                "out is sidecar": "is the original pair's file",
                "out exists": "already exists (pass --force"}[case]
    if case == "missing model":
        args[1] = str(tmp_path / "missing.onnx")
    elif case == "no labels":
        (data / "Data_Entry_2017_v2020.csv").unlink()
    elif case == "out is original":
        args += ["--out", str(model)]
    elif case == "out is sidecar":
        args += ["--out", str(tmp_path / "m" / "tiny.gradcam.onnx")]
        expected = "--out must be NEW.onnx"
    elif case == "out exists":
        (tmp_path / "m" / "tiny-local.onnx").write_bytes(b"another model")
    hashes = {p: _sha(p) for p in (tmp_path / "m").iterdir()}
    status, err = _run(args, capsys)
    assert status == 1 and expected in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert {p: _sha(p) for p in (tmp_path / "m").iterdir()} == hashes


def test_held_out_figures_match_scikit_learn_and_the_metrics_module() -> None:
    rng = np.random.default_rng(1)
    n, labels = 60, ("A", "B")
    targets = (rng.random((n, 2)) < 0.3).astype(float)
    targets[:5, 1] = np.nan  # unknown: left out
    before, after = rng.random((n, 2)), rng.random((n, 2))
    result = compare_holdout(targets, before, after, {"A": 0.5, "B": 0.4}, {"A": 0.3, "B": 0.6}, labels,
                             list(range(n)), resamples=200, seed=0)
    for j, label in enumerate(labels):
        known = ~np.isnan(targets[:, j])
        y = targets[known, j]
        entry = result["per_label"][label]
        for side, probs, cut in (("before", before, (0.5, 0.4)[j]), ("after", after, (0.3, 0.6)[j])):
            p = probs[known, j]
            assert entry["ece"][side] == pytest.approx(calibration_error(y, p), abs=1e-6)
            assert entry["brier"][side] == pytest.approx(brier_score_loss(y, p), abs=1e-6)
            figures = confusion_figures(y, p >= cut)
            assert entry["sensitivity"][side] == pytest.approx(figures.sensitivity, abs=1e-6)
            assert entry["specificity"][side] == pytest.approx(figures.specificity, abs=1e-6)
        low, high = entry["brier"]["change_ci95"]
        assert low <= entry["brier"]["change"] <= high
    mean = result["mean"]["ece"]
    assert mean["before"] == pytest.approx(np.mean([result["per_label"][x]["ece"]["before"] for x in labels]),
                                           abs=1e-6)


def test_a_carried_threshold_flags_the_same_logits() -> None:
    site = CalibrationSite("logits", np.array([2.0], np.float32), np.array([-1.0], np.float32), None, None)
    new = NewCalibration("platt", np.array([0.5], np.float32), np.array([0.3], np.float32), ())
    logits = np.linspace(-6, 6, 2001)
    for threshold in (0.1, 0.37, 0.5, 0.9):
        carried = carried_threshold(threshold, site, new, 0)
        old_flags = _sigmoid(2.0 * logits - 1.0) >= threshold
        new_flags = _sigmoid(0.5 * logits + 0.3) >= carried
        assert (old_flags != new_flags).sum() <= 1  # at most the one logit on the boundary


@pytest.mark.skipif(not NIH_SAMPLE.is_dir(), reason="the real NIH sample (../shared/data/nih-sample) is absent")
def test_the_demo_model_recalibrated_on_the_real_nih_sample(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    for name in ("demo.onnx", "demo.gradcam.onnx"):
        shutil.copy(demo_model_path().with_name(name), folder / name)
    model = folder / "demo.onnx"
    hashes = {p: _sha(p) for p in folder.iterdir()}
    status, err = _run(["--model", str(model), "--data", str(NIH_SAMPLE), "--images", "36", "--holdout", "0.3",
                        "--bootstrap", "100", "--threads", "1", "--json", str(tmp_path / "r.json")], capsys)
    assert status == 0, err
    assert {p: _sha(p) for p in hashes} == hashes
    report = json.loads((tmp_path / "r.json").read_text())
    new = Path(report["model"]["new"])
    card, original = read_card(new), read_card(model)
    assert card.calibration["recalibration"]["original"]["model_id"] == original.model_id
    assert card.calibration["recalibration"]["data"] == {**card.calibration["recalibration"]["data"],
                                                         "folder": "nih-sample", "dataset": "nih", "images": 36}
    # the OOD threshold: the card's percentile of the fit images' scores under the original statistics
    check = OodCheck(original.ood)
    scores = [check.score(preprocess(NIH_SAMPLE / "images" / n, 224, 224)) for n in report["images"]["fit"]]
    assert card.ood["threshold"] == pytest.approx(np.percentile(scores, original.ood["percentile"]), rel=1e-6)
    assert card.ood["statistics"] == original.ood["statistics"]
    # the new probabilities are the new calibration of the original's logits (read back from its output)
    a0 = np.array([original.calibration["scale"][x] for x in original.labels])
    b0 = np.array([original.calibration["bias"][x] for x in original.labels])
    a = np.array([report["fitted"]["scale"][x] for x in original.labels])
    b = np.array([report["fitted"]["bias"][x] for x in original.labels])
    path = NIH_SAMPLE / "images" / report["images"]["held_out"][0]
    p_old = Predictor.open(model).predict(path).probabilities.astype(np.float64)
    p_new = Predictor.open(new).predict(path).probabilities.astype(np.float64)
    raw = (np.log(p_old / (1 - p_old)) - b0) / a0  # the card's scale and bias are rounded to 6 decimals
    np.testing.assert_allclose(np.log(p_new / (1 - p_new)), a * raw + b, atol=2e-3)
