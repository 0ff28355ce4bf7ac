"""``cxr-train compare`` on generated NIH-like images and real (tiny) ONNX pairs, every figure
recomputed here from each model's own ``Predictor`` and scikit-learn; the demo model on real NIH
images; labels that pair by name, by the taxonomy, or not at all; the split checks; bad input."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from tests.conftest import shared_path
from tests.factories import NIH_LABELS, make_model_pair
from tests.trainer.synthetic import make_dataset
from tests.trainer.test_cli import assert_one_clear_error, run
from trainer.compare.figures import sensitivity_at_specificity
from trainer.compare.pairing import pair_labels
from trainer.data.nih import load_labelled_images
from trainer.data.split import read_split_csv, split_hash
from trainer.evaluation.metrics import bootstrap_counts
from viewer.core.inference import Predictor
from viewer.core.resources import demo_model_path

CHEXPERT_NAMED = ("Atelectasis", "Pleural Effusion", "Pneumothorax", "Support Devices")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """12 patients x 2 generated images at 64 px, and a split.csv (patients 7-12 are the test split)."""
    data = make_dataset(tmp_path / "nih", patients=12, per_patient=2)
    lines = ["Image Index,Patient ID,split\n"]
    for path in sorted((data / "images").glob("*.png")):
        patient = int(path.name[:8])
        lines.append(f"{path.name},{patient},{'train' if patient <= 4 else 'val' if patient <= 6 else 'test'}\n")
    (tmp_path / "split.csv").write_text("".join(lines), encoding="utf-8")
    return tmp_path


def truth(data: Path, images: list[Path], labels: tuple[str, ...]) -> np.ndarray:
    """[N, L] 0/1 from the Data_Entry CSV, read here independently of the trainer's reader."""
    rows = (data / "Data_Entry_2017_v2020.csv").read_text(encoding="utf-8").splitlines()[1:]
    found = {row.split(",")[0]: row.split(",")[1].split("|") for row in rows}
    return np.array([[label in found[p.name] for label in labels] for p in images], float)


def roc_height(y: np.ndarray, scores: np.ndarray, fpr_at: float = 0.1) -> float:
    """The ROC polyline's height at ``fpr_at``, from operating points counted here by hand (the
    highest where the polyline is vertical there)."""
    positives, negatives = scores[y == 1], scores[y == 0]
    points = [(0.0, 0.0)] + [(float((negatives >= t).mean()), float((positives >= t).mean()))
                             for t in np.unique(scores)[::-1]]
    heights = []
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        if x0 - 1e-9 <= fpr_at <= x1 + 1e-9:
            heights.append(max(y0, y1) if x1 - x0 < 1e-12 else y0 + (y1 - y0) * (fpr_at - x0) / (x1 - x0))
    return max(heights)


def compare(argv: list[str], capsys: pytest.CaptureFixture[str], out: Path) -> tuple[dict, str]:
    code, stdout, err = run(["compare", *argv, "--json", str(out / "c.json"), "--markdown", str(out / "c.md")],
                            capsys)
    assert code == 0, err
    markdown = (out / "c.md").read_text(encoding="utf-8")
    assert markdown in stdout
    return json.loads((out / "c.json").read_text(encoding="utf-8")), markdown


def test_every_figure_is_what_the_two_predictors_say(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = make_model_pair(folder / "models", "a", seed=1)
    b = make_model_pair(folder / "models", "b", seed=2, size=32)  # another input size: prepared per model
    resamples = 40
    result, markdown = compare(["--model", str(a), "--model", str(b), "--data", str(folder / "nih"),
                                "--bootstrap", str(resamples), "--top", "5", "--threads", "1"], capsys, folder)
    images = sorted((folder / "nih" / "images").glob("*.png"))
    assert result["data"]["evaluated"] == len(images) == 24 and result["data"]["subset"] == "all"
    assert result["models"]["b"]["input_size"] == [32, 32]
    assert [p["how"] for p in result["pairing"]["pairs"]] == ["same name"] * 14

    findings = {key: [Predictor.open(m, threads=1).predict(p) for p in images] for key, m in (("a", a), ("b", b))}
    probs = {key: np.stack([f.probabilities for f in found]).astype(float) for key, found in findings.items()}
    flags = {key: np.stack([f.flags for f in found]) for key, found in findings.items()}
    y = truth(folder / "nih", images, NIH_LABELS)
    patients = [int(p.name[:8]) for p in images]
    draws = np.concatenate(list(bootstrap_counts(len(images), resamples, 0, patients)))
    differences, defined = [], []
    for j, label in enumerate(NIH_LABELS):
        entry = result["per_label"][label]
        assert (entry["n_pos"], entry["n_neg"]) == (int(y[:, j].sum()), int((1 - y[:, j]).sum()))
        assert entry["flagged_by_a_only"]["images"] == int((flags["a"][:, j] & ~flags["b"][:, j]).sum())
        assert entry["flagged_by_b_only"]["images"] == int((flags["b"][:, j] & ~flags["a"][:, j]).sum())
        a_only = flags["a"][:, j] & ~flags["b"][:, j]
        assert entry["flagged_by_a_only"]["positives"] == int((a_only & (y[:, j] == 1)).sum())
        assert entry["flags_a"] == int(flags["a"][:, j].sum()) and entry["flags_b"] == int(flags["b"][:, j].sum())
        assert (entry["threshold_a"], entry["threshold_b"]) == pytest.approx(
            (findings["a"][0].thresholds[j], findings["b"][0].thresholds[j]))
        if not 0 < y[:, j].sum() < len(y):
            assert entry["auroc_a"] is None and entry["difference"] is None
            continue
        auc_a, auc_b = roc_auc_score(y[:, j], probs["a"][:, j]), roc_auc_score(y[:, j], probs["b"][:, j])
        assert entry["auroc_a"] == pytest.approx(auc_a, abs=1e-5)
        assert entry["auroc_b"] == pytest.approx(auc_b, abs=1e-5)
        assert entry["difference"] == pytest.approx(auc_b - auc_a, abs=1e-5)
        for key in ("a", "b"):
            assert entry[f"sensitivity_at_90_specificity_{key}"] == pytest.approx(
                roc_height(y[:, j], probs[key][:, j]), abs=1e-6)
        # the interval: the same patient draws, each resample's AUROCs by scikit-learn's weighted form
        sampled = np.array([roc_auc_score(y[:, j], probs["b"][:, j], sample_weight=w)
                            - roc_auc_score(y[:, j], probs["a"][:, j], sample_weight=w)
                            if 0 < (w * y[:, j]).sum() < w.sum() else np.nan for w in draws])
        differences.append(sampled)
        defined.append(auc_b - auc_a)
        usable = sampled[~np.isnan(sampled)]
        if len(usable) >= resamples / 2:
            assert entry["difference_ci95"] == pytest.approx(np.percentile(usable, [2.5, 97.5]), abs=1e-5)
        else:
            assert entry["difference_ci95"] is None
    mean = result["mean"]
    assert mean["labels"] == len(defined) >= 8
    assert mean["difference"] == pytest.approx(np.mean(defined), abs=1e-5)
    assert mean["difference"] == pytest.approx(mean["auroc_b"] - mean["auroc_a"], abs=2e-6)
    per_resample = np.nanmean(np.array(differences), axis=0)
    assert mean["difference_ci95"] == pytest.approx(np.percentile(per_resample, [2.5, 97.5]), abs=1e-5)
    assert mean["flagged_by_a_only"] > 0 and mean["flagged_by_b_only"] > 0  # the flips are checked on something
    assert mean["flagged_by_a_only"] == sum(int((flags["a"] & ~flags["b"])[:, j].sum()) for j in range(14))

    # the largest changes: by image name and label, largest |B - A| first
    change = probs["b"] - probs["a"]
    top = result["top_changes"]
    assert len(top) == 5
    assert [abs(c["change"]) for c in top] == sorted((abs(c["change"]) for c in top), reverse=True)
    assert abs(top[0]["change"]) == pytest.approx(np.abs(change).max(), abs=1e-6)
    for c in top:
        i, j = [p.name for p in images].index(c["image"]), NIH_LABELS.index(c["label"])
        assert c["change"] == pytest.approx(change[i, j], abs=1e-6)
        assert (c["flag_a"], c["flag_b"], c["target"]) == (bool(flags["a"][i, j]), bool(flags["b"][i, j]), y[i, j])
    assert f"| `{top[0]['image']}` | {top[0]['label']} |" in markdown
    assert "| **Mean** (" in markdown and "Note: no split file" in markdown
    assert "Flags at each card's own thresholds: fixed 0.5 (test model)" in markdown


def test_sensitivity_at_specificity_on_and_between_roc_points() -> None:
    # ten negatives 0.0 ... 0.9: the false-positive rate is 0.1 exactly at the top negative
    negatives = np.arange(10) / 10
    y = np.r_[np.zeros(10), np.ones(3)]
    assert sensitivity_at_specificity(y, np.r_[negatives, 0.95, 0.85, 0.5]) == pytest.approx(2 / 3)
    # five negatives: rate 0.1 lies between (0, 0) and (0.4, 0.5) (a tie of two negatives and a positive)
    y = np.r_[np.zeros(5), np.ones(2)]
    assert sensitivity_at_specificity(y, np.array([0.8, 0.8, 0.2, 0.2, 0.2, 0.8, 0.5])) == pytest.approx(0.125)
    assert sensitivity_at_specificity(np.array([0.0, np.nan, 1.0]), np.array([0.1, 0.9, 0.2])) == 1.0
    assert sensitivity_at_specificity(np.zeros(4), np.arange(4.0)) is None


def test_labels_pair_by_name_then_by_the_taxonomy() -> None:
    pairing = pair_labels(("Effusion", "Infiltration", "Mass", "Hernia", "Pleural_Thickening"),
                          ("Pleural Effusion", "Infiltrate", "mass", "Support Devices", "pleural thickening"))
    assert [(p.a, p.b, p.how) for p in pairing.pairs] == [
        ("Effusion", "Pleural Effusion", "taxonomy: Effusion"), ("Infiltration", "Infiltrate", "same name"),
        ("Mass", "mass", "same name"), ("Pleural_Thickening", "pleural thickening", "same name")]
    assert pairing.pairs[0].name == "Effusion / Pleural Effusion" and pairing.pairs[2].index_b == 2
    assert pairing.only_a == ("Hernia",) and pairing.only_b == ("Support Devices",)
    assert pair_labels(("Edema",), ("Fracture",)).pairs == ()


def test_a_model_with_chexpert_names_on_nih_images(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = make_model_pair(folder / "models", "nih", seed=1)
    b = make_model_pair(folder / "models", "chex", labels=CHEXPERT_NAMED, seed=3)
    result, markdown = compare(["--model", str(a), "--model", str(b), "--data", str(folder / "nih"),
                                "--bootstrap", "20"], capsys, folder)
    assert [(p["a"], p["b"], p["how"]) for p in result["pairing"]["pairs"]] == [
        ("Atelectasis", "Atelectasis", "same name"), ("Effusion", "Pleural Effusion", "taxonomy: Effusion"),
        ("Pneumothorax", "Pneumothorax", "same name")]
    assert result["pairing"]["only_b"] == ["Support Devices"]
    assert len(result["pairing"]["only_a"]) == 11 and "Support Devices" not in result["per_label"]
    assert "Only B has (not compared): Support Devices" in markdown
    assert "Effusion = Pleural Effusion (taxonomy: Effusion)" in markdown

    images = sorted((folder / "nih" / "images").glob("*.png"))
    y = truth(folder / "nih", images, ("Effusion",))[:, 0]
    p_a = np.stack([Predictor.open(a).predict(p).probabilities for p in images])[:, NIH_LABELS.index("Effusion")]
    p_b = np.stack([Predictor.open(b).predict(p).probabilities for p in images])[:, 1]
    entry = result["per_label"]["Effusion / Pleural Effusion"]
    assert entry["auroc_a"] == pytest.approx(roc_auc_score(y, p_a), abs=1e-5)
    assert entry["auroc_b"] == pytest.approx(roc_auc_score(y, p_b), abs=1e-5)
    assert entry["difference"] == pytest.approx(roc_auc_score(y, p_b) - roc_auc_score(y, p_a), abs=1e-5)

    # a pair NIH does not annotate has no figures, and says why
    c = make_model_pair(folder / "models", "chex2", labels=CHEXPERT_NAMED, seed=4)
    result, markdown = compare(["--model", str(b), "--model", str(c), "--data", str(folder / "nih"),
                                "--bootstrap", "20"], capsys, folder)
    assert result["data"]["not_annotated"] == ["Support Devices"]
    assert result["per_label"]["Support Devices"]["auroc_a"] is None and result["mean"]["labels"] == 3
    assert "Not annotated by nih (no figures): Support Devices" in markdown


def with_split(model_folder: Path, name: str, digest: str, seed: int) -> Path:
    """A tiny pair whose card records the split hash ``digest``."""
    metrics = {"auroc": {x: None for x in NIH_LABELS}, "split": {"hash": digest}}
    return make_model_pair(model_folder, name, seed=seed, card_overrides={"metrics": metrics})


def test_the_split_file_is_checked_against_both_cards(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = load_labelled_images(folder / "nih")
    digest = split_hash(table.samples, read_split_csv(folder / "split.csv", table.samples))
    mine = with_split(folder / "models", "mine", digest, 1)
    other = with_split(folder / "models", "other", "f" * 64, 2)
    split = ["--data", str(folder / "nih"), "--split-file", str(folder / "split.csv"), "--bootstrap", "10"]

    result, markdown = compare(["--model", str(mine), "--model", str(other), *split], capsys, folder)
    assert result["data"]["subset"] == "test" and result["data"]["evaluated"] == 12
    assert result["data"]["split_matches_card"] == {"a": True, "b": False}
    assert "the split both models were trained with" not in markdown
    assert "trained on different splits" in markdown
    assert "is not the split B (other.onnx) was trained with" in markdown

    result, markdown = compare(["--model", str(mine), "--model", str(mine), *split], capsys, folder)
    assert "(hash " + digest[:12] + ", the split both models were trained with)" in markdown
    assert result["data"]["notes"] == []

    code, _, err = run(["compare", "--model", str(other), "--model", str(other), *split], capsys)
    assert_one_clear_error(code, err, "split.csv", "the split of neither model", "--subset all")
    result, markdown = compare(["--model", str(other), "--model", str(other), *split, "--subset", "all"],
                               capsys, folder)
    assert result["data"]["evaluated"] == 24 and result["data"]["split_matches_card"] == {"a": False, "b": False}


def test_bad_input_gives_one_clear_error(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = make_model_pair(folder / "models", "a")
    data = ["--data", str(folder / "nih")]
    code, _, err = run(["compare", "--model", str(a), *data], capsys)
    assert_one_clear_error(code, err, "compare needs two models", "(got 1)")
    code, _, err = run(["compare", "--model", str(a), "--model", str(folder / "missing.onnx"), *data], capsys)
    assert_one_clear_error(code, err, "missing.onnx")
    elsewhere = make_model_pair(folder / "models", "fractures", labels=("Fracture",))
    code, _, err = run(["compare", "--model", str(a), "--model", str(elsewhere), *data], capsys)
    assert_one_clear_error(code, err, "fractures.onnx", "nothing to compare")
    code, _, err = run(["compare", "--model", str(a), "--model", str(a), *data, "--subset", "test"], capsys)
    assert_one_clear_error(code, err, "--subset test needs --split-file")


def test_an_unreadable_image_is_named_and_left_out(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = make_model_pair(folder / "models", "a", seed=1)
    broken = sorted((folder / "nih" / "images").glob("*.png"))[0]
    broken.write_bytes(b"not a png")
    result, markdown = compare(["--model", str(a), "--model", str(a), "--data", str(folder / "nih"),
                                "--bootstrap", "10"], capsys, folder)
    assert list(result["data"]["unreadable"]) == [broken.name] and result["data"]["evaluated"] == 23
    assert f"Unreadable: `{broken.name}`" in markdown


def nih_slice(nih: Path, folder: Path, count: int) -> list[Path]:
    """``folder/images``: links to the first ``count`` real NIH images (by name), and beside them the
    official label file's rows of those images (reading all 112,120 rows takes seconds)."""
    (folder / "images").mkdir(parents=True)
    chosen = sorted((nih / "images").glob("*.png"))[:count]
    for image in chosen:
        os.symlink(image, folder / "images" / image.name)
    names = {p.name for p in chosen}
    lines = (nih / "Data_Entry_2017_v2020.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    rows = [line for line in lines[1:] if line.split(",", 1)[0] in names]
    (folder / "Data_Entry_2017_v2020.csv").write_text(lines[0] + "".join(rows), encoding="utf-8")
    return chosen


@pytest.mark.shared_data
@pytest.mark.slow
def test_the_demo_model_on_real_nih_images(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """20 real images (11 findings with both classes) against a tiny pair; 10 against itself. The
    densenet121 takes ~0.2 s an image on two cores: kept small."""
    nih = shared_path("nih-sample")
    chosen = nih_slice(nih, tmp_path / "nih20", 20)
    demo = demo_model_path()
    tiny = make_model_pair(tmp_path / "models", "tiny", seed=5)
    options = ["--bootstrap", "50", "--threads", "2"]

    result, markdown = compare(["--model", str(demo), "--model", str(tiny), "--data", str(tmp_path / "nih20"),
                                *options], capsys, tmp_path)
    assert result["data"]["evaluated"] == 20 and result["models"]["a"]["input_size"] == [224, 224]
    y = truth(tmp_path / "nih20", chosen, NIH_LABELS)
    p_demo = np.stack([Predictor.open(demo, threads=2).predict(p).probabilities for p in chosen]).astype(float)
    p_tiny = np.stack([Predictor.open(tiny).predict(p).probabilities for p in chosen]).astype(float)
    checked = 0
    for j, label in enumerate(NIH_LABELS):
        entry = result["per_label"][label]
        if 0 < y[:, j].sum() < len(y):
            assert entry["auroc_a"] == pytest.approx(roc_auc_score(y[:, j], p_demo[:, j]), abs=1e-5)
            expected = roc_auc_score(y[:, j], p_tiny[:, j]) - roc_auc_score(y[:, j], p_demo[:, j])
            assert entry["difference"] == pytest.approx(expected, abs=1e-5)
            assert entry["sensitivity_at_90_specificity_a"] == pytest.approx(roc_height(y[:, j], p_demo[:, j]),
                                                                             abs=1e-6)
            checked += 1
        else:
            assert entry["difference"] is None
    assert checked == result["mean"]["labels"] == 11
    assert "| **Mean** (11 labels) |" in markdown

    nih_slice(nih, tmp_path / "nih10", 10)
    result, markdown = compare(["--model", str(demo), "--model", str(demo), "--data", str(tmp_path / "nih10"),
                                *options], capsys, tmp_path)
    assert result["mean"]["labels"] >= 3
    assert result["mean"]["difference"] == 0.0 and result["mean"]["difference_ci95"] == [0.0, 0.0]
    assert result["mean"]["flagged_by_a_only"] == result["mean"]["flagged_by_b_only"] == 0
    assert all(e["difference"] in (None, 0.0) for e in result["per_label"].values())
    assert all(c["change"] == 0.0 for c in result["top_changes"])
