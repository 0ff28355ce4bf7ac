"""trainer.evaluation.published: the published per-label AUROCs and the Markdown table beside them."""

from __future__ import annotations

import numpy as np
import pytest

from trainer.evaluation.metrics import ModelMetrics, ece_report, evaluate_scores, operating_points
from trainer.evaluation.published import PUBLISHED_AUROC, comparison_table, published_means
from trainer.evaluation.thresholds import THRESHOLD_RULE
from viewer.core.nih import NIH_LABELS


def test_the_published_table_covers_the_14_labels() -> None:
    assert list(PUBLISHED_AUROC) == list(NIH_LABELS)
    # spot checks against Rajpurkar et al. 2017, Table 2 (Wang, Yao, CheXNet)
    assert PUBLISHED_AUROC["Cardiomegaly"] == (0.807, 0.904, 0.9248)
    assert PUBLISHED_AUROC["Pneumonia"] == (0.633, 0.713, 0.7680)
    assert PUBLISHED_AUROC["Hernia"] == (0.767, 0.914, 0.9164)
    # a cross-check of the 14 CheXNet values: their mean is the 0.841 the paper reports
    assert published_means()[2] == pytest.approx(0.841, abs=5e-4)


def test_the_table_puts_each_label_beside_the_papers() -> None:
    rng = np.random.default_rng(0)
    y = (rng.random((400, 14)) < 0.15).astype(float)
    y[:, 13] = 0  # Hernia without positives in this test split
    logits = y * 2 + rng.normal(0, 1, y.shape)
    probs = 1 / (1 + np.exp(-(0.5 * logits - 1)))
    metrics = ModelMetrics(
        evaluate_scores(y, probs, NIH_LABELS, resamples=50, seed=0),
        operating_points(y, probs, {x: 0.3 for x in NIH_LABELS}, NIH_LABELS, THRESHOLD_RULE),
        ece_report(y, 1 / (1 + np.exp(-logits)), probs, NIH_LABELS, "test", "platt"),
    ).to_dict()
    table = comparison_table(metrics, "demo")
    lines = table.splitlines()
    assert lines[0] == "# demo: per-label results beside the published AUROCs"
    assert "Rajpurkar et al. 2017 (CheXNet, arXiv:1711.05225), Table 2" in table
    assert THRESHOLD_RULE in table and "ECE before → after calibration" in table
    flags = (probs >= 0.3).sum(axis=1).mean()
    assert f"Flags per image: {flags:.2f} against {y.sum(axis=1).mean():.2f} true labels per image" in table
    cells = lambda line: [c.strip() for c in line.strip().strip("|").split("|")]  # noqa: E731
    rows = {cells(line)[0]: cells(line) for line in lines if line.startswith("| ")}
    atelectasis = rows["Atelectasis"]
    entry = metrics["auroc"]["Atelectasis"]
    assert atelectasis[1] == str(entry["n_pos"])
    assert atelectasis[2] == f"{entry['value']:.3f} ({entry['ci95'][0]:.3f}–{entry['ci95'][1]:.3f})"
    assert atelectasis[3] == f"{metrics['average_precision']['Atelectasis']:.3f}"
    assert atelectasis[4] == f"{metrics['operating_points']['per_label']['Atelectasis']['sensitivity']:.3f}"
    assert atelectasis[-3:] == ["0.716", "0.772", "0.8094"]
    before = metrics["calibration_error"]["before"]["per_label"]["Atelectasis"]
    after = metrics["calibration_error"]["after"]["per_label"]["Atelectasis"]
    assert atelectasis[7] == f"{before:.3f} → {after:.3f}"
    assert rows["Hernia"][2] == "n/a (one class only)" and rows["Hernia"][-3:] == ["0.767", "0.914", "0.9164"]
    low, high = metrics["mean_auroc_ci95"]
    assert rows["**Mean** (13 labels)"][2] == f"{metrics['mean_auroc']:.3f} ({low:.3f}–{high:.3f})"
    assert rows["**Mean** (13 labels)"][-1] == "0.8414"
    assert rows["**Micro-average**"][2] == f"{metrics['micro_auroc']:.3f}"
    header, rule = [line for line in lines if line.startswith("|")][:2]
    assert header.count("|") == rule.count("|")  # a well-formed Markdown table
    assert all(line.count("|") == header.count("|") for line in lines if line.startswith("| "))
