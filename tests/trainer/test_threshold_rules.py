"""The threshold rules (``--threshold-rule``) against scikit-learn, the small-sample guard, and
the default rule's promise: about as many flags per image as true labels (issue 23)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import fbeta_score, precision_recall_curve, roc_curve

from trainer.config import TrainConfig, check_config
from trainer.errors import TrainerError
from trainer.evaluation.metrics import operating_points
from trainer.evaluation.threshold_rules import DEFAULT_RULE, ThresholdRule, parse_rule
from trainer.evaluation.thresholds import MIN_POSITIVES, choose_thresholds, prevalence, youden_threshold

# NIH ChestX-ray14's prevalences (Data_Entry_2017, all 112,120 images), rounded: 0.72 finding
# labels per image in all, from Infiltration's 17.7% down to Hernia's 0.2%
NIH_PREVALENCE = {"Atelectasis": 0.103, "Cardiomegaly": 0.025, "Effusion": 0.119, "Infiltration": 0.177,
                  "Mass": 0.052, "Nodule": 0.056, "Pneumonia": 0.013, "Pneumothorax": 0.047,
                  "Consolidation": 0.042, "Edema": 0.021, "Emphysema": 0.022, "Fibrosis": 0.015,
                  "Pleural_Thickening": 0.030, "Hernia": 0.002}


def scores(n: int, prevalence: float, separation: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels at ``prevalence`` and probabilities whose logits are ``separation`` apart by class."""
    rng = np.random.default_rng(seed)
    y = rng.random(n) < prevalence
    logits = rng.normal(0, 1, n) + separation * y + np.log(prevalence / (1 - prevalence))
    return y.astype(float), np.round(1 / (1 + np.exp(-logits)), 3)  # rounded: ties, as real scores have


def one(rule: str, y: np.ndarray, p: np.ndarray) -> tuple[float, dict]:
    chosen = choose_thresholds(y[:, None], p[:, None], ["a"], rule=rule)
    return chosen.values["a"], chosen.per_label["a"]


@pytest.mark.parametrize("text,kind,target", [
    ("prevalence", "prevalence", None), ("youden", "youden", None), ("specificity:0.9", "specificity", 0.9),
    ("Sensitivity:0.95", "sensitivity", 0.95), ("fbeta:2", "fbeta", 2.0)])
def test_rules_are_read_from_their_text(text: str, kind: str, target: float | None) -> None:
    rule = parse_rule(text)
    assert (rule.kind, rule.target) == (kind, target)
    assert parse_rule(rule.text) == rule and DEFAULT_RULE == "prevalence"


@pytest.mark.parametrize("text", ["f1", "youden:0.5", "specificity", "specificity:1", "sensitivity:0",
                                  "sensitivity:high", "fbeta:-1", "fbeta:nan", ""])
def test_a_bad_rule_is_one_clear_error_from_the_configuration(text: str) -> None:
    with pytest.raises(TrainerError, match="--threshold-rule"):
        parse_rule(text)
    with pytest.raises(TrainerError, match="--threshold-rule"):
        check_config(TrainConfig(threshold_rule=text))


def test_youden_is_scikit_learns_best_roc_point() -> None:
    y, p = scores(400, 0.3, 1.2, seed=1)
    threshold, entry = one("youden", y, p)
    fpr, tpr, cuts = roc_curve(y, p, drop_intermediate=False)
    best = int(np.argmax(tpr - fpr))
    flagged = p >= threshold
    assert flagged.sum() == (p >= cuts[best]).sum()  # the same images as scikit-learn's best cut
    assert threshold == pytest.approx(youden_threshold(y, p)[0], abs=1e-6)
    assert entry["val_sensitivity"] == pytest.approx(tpr[best], abs=1e-4)
    assert entry["val_specificity"] == pytest.approx(1 - fpr[best], abs=1e-4)


@pytest.mark.parametrize("target", [0.8, 0.9, 0.97])
def test_target_specificity_is_the_most_sensitive_point_that_reaches_it(target: float) -> None:
    y, p = scores(500, 0.2, 1.5, seed=2)
    threshold, entry = one(f"specificity:{target}", y, p)
    fpr, tpr, _ = roc_curve(y, p, drop_intermediate=False)
    flagged = p >= threshold
    assert (~flagged[y == 0]).mean() >= target
    assert flagged[y == 1].mean() == pytest.approx(tpr[1 - fpr >= target].max())
    assert entry["val_specificity"] == pytest.approx((~flagged[y == 0]).mean(), abs=1e-4)


@pytest.mark.parametrize("target", [0.5, 0.8, 0.95])
def test_target_sensitivity_is_the_most_specific_point_that_reaches_it(target: float) -> None:
    y, p = scores(500, 0.2, 1.5, seed=3)
    threshold, entry = one(f"sensitivity:{target}", y, p)
    fpr, tpr, _ = roc_curve(y, p, drop_intermediate=False)
    flagged = p >= threshold
    assert flagged[y == 1].mean() >= target
    assert (~flagged[y == 0]).mean() == pytest.approx(1 - fpr[tpr >= target].min())
    assert entry["val_sensitivity"] == pytest.approx(flagged[y == 1].mean(), abs=1e-4)


@pytest.mark.parametrize("beta", [0.5, 1.0, 2.0])
def test_fbeta_is_the_best_f_beta_of_scikit_learn(beta: float) -> None:
    y, p = scores(500, 0.15, 1.5, seed=4)
    threshold, _ = one(f"fbeta:{beta}", y, p)
    precision, recall, _ = precision_recall_curve(y, p)
    with np.errstate(invalid="ignore", divide="ignore"):
        best = np.nanmax((1 + beta**2) * precision * recall / (beta**2 * precision + recall))
    assert fbeta_score(y, p >= threshold, beta=beta) == pytest.approx(best, abs=1e-9)


def test_prevalence_flags_the_share_of_validation_images_that_are_positive() -> None:
    y, p = scores(600, 0.12, 1.0, seed=5)
    threshold, entry = one("prevalence", y, p)
    flagged = p >= threshold
    assert entry["val_positives"] >= MIN_POSITIVES and "guard" not in entry
    assert entry["target_flag_rate"] == pytest.approx(y.mean(), abs=1e-6)
    # no other cut of the scores comes nearer the prevalence
    rates = [(p >= c).mean() for c in np.unique(p)]
    assert abs(flagged.mean() - y.mean()) == pytest.approx(min(abs(r - y.mean()) for r in rates))
    assert entry["val_flag_rate"] == pytest.approx(flagged.mean(), abs=1e-4)
    assert entry["prevalence_source"] == "validation split" and entry["rule"] == "prevalence"


def test_few_validation_positives_shrink_toward_the_training_prevalence() -> None:
    # 50 images, 3 positives: Youden sits just under the lowest of them, flagging half the images
    rng = np.random.default_rng(6)
    y = np.zeros(50)
    y[:3] = 1
    p = np.round(rng.random(50), 4)
    p[:3] = [0.45, 0.7, 0.72]
    youden = youden_threshold(y, p)[0]
    assert youden == pytest.approx((0.45 + p[p < 0.45].max()) / 2) and (p >= youden).mean() > 0.4
    chosen = choose_thresholds(y[:, None], p[:, None], ["a"], rule="youden", prior=[0.1])
    entry = chosen.per_label["a"]
    assert entry["rule"] == "prevalence" and entry["requested_rule"] == "youden"
    w = 1 - 3 / MIN_POSITIVES
    assert entry["target_flag_rate"] == pytest.approx(w * 0.1 + (1 - w) * 3 / 50, abs=1e-6)
    assert "3 validation positives (fewer than 10)" in entry["guard"] and "0.70 x training split" in entry["guard"]
    assert entry["prevalence"] == 0.1 and entry["prevalence_source"] == "training split"
    assert (p >= chosen.values["a"]).mean() == pytest.approx(entry["target_flag_rate"], abs=1 / 50)
    assert (entry["val_positives"], entry["val_negatives"]) == (3, 47)
    assert "fewer than 10 validation positives" in chosen.rule
    # a target specificity reads only the negatives: no guard
    assert choose_thresholds(y[:, None], p[:, None], ["a"], rule="specificity:0.9",
                             prior=[0.1]).per_label["a"]["rule"] == "specificity:0.9"


def test_no_validation_positive_aims_at_the_prior_or_falls_back() -> None:
    rng = np.random.default_rng(7)
    y = np.zeros((100, 1))
    p = rng.random((100, 1))
    with_prior = choose_thresholds(y, p, ["a"], prior=[0.05])
    assert (p >= with_prior.values["a"]).mean() == pytest.approx(0.05, abs=0.011)
    assert with_prior.per_label["a"]["val_sensitivity"] is None
    assert with_prior.per_label["a"]["val_specificity"] == pytest.approx(0.95, abs=0.011)
    without = choose_thresholds(y, p, ["a"])
    assert without.values["a"] == 0.5 and without.per_label["a"]["rule"].startswith("fallback")


def test_prevalence_of_training_targets_leaves_unknown_rows_out() -> None:
    targets = np.array([[1, 0, np.nan], [0, 0, np.nan], [1, np.nan, np.nan], [0, 1, np.nan]])
    np.testing.assert_allclose(prevalence(targets), [0.5, 1 / 3, np.nan])


def multilabel(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """An NIH-like multi-label set: its prevalences, a weak model (AUROC about 0.7) whose
    probabilities are calibrated to them."""
    columns = [scores(n, prev, 0.8, seed * 100 + j) for j, prev in enumerate(NIH_PREVALENCE.values())]
    return np.stack([c[0] for c in columns], 1), np.stack([c[1] for c in columns], 1)


def test_the_default_rule_flags_about_as_many_findings_as_the_images_carry() -> None:
    labels = list(NIH_PREVALENCE)
    train, _ = multilabel(3000, seed=1)
    val_y, val_p = multilabel(400, seed=2)
    test_y, test_p = multilabel(1000, seed=3)
    ratios = {}
    for rule in ("prevalence", "youden"):
        chosen = choose_thresholds(val_y, val_p, labels, rule=rule, prior=prevalence(train))
        per_image = operating_points(test_y, test_p, chosen.values, labels, chosen.rule).per_image
        assert per_image is not None and per_image.true_labels == pytest.approx(test_y.sum(1).mean())
        ratios[rule] = per_image.ratio
    assert 0.5 <= ratios["prevalence"] <= 2.0
    assert 0.8 <= ratios["prevalence"] <= 1.25  # in fact close to 1
    assert ratios["youden"] > 2.0  # why Youden is not the default: a weak model's flags tell little


def test_the_rule_is_a_keyword_and_the_card_form_is_kept() -> None:
    y, p = scores(200, 0.3, 1.0, seed=8)
    card = choose_thresholds(y[:, None], p[:, None], ["a"]).to_card()
    assert list(card) == ["rule", "values", "per_label", "roc"] and card["rule"].startswith("prevalence:")
    assert {"rule", "val_sensitivity", "val_specificity", "val_positives", "val_negatives", "prevalence",
            "prevalence_source"} <= set(card["per_label"]["a"])
    chosen = choose_thresholds(y[:, None], p[:, None], ["a"], rule=ThresholdRule("youden"))
    assert chosen.per_label["a"]["rule"] == "youden"


def test_a_target_met_only_by_flagging_nothing_puts_the_threshold_above_every_score() -> None:
    y = np.array([0, 1, 0, 1, 0, 0], float)
    p = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])  # the top score is a negative's
    threshold, entry = one("specificity:0.99", y, p)
    assert threshold == pytest.approx(0.95) and not (p >= threshold).any()
    assert (entry["val_sensitivity"], entry["val_specificity"], entry["val_flag_rate"]) == (0.0, 1.0, 0.0)


def test_a_label_without_any_known_validation_target_falls_back_with_the_reason() -> None:
    # --also-data: a label only one dataset annotates may have no known target in validation
    targets = np.full((6, 1), np.nan)
    chosen = choose_thresholds(targets, np.linspace(0.1, 0.9, 6)[:, None], ("Support Devices",), prior=[0.2])
    assert chosen.values["Support Devices"] == 0.5
    assert "no validation image has a known target" in chosen.per_label["Support Devices"]["rule"]
