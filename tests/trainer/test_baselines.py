"""``cxr-train baselines`` on generated NIH-like data and real (tiny) ONNX pairs: the table has
every column, its AUROCs are scikit-learn's on the saved scores, the network's column is the
viewer's own Predictor, the pooled features are the GAP of the PyTorch trunk, and a finding
without training positives is reported as not evaluable."""

from __future__ import annotations

import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from onnx import TensorProto, helper
from sklearn.metrics import roc_auc_score

from tests.conftest import shared_path
from tests.factories import NIH_LABELS, make_model_pair
from tests.trainer.synthetic import make_dataset
from tests.trainer.test_cli import assert_one_clear_error, run
from tests.trainer.test_export import calibration, fields_for
from trainer.baselines.features import FeatureModel, extract_features, pooled_tensor_name
from trainer.baselines.models import ALL_POSITIVE, BASELINES, NOT_EVALUABLE, fit_and_score
from trainer.baselines.selection import choose_images
from trainer.data.nih import load_labelled_images
from trainer.errors import TrainerError
from trainer.export.pair import export_pair
from trainer.models.network import build_model
from viewer.core.inference import Predictor
from viewer.core.preprocess import preprocess

RARE = "Hernia"  # every image with it goes to the test split: no training positives


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """14 patients x 2 images at 64 px and a patient-level split.csv in which no training or
    validation image has Hernia."""
    data = make_dataset(tmp_path / "nih", patients=14, per_patient=2)
    rows = [line.split(",") for line in (data / "Data_Entry_2017_v2020.csv").read_text().splitlines()[1:]]
    rare_patients = {int(r[3]) for r in rows if RARE in r[1].split("|")}
    assert rare_patients  # the generated set has the finding somewhere
    lines = ["Image Index,Patient ID,split\n"]
    for name, _, _, patient, *_ in rows:
        p = int(patient)
        which = "test" if p in rare_patients or p > 9 else "val" if p > 7 else "train"
        lines.append(f"{name},{p},{which}\n")
    (tmp_path / "split.csv").write_text("".join(lines), encoding="utf-8")
    return tmp_path


def test_baselines_end_to_end(folder: Path, capsys: pytest.CaptureFixture[str],
                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("trainer.baselines.models.TREES", 10)  # a forest of 10 trees learns these 20 images
    model = make_model_pair(folder / "models")
    md, js = folder / "out.md", folder / "out.json"
    code, out, err = run(["baselines", "--model", str(model), "--data", str(folder / "nih"), "--split-file",
                          str(folder / "split.csv"), "--markdown", str(md), "--json", str(js), "--bootstrap",
                          "30", "--threads", "1", "--pixel-size", "8"], capsys)
    assert code == 0, err
    markdown = md.read_text(encoding="utf-8")
    assert markdown in out
    result = json.loads(js.read_text(encoding="utf-8"))

    # every column and every row
    titles = ["Network (tiny-test-model)"] + [f"{b} on {f}" for f in ("tiny-cnn features", "8 px pixels")
                                              for b in BASELINES]
    assert [c["title"] for c in result["columns"]] == titles
    header = next(line for line in markdown.splitlines() if line.startswith("| Label"))
    assert header == "| Label | Positives (train / test) | " + " | ".join(titles) + " |"
    rows = [line.split(" | ")[0].lstrip("| ") for line in markdown.splitlines() if line.startswith("| ")][1:]
    assert rows == [x.replace("_", " ") for x in NIH_LABELS] + ["**Mean**", "Findings in the mean"]
    table = [line for line in markdown.splitlines() if line.startswith("|")]
    assert all(len(line.strip("|").split("|")) == len(titles) + 2 for line in table)

    # the test images are the split's, and the network's column is the viewer's own Predictor
    split = dict(line.split(",")[::2] for line in (folder / "split.csv").read_text().splitlines()[1:])
    test_names = sorted(n for n, s in split.items() if s == "test")
    assert sorted(result["test_images"]) == test_names
    assert result["data"]["train_images"] == len(split) - len(test_names)
    paths = [folder / "nih" / "images" / n for n in result["test_images"]]
    predictor = Predictor.open(model, threads=1, cache_size=0)
    np.testing.assert_allclose(result["scores"]["network"], [predictor.predict(p).probabilities for p in paths],
                               atol=1e-6)

    # each AUROC is scikit-learn's on the saved scores; the rare finding is not evaluable
    entries = {r.split(",")[0]: r.split(",")[1].split("|") for r in
               (folder / "nih" / "Data_Entry_2017_v2020.csv").read_text().splitlines()[1:]}
    targets = np.array([[label in entries[n] for label in NIH_LABELS] for n in result["test_images"]], float)
    checked = 0
    for column in result["columns"]:
        scores = np.array(result["scores"][column["key"]], dtype=float)
        for j, label in enumerate(NIH_LABELS):
            entry = column["report"]["auroc"][label]
            if label in column["not_evaluable"]:
                assert entry is None and np.isnan(scores[:, j]).all()
            elif 0 < targets[:, j].sum() < len(targets):
                assert entry["value"] == pytest.approx(roc_auc_score(targets[:, j], scores[:, j]), abs=1e-6)
                checked += 1
            else:
                assert entry is None
    assert checked >= 9 * 5
    trained = [n for n, which in split.items() if which != "test"]
    untrained = {label: NOT_EVALUABLE for label in NIH_LABELS if not any(label in entries[n] for n in trained)}
    assert RARE in untrained and result["positives"][RARE] == {"train": 0, "test": 1}
    network, *baselines = result["columns"]
    assert network["not_evaluable"] == {} and network["report"]["auroc"][RARE] is not None
    assert all(c["not_evaluable"] == untrained for c in baselines)
    rare_row = next(line for line in markdown.splitlines() if line.startswith(f"| {RARE} |"))
    assert rare_row.count(f"n/a ({NOT_EVALUABLE})") == 8
    in_mean = [c["report"]["labels_with_auroc"] for c in result["columns"]]
    lost = sum(network["report"]["auroc"][label] is not None for label in untrained)
    assert in_mean == [in_mean[0]] + [in_mean[0] - lost] * 8
    assert markdown.splitlines()[-1] == "| Findings in the mean | | " + " | ".join(map(str, in_mean)) + " |"


def test_pooled_features_are_the_gap_of_the_torch_trunk(tiny_data: Path, tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = build_model("tiny", NIH_LABELS).eval()
    paths = sorted((tiny_data / "images").glob("*.png"))[:5]
    prepared = np.stack([preprocess(p, 64, 64) for p in paths])
    result = export_pair(net, calibration(), fields_for("tiny", 64), tmp_path, "m", prepared[:3])
    written = result.classifier_path.read_bytes()
    model = FeatureModel(result.classifier_path, threads=1)

    table = load_labelled_images(tiny_data)
    samples = [s for s in table.samples if s.path in paths]
    features = extract_features(model, samples, ("pooled", "pixels"), pixel_size=16)
    with torch.no_grad():
        trunk = net.feature_maps(torch.from_numpy(prepared[:, None]))
    np.testing.assert_allclose(features.sets["pooled"], trunk.mean(dim=(2, 3)).numpy(), atol=1e-5)
    assert features.sets["pooled"].shape == (5, net.num_features)
    # pixels: the prepared image area-resized, computed here with OpenCV directly
    expected = np.stack([cv2.resize(x, (16, 16), interpolation=cv2.INTER_AREA).ravel() for x in prepared])
    np.testing.assert_allclose(features.sets["pixels"], expected, atol=1e-6)
    np.testing.assert_allclose(features.probabilities, model.pair.classify(prepared[:, None])[0], atol=1e-6)
    assert result.classifier_path.read_bytes() == written  # the output was added to a copy in memory


def test_the_demo_models_pooled_tensor_is_the_mean_of_its_features() -> None:
    demo = Path(__file__).resolve().parents[2] / "resources" / "models" / "demo.onnx"
    before = demo.stat().st_mtime_ns
    model = FeatureModel(demo, threads=1)
    assert model.pooled_name == "mean"
    image = np.random.default_rng(0).random((1, 1, *model.input_size)).astype(np.float32)
    probabilities, pooled = model.run(image)
    reference, maps = model.pair.classify(image)
    np.testing.assert_array_equal(probabilities, reference)
    np.testing.assert_allclose(pooled, maps.mean(axis=(2, 3)), rtol=1e-4, atol=1e-5)
    assert demo.stat().st_mtime_ns == before  # the user's file is only read


def test_a_graph_without_a_linear_layer_is_refused() -> None:
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["image"], ["mean"], keepdims=0, axes=[2, 3]),
         helper.make_node("Sigmoid", ["mean"], ["probabilities"])], "g",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 1, 8, 8])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 1])])
    with pytest.raises(TrainerError, match="m.onnx: no linear layer found before 'probabilities'"):
        pooled_tensor_name(graph, "m.onnx")


def test_findings_without_both_classes_are_not_evaluable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("trainer.baselines.models.TREES", 20)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 4))
    y = np.zeros((30, 3))
    y[:, 0] = x[:, 0] > 0
    y[:, 2] = 1
    for name in BASELINES:
        fitted = fit_and_score(name, x, y, x[:10], ("a", "b", "c"), seed=0)
        assert fitted.not_evaluable == {"b": NOT_EVALUABLE, "c": ALL_POSITIVE}
        assert np.isnan(fitted.scores[:, 1:]).all() and np.isfinite(fitted.scores[:, 0]).all()
        assert roc_auc_score(y[:10, 0], fitted.scores[:, 0]) > 0.8  # learnt the one informative column
    # the SVM scores by its decision function; the others by the probability of class 1
    assert fitted.scores[:, 0].min() < 0 and fit_and_score("RF", x, y, x, ("a", "b", "c")).scores[:, 0].min() >= 0
    again = fit_and_score("RF", x, y, x[:10], ("a", "b", "c"), seed=0).scores
    np.testing.assert_array_equal(again, fit_and_score("RF", x, y, x[:10], ("a", "b", "c"), seed=0).scores)


def test_the_split_is_chosen_as_the_report_chooses_it(folder: Path) -> None:
    data = folder / "nih"
    model = make_model_pair(folder / "models")
    fresh = choose_images(data, model, None, seed=0)  # nothing beside the model, no card hash: a new split
    assert fresh.description["split_file"] is None and fresh.description["matches_card"] is None
    (folder / "models" / "split.csv").write_bytes((folder / "split.csv").read_bytes())
    beside = choose_images(data, model, None)
    assert beside.description["split_file"] == str(folder / "models" / "split.csv")
    assert RARE not in {x for s in beside.train for x in s.labels}
    with pytest.raises(TrainerError, match="not the split this model was trained with"):
        choose_images(data, model, "0" * 64)
    capped = choose_images(data, model, None, images=10)  # the first of each side, in the split's proportions
    test_share = round(10 * len(beside.test) / 28)
    assert capped.test == beside.test[:test_share] and capped.train == beside.train[:10 - test_share]


def test_bad_models_give_one_clear_error(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = str(folder / "nih")
    code, _, err = run(["baselines", "--model", str(folder / "missing.onnx"), "--data", data], capsys)
    assert_one_clear_error(code, err, "missing.onnx", "not found")
    (folder / "junk.onnx").write_text("not a model", encoding="utf-8")
    (folder / "junk.gradcam.onnx").write_text("not a model", encoding="utf-8")
    code, _, err = run(["baselines", "--model", str(folder / "junk.onnx"), "--data", data], capsys)
    assert_one_clear_error(code, err, "junk.onnx", "not a readable ONNX model")
    model = make_model_pair(folder / "models")
    code, _, err = run(["baselines", "--model", str(model), "--data", data, "--images", "1"], capsys)
    assert_one_clear_error(code, err, "--images must be at least 2")


@pytest.mark.shared_data
def test_the_demo_model_on_the_nih_sample(capsys: pytest.CaptureFixture[str]) -> None:
    data = shared_path("nih-sample")
    code, out, err = run(["baselines", "--data", str(data), "--images", "60", "--bootstrap", "50",
                          "--baselines", "kNN", "SVM", "--threads", "2"], capsys)
    assert code == 0, err
    assert "the demo model's split, whose hash matches the card's (`demo-split.csv`)" in out
    assert re.search(r"\| \*\*Mean\*\* \| \| 0\.\d{3} \(0\.\d{3}–[01]\.\d{3}\)", out)
    header = next(line for line in out.splitlines() if line.startswith("| Label"))
    assert header.endswith("| Network (demo) | kNN on densenet121 features | SVM on densenet121 features | "
                           "kNN on 32 px pixels | SVM on 32 px pixels |")
