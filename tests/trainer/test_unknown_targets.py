"""Unknown targets (NaN) in evaluation: every figure leaves the image out of that label only.

Under ``--uncertainty ignore``, or for a label a dataset does not annotate, the target is neither
positive nor negative; counting it as a negative (what a 0 would do) biases AUROC, thresholds and
calibration. The oracle is the same figure computed by scikit-learn on the known rows alone.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from trainer.evaluation.calibrate import fit_calibration
from trainer.evaluation.metrics import (
    calibration_error,
    confusion_figures,
    evaluate_scores,
    micro_auroc,
    with_unknown,
)
from trainer.evaluation.thresholds import choose_thresholds, youden_threshold
from trainer.training.losses import validation_loss

LABELS = ("A", "B", "C")


@pytest.fixture
def case() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    targets = (rng.random((300, 3)) < 0.3).astype(np.float32)
    scores = np.clip(targets * 0.3 + rng.random((300, 3)) * 0.7, 0, 1)
    mask = np.ones_like(targets)
    mask[rng.random((300, 3)) < 0.25] = 0  # a quarter unknown
    mask[:, 2] = 0  # label C not annotated at all
    # the unknown entries are made to look like confident false negatives: counted as 0 they
    # would pull every figure down, so a figure that leaves them out is visibly different
    scores[(mask == 0) & (targets == 0)] = 0.99
    return targets, scores, mask


def test_auroc_and_ap_leave_unknown_rows_out(case):
    targets, scores, mask = case
    report = evaluate_scores(with_unknown(targets, mask), scores, LABELS, resamples=200, seed=0)
    for j, label in enumerate(LABELS[:2]):
        known = mask[:, j] > 0
        entry = report.auroc[label]
        assert entry.value == pytest.approx(roc_auc_score(targets[known, j], scores[known, j]), abs=1e-6)
        assert entry.value != pytest.approx(roc_auc_score(targets[:, j], scores[:, j]), abs=1e-3)
        assert (entry.n_pos, entry.n_neg) == (int(targets[known, j].sum()), int((targets[known, j] == 0).sum()))
        assert entry.ci95[0] <= entry.value <= entry.ci95[1]
        assert report.average_precision[label] == pytest.approx(
            average_precision_score(targets[known, j], scores[known, j]), abs=1e-6)
    assert report.auroc["C"] is None  # nothing known: no figure, not an AUROC over all-negatives
    assert report.labels_with_auroc == 2
    known = mask > 0
    assert report.micro_auroc == pytest.approx(roc_auc_score(targets[known], scores[known]), abs=1e-6)
    assert micro_auroc(with_unknown(targets, mask), scores) == pytest.approx(report.micro_auroc, abs=1e-6)


def test_bootstrap_never_counts_an_unknown_row():
    # every unknown row is a "positive" scored lowest: if a resample counted it, the intervals
    # would fall far below the point value, which is perfect on the known rows
    targets = np.array([1, 1, 1, 0, 0, 0, 1, 1, 1, 1] * 10, np.float64)
    scores = np.array([0.9, 0.8, 0.7, 0.1, 0.2, 0.3, 0.0, 0.0, 0.0, 0.0] * 10)
    mask = np.array([1, 1, 1, 1, 1, 1, 0, 0, 0, 0] * 10, np.float64)
    report = evaluate_scores(with_unknown(targets[:, None], mask[:, None]), scores[:, None], ("A",), resamples=200)
    entry = report.auroc["A"]
    assert entry.value == 1.0 and entry.ci95 == [1.0, 1.0]
    assert (entry.n_pos, entry.n_neg) == (30, 30)


def test_thresholds_calibration_and_loss_ignore_unknown(case):
    targets, scores, mask = case
    unknown = with_unknown(targets, mask)
    chosen = choose_thresholds(unknown, scores, LABELS, rule="youden")
    known = mask[:, 0] > 0
    assert chosen.values["A"] == pytest.approx(youden_threshold(targets[known, 0], scores[known, 0])[0], abs=1e-6)
    default = choose_thresholds(unknown, scores, LABELS).per_label["A"]  # the prevalence rule counts known rows
    assert (default["val_positives"], default["val_negatives"]) == (int(targets[known, 0].sum()),
                                                                   int((targets[known, 0] == 0).sum()))
    assert default["prevalence"] == pytest.approx(targets[known, 0].mean(), abs=1e-6)
    assert chosen.per_label["C"]["rule"].startswith("fallback")  # no known target: no Youden point
    assert "C" not in chosen.roc
    figures = confusion_figures(unknown[:, 0], scores[:, 0] > 0.5)
    assert figures.tp + figures.fp + figures.tn + figures.fn == int(known.sum())
    assert calibration_error(unknown[:, 0], scores[:, 0]) == pytest.approx(
        calibration_error(targets[known, 0], scores[known, 0]))
    logits = np.log(np.clip(scores, 1e-4, 1 - 1e-4) / np.clip(1 - scores, 1e-4, 1)).astype(np.float32)
    fitted = fit_calibration(logits, unknown, "platt", LABELS)
    alone = fit_calibration(logits[known][:, :1], targets[known][:, :1], "platt", ("A",))
    assert fitted.scale[0] == pytest.approx(alone.scale[0], rel=1e-3)
    assert fitted.bias[0] == pytest.approx(alone.bias[0], abs=1e-3)
    assert "C" in fitted.details["identity_for"]
    loss = validation_loss(logits, unknown)
    import torch
    keep = mask > 0
    expected = torch.nn.functional.binary_cross_entropy_with_logits(
        torch.from_numpy(logits[keep]), torch.from_numpy(targets[keep]))
    assert loss == pytest.approx(float(expected), rel=1e-6)


def test_all_known_targets_give_exactly_the_old_figures(case):
    targets, scores, _ = case
    plain = evaluate_scores(targets, scores, LABELS, resamples=100, seed=1)
    same = evaluate_scores(with_unknown(targets, np.ones_like(targets)), scores, LABELS, resamples=100, seed=1)
    assert plain.to_dict() == same.to_dict()
