"""trainer.evaluation (metrics, thresholds, calibration, predictions CSVs), against scikit-learn as the
independent oracle, and the JSON form of its records."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.calibration import calibration_curve
from sklearn.metrics import (
    average_precision_score,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)

from trainer.cli import main
from trainer.errors import TrainerError
from trainer.evaluation.calibrate import fit_calibration
from trainer.evaluation.metrics import (
    ModelMetrics,
    auroc,
    average_precision,
    calibration_error,
    confusion_figures,
    ece_report,
    evaluate_scores,
    micro_auroc,
    operating_points,
)
from trainer.evaluation.predictions import evaluate_predictions
from trainer.evaluation.thresholds import choose_thresholds, youden_threshold
from viewer.core.nih import NIH_LABELS, read_data_entry


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 6)), min_size=2, max_size=60))
def test_auroc_matches_sklearn_including_ties(pairs: list[tuple[bool, int]]) -> None:
    y = np.array([p for p, _ in pairs], float)
    score = np.array([s for _, s in pairs], float) / 6  # few distinct values: many ties
    if 0 < y.sum() < len(y):
        assert auroc(y, score) == pytest.approx(roc_auc_score(y, score), abs=1e-12)
    else:
        assert auroc(y, score) is None


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 6)), min_size=2, max_size=60))
def test_average_precision_matches_sklearn_including_ties(pairs: list[tuple[bool, int]]) -> None:
    y = np.array([p for p, _ in pairs], float)
    score = np.array([s for _, s in pairs], float) / 6
    if y.sum() > 0:
        assert average_precision(y, score) == pytest.approx(average_precision_score(y, score), abs=1e-12)
    else:
        assert average_precision(y, score) is None


def test_micro_auroc_matches_sklearn() -> None:
    rng = np.random.default_rng(5)
    y = (rng.random((200, 4)) < [0.05, 0.2, 0.4, 0.1]).astype(float)
    scores = np.round(y * rng.random((200, 4)) * 0.5 + rng.random((200, 4)), 2)  # with ties
    assert micro_auroc(y, scores) == pytest.approx(roc_auc_score(y, scores, average="micro"), abs=1e-12)
    report = evaluate_scores(y, scores, list("abcd"), resamples=0).to_dict()
    assert report["micro_auroc"] == pytest.approx(roc_auc_score(y, scores, average="micro"), abs=1e-6)
    for j, label in enumerate("abcd"):
        assert report["average_precision"][label] == pytest.approx(average_precision_score(y[:, j], scores[:, j]),
                                                                   abs=1e-6)
    assert report["mean_average_precision"] == pytest.approx(
        np.mean([average_precision_score(y[:, j], scores[:, j]) for j in range(4)]), abs=1e-6)


def test_operating_points_match_sklearn() -> None:
    rng = np.random.default_rng(6)
    y = (rng.random((300, 3)) < [0.1, 0.3, 0.0]).astype(float)
    p = np.clip(y * 0.3 + rng.random((300, 3)) * 0.7, 0, 1)
    thresholds = {"a": 0.5, "b": 0.62, "c": 0.4}
    result = operating_points(y, p, thresholds, ["a", "b", "c"], "test rule").to_dict()
    assert result["rule"] == "test rule"
    for j, label in enumerate("ab"):
        flagged = (p[:, j] >= thresholds[label]).astype(int)
        entry = result["per_label"][label]
        assert entry["sensitivity"] == pytest.approx(recall_score(y[:, j], flagged), abs=1e-6)
        assert entry["specificity"] == pytest.approx(recall_score(1 - y[:, j], 1 - flagged), abs=1e-6)
        assert entry["precision"] == pytest.approx(precision_score(y[:, j], flagged), abs=1e-6)
        assert entry["f1"] == pytest.approx(f1_score(y[:, j], flagged), abs=1e-6)
        assert entry["tp"] + entry["fn"] == int(y[:, j].sum()) and entry["threshold"] == thresholds[label]
    no_positives = result["per_label"]["c"]
    assert no_positives["sensitivity"] is None and no_positives["specificity"] is not None
    assert no_positives["f1"] == (0.0 if no_positives["fp"] else None)
    assert result["mean"]["sensitivity"] == pytest.approx(
        np.mean([result["per_label"][x]["sensitivity"] for x in "ab"]), abs=1e-6)
    assert confusion_figures(np.array([1, 0]), np.array([False, False])).precision is None


@pytest.mark.parametrize("bins", [5, 10])
def test_calibration_error_against_sklearns_calibration_curve(bins: int) -> None:
    rng = np.random.default_rng(7)
    p = rng.random(500) ** 2
    p[:5] = [0.0, 0.1, 0.2, 1.0, 0.5]  # values on bin edges go where scikit-learn puts them
    y = (rng.random(500) < np.clip(p * 1.3, 0, 1)).astype(float)
    observed, predicted = calibration_curve(y, p, n_bins=bins, strategy="uniform")
    edges = np.linspace(0, 1, bins + 1)
    counts = np.bincount(np.searchsorted(edges[1:-1], p), minlength=bins)
    weights = counts[counts > 0] / len(p)
    assert calibration_error(y, p, bins) == pytest.approx(np.sum(weights * np.abs(observed - predicted)), abs=1e-12)
    assert calibration_error(np.array([0.0, 1.0]), np.array([0.0, 1.0])) == 0.0  # perfectly calibrated
    assert calibration_error(np.array([0.0, 0.0]), np.array([0.95, 0.95])) == pytest.approx(0.95)


def test_bootstrap_interval_is_seeded_and_brackets_the_estimate() -> None:
    rng = np.random.default_rng(0)
    y = (rng.random((300, 3)) < [0.1, 0.3, 0.0]).astype(float)
    scores = y * 0.8 + rng.random((300, 3))
    report = evaluate_scores(y, scores, ["a", "b", "c"], resamples=400, seed=1).to_dict()
    for j, label in enumerate(["a", "b"]):
        entry = report["auroc"][label]
        assert entry["value"] == pytest.approx(roc_auc_score(y[:, j], scores[:, j]), abs=1e-6)
        low, high = entry["ci95"]
        assert low < entry["value"] < high and high - low < 0.2
        assert entry["n_pos"] == int(y[:, j].sum())
    assert report["auroc"]["c"] is None  # no positives: no AUROC
    assert report["mean_auroc"] == pytest.approx(np.mean([report["auroc"][x]["value"] for x in "ab"]), abs=1e-6)
    assert evaluate_scores(y, scores, ["a", "b", "c"], resamples=400, seed=1).to_dict() == report
    assert evaluate_scores(y, scores, ["a", "b", "c"], resamples=400,
            seed=2).auroc["a"].ci95 != report["auroc"]["a"]["ci95"]


def test_mean_auroc_interval_matches_scikit_learn_on_the_same_resamples() -> None:
    from trainer.evaluation.metrics import bootstrap_counts

    rng = np.random.default_rng(5)
    y = (rng.random((120, 3)) < [0.04, 0.3, 0.0]).astype(float)  # label a: a few positives, so some
    scores = y * 0.6 + rng.random((120, 3))                          # resamples draw none of them
    report = evaluate_scores(y, scores, ["a", "b", "c"], resamples=300, seed=3).to_dict()
    means = []
    for counts in bootstrap_counts(120, 300, seed=3):
        for row in counts:
            drawn = np.repeat(np.arange(120), row)
            values = [roc_auc_score(y[drawn, j], scores[drawn, j]) for j in (0, 1) if 0 < y[drawn,
                    j].sum() < len(drawn)]
            means.append(np.mean(values))
    low, high = report["mean_auroc_ci95"]
    assert [low, high] == pytest.approx(np.percentile(means, [2.5, 97.5]), abs=1e-6)
    assert low < report["mean_auroc"] < high
    assert evaluate_scores(y, scores, ["a", "b", "c"], resamples=0).mean_auroc_ci95 is None


def test_patient_bootstrap_draws_whole_patients() -> None:
    from trainer.evaluation.metrics import bootstrap_counts

    groups = [5, 5, 5, 9, 2, 2]
    for counts in bootstrap_counts(6, 50, seed=0, groups=groups):
        assert (counts[:, 0] == counts[:, 1]).all() and (counts[:, 1] == counts[:, 2]).all()
        assert (counts[:, 4] == counts[:, 5]).all()
        assert (counts[:, [0, 3, 4]].sum(axis=1) == 3).all()  # three patients drawn each time


SCORE_KEYS = ["auroc", "mean_auroc", "mean_auroc_ci95", "labels_with_auroc", "micro_auroc", "average_precision",
              "mean_average_precision", "n_images", "bootstrap"]


def test_the_records_keep_the_json_form_of_metrics_json_and_the_card() -> None:
    """The typed records write the keys metrics.json, the card and --json have always held, in order."""
    rng = np.random.default_rng(8)
    y = (rng.random((60, 2)) < [0.3, 0.0]).astype(float)
    p = np.clip(y * 0.4 + rng.random((60, 2)) * 0.6, 0, 1)
    scores = evaluate_scores(y, p, ["a", "b"], resamples=20, seed=4, groups=list(range(30)) * 2)
    form = scores.to_dict()
    assert list(form) == SCORE_KEYS
    assert list(form["auroc"]["a"]) == ["value", "n_pos", "n_neg", "ci95"] and form["auroc"]["b"] is None
    assert form["bootstrap"] == {"resamples": 20, "seed": 4, "unit": "patient", "interval": "percentile 95%"}
    assert list(evaluate_scores(y, p, ["a", "b"], resamples=0).to_dict()["auroc"]["a"]) == ["value", "n_pos", "n_neg"]
    points = operating_points(y, p, {"a": 0.5, "b": 0.25}, ["a", "b"], "rule").to_dict()
    assert list(points) == ["rule", "per_label", "mean", "per_image"] and list(points["mean"]) == ["sensitivity",
            "specificity", "f1"]
    assert list(points["per_image"]) == ["images", "flags", "true_labels", "ratio"]
    assert list(points["per_label"]["a"]) == ["threshold", "tp", "fp", "tn", "fn", "sensitivity", "specificity",
                                              "precision", "f1"]
    errors = ece_report(y, p, p, ["a", "b"], "test", "platt").to_dict()
    assert list(errors) == ["split", "calibration", "bins", "binning", "before", "after"]
    assert list(errors["before"]) == ["per_label", "mean"]
    metrics = ModelMetrics(scores, operating_points(y, p, {"a": 0.5, "b": 0.25}, ["a", "b"], "rule"),
                           ece_report(y, p, p, ["a", "b"], "test", "platt")).to_dict()
    assert list(metrics) == [*SCORE_KEYS, "operating_points", "calibration_error"]
    assert json.loads(json.dumps(metrics)) == metrics  # JSON values only: written as they are
    assert list(choose_thresholds(y, p, ["a", "b"]).to_card()) == ["rule", "values", "per_label", "roc"]


def test_youden_threshold_is_the_best_cut() -> None:
    rng = np.random.default_rng(3)
    y = rng.random(200) < 0.3
    p = np.clip(y * 0.3 + rng.random(200) * 0.7, 0, 1)
    threshold, sensitivity, specificity = youden_threshold(y, p)
    flagged = p >= threshold
    assert sensitivity == pytest.approx(flagged[y].mean()) and specificity == pytest.approx((~flagged[~y]).mean())
    best = max((p >= t)[y].mean() + (p < t)[~y].mean() - 1 for t in np.unique(p))
    assert sensitivity + specificity - 1 == pytest.approx(best)


def test_thresholds_fall_back_and_carry_the_validation_roc() -> None:
    rng = np.random.default_rng(4)
    y = np.stack([rng.random(80) < 0.3, np.zeros(80, bool)], axis=1).astype(float)
    p = rng.random((80, 2))
    result = choose_thresholds(y, p, ["a", "b"]).to_card()
    assert result["values"]["b"] == 0.5 and "fallback" in result["per_label"]["b"]["rule"]
    assert set(result["roc"]) == {"a"}
    fpr, tpr, thresholds = roc_curve(y[:, 0], p[:, 0], drop_intermediate=False)
    np.testing.assert_allclose(result["roc"]["a"]["threshold"], thresholds[1:], atol=1e-6)
    np.testing.assert_allclose(result["roc"]["a"]["tpr"], tpr[1:], atol=1e-6)
    assert 0 < result["values"]["a"] < 1


def test_platt_calibration_recovers_a_known_miscalibration() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 2, (4000, 3))
    true_p = 1 / (1 + np.exp(-(0.5 * logits - 1.0)))
    targets = (rng.random((4000, 3)) < true_p).astype(np.float32)
    targets[:, 2] = 0  # one class only: left alone
    calibration = fit_calibration(logits, targets, "platt", ["a", "b", "c"])
    np.testing.assert_allclose(calibration.scale[:2], 0.5, atol=0.06)
    np.testing.assert_allclose(calibration.bias[:2], -1.0, atol=0.12)
    assert calibration.scale[2] == 1.0 and calibration.bias[2] == 0.0
    assert calibration.details["identity_for"] == ["c"]
    assert calibration.details["val_nll_after"] < calibration.details["val_nll_before"]
    probabilities = calibration.apply(logits)
    assert roc_auc_score(targets[:, 0], probabilities[:, 0]) == pytest.approx(roc_auc_score(targets[:, 0],
            logits[:, 0]))
    card = calibration.to_card(["a", "b", "c"])
    assert card["applied_in_graph"] is True and card["method"] == "platt"
    temperature = fit_calibration(logits, targets, "temperature", ["a", "b", "c"])
    assert (temperature.bias == 0).all() and temperature.scale[0] != 1.0
    assert fit_calibration(logits, targets, "none", ["a", "b", "c"]).to_card(["a", "b", "c"])["method"] == "none"


# -- cxr-train evaluate ----------------------------------------------------------------------------
def write_predictions(path: Path, names: list[str], scores: np.ndarray, prefix: str,
                      status: list[str] | None = None) -> Path:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Image Index", "path", "status", "error"] + [prefix + x for x in NIH_LABELS])
        for i, name in enumerate(names):
            ok = status[i] if status else "ok"
            writer.writerow([name, f"images/{name}", ok, "" if ok == "ok" else "cannot be read"]
                            + [f"{v:.6f}" for v in scores[i]])
    return path


@pytest.mark.parametrize("prefix", ["prob_", ""])
def test_evaluate_predictions_against_the_labels(tiny_data: Path, tmp_path: Path, prefix: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    entries = read_data_entry(tiny_data / "Data_Entry_2017_v2020.csv")
    names = sorted(entries)
    rng = np.random.default_rng(0)
    truth = np.array([[float(x in entries[n].labels) for x in NIH_LABELS] for n in names])
    scores = truth * 0.3 + rng.random(truth.shape)
    status = ["ok"] * len(names)
    status[0] = "error"  # a row the batch could not read is left out
    path = write_predictions(tmp_path / "p.csv", names + ["99999999_000.png"],
                             np.vstack([scores, rng.random((1, 14))]), prefix, status + ["ok"])
    report = evaluate_predictions(path, data=tiny_data / "images", resamples=100).to_dict()
    assert report["rows_not_ok"] == 1 and report["rows_not_in_labels"] == 1 and report["n_images"] == len(names) - 1
    for j, label in enumerate(NIH_LABELS):
        y, s = truth[1:, j], np.round(scores[1:, j], 6)
        expected = roc_auc_score(y, s) if 0 < y.sum() < len(y) else None
        got = report["auroc"][label]
        assert (got is None) if expected is None else got["value"] == pytest.approx(expected, abs=1e-6)

    out = tmp_path / "report.json"
    code = main(["evaluate", "--predictions", str(path), "--data", str(tiny_data), "--json", str(out),
            "--bootstrap", "100"])
    printed = capsys.readouterr().out
    assert code == 0 and "mean" in printed and "Hernia" in printed
    assert json.loads(out.read_text())["auroc"] == json.loads(json.dumps(report["auroc"]))


def test_evaluate_reads_label_columns_in_any_spelling_and_scores_the_flags(tiny_data: Path, tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """An 'Image Index' column and one probability column per label, however the label is written;
    the batch CSV's flag_ columns give sensitivity, specificity and F1."""
    entries = read_data_entry(tiny_data / "Data_Entry_2017_v2020.csv")
    names = sorted(entries)
    rng = np.random.default_rng(1)
    labels = ["Effusion", "Pleural_Thickening", "Hernia"]
    truth = np.array([[float(x in entries[n].labels) for x in labels] for n in names])
    probs = np.clip(truth * 0.4 + rng.random(truth.shape) * 0.6, 0, 1)
    path = tmp_path / "other_model.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Image Index", "effusion", "Pleural Thickening", "HERNIA", "flag_Effusion",
                         "flag_Pleural Thickening", "flag_Hernia"])
        for name, row in zip(names, probs):
            writer.writerow([name, *[f"{v:.6f}" for v in row], *[int(v >= 0.5) for v in row]])
    report = evaluate_predictions(path, data=tiny_data, resamples=50).to_dict()
    assert list(report["auroc"]) == labels
    rounded = np.round(probs, 6)
    for j, label in enumerate(labels):
        assert report["auroc"][label]["value"] == pytest.approx(roc_auc_score(truth[:, j], rounded[:, j]), abs=1e-6)
        flagged = (rounded[:, j] >= 0.5).astype(int)
        point = report["operating_points"]["per_label"][label]
        assert point["sensitivity"] == pytest.approx(recall_score(truth[:, j], flagged), abs=1e-6)
        assert point["f1"] == pytest.approx(f1_score(truth[:, j], flagged), abs=1e-6)
        assert report["calibration_error"]["per_label"][label] == pytest.approx(
            calibration_error(truth[:, j], rounded[:, j]), abs=1e-6)
    assert report["micro_auroc"] == pytest.approx(roc_auc_score(truth, rounded, average="micro"), abs=1e-6)

    markdown, roc = tmp_path / "table.md", tmp_path / "roc.png"
    code = main(["evaluate", "--predictions", str(path), "--data", str(tiny_data), "--bootstrap", "20",
                 "--markdown", str(markdown), "--roc", str(roc)])
    printed = capsys.readouterr().out
    assert code == 0 and "micro-average" in printed and "PR-AUC" in printed
    table = markdown.read_text()
    assert "| Pleural Thickening |" in table and "0.708 | 0.765 | 0.8062 |" in table  # Wang, Yao, CheXNet
    assert roc.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_evaluate_refuses_files_without_predictions(tiny_data: Path, tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("Image Index,score\n00000001_000.png,0.3\n")
    with pytest.raises(TrainerError, match="no prediction columns"):
        evaluate_predictions(path, data=tiny_data)
    write_predictions(path, ["nobody.png"], np.zeros((1, 14)), "prob_")
    with pytest.raises(TrainerError, match="none of its 1 images is listed"):
        evaluate_predictions(path, data=tiny_data)
    with pytest.raises(TrainerError, match="no Data_Entry"):
        evaluate_predictions(path, data=tmp_path)
