"""The findings panel's line on what a flag is worth: validation sensitivity, specificity (with
the positives they rest on) and the expected PPV at the operating point, from the card."""

from __future__ import annotations

import numpy as np
import pytest

from tests.factories import card_dict
from tests.viewmodel.helpers import LABELS, findings
from trainer.evaluation.thresholds import choose_thresholds
from viewer.core.model_card import ModelCard
from viewer.viewmodel.image_findings import ImageFindingsState
from viewer.viewmodel.operating_point import SENSITIVITY_STEPS, OperatingPoint
from viewer.viewmodel.validation_point import ValidationPoint, validation_point


def card(thresholds: dict, **overrides) -> ModelCard:
    """A valid card with this ``thresholds`` object."""
    return ModelCard.from_dict(card_dict("a" * 64, LABELS, thresholds=thresholds, **overrides))


def validation_set(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random((300, 3)) < [0.2, 0.1, 0.05]).astype(float)
    p = (1 / (1 + np.exp(-(rng.normal(0, 1, y.shape) + 1.2 * y - 2)))).astype(np.float32)  # as a model gives
    return y, p


def trained_card(seed: int = 0):
    """A card whose thresholds object is the trainer's, fitted on a generated validation set."""
    y, p = validation_set(seed)
    chosen = choose_thresholds(y, p, LABELS, prior=[0.22, 0.12, 0.04])
    return card(chosen.to_card()), y, p


def test_at_the_card_thresholds_the_figures_are_the_cards_and_ppv_is_bayes() -> None:
    c, y, p = trained_card()
    entry = c.thresholds["per_label"]["Effusion"]
    point = validation_point(c, "Effusion", c.threshold_values()["Effusion"])
    assert point is not None
    assert (point.sensitivity, point.specificity) == (entry["val_sensitivity"], entry["val_specificity"])
    assert (point.positives, point.negatives) == (int(y[:, 1].sum()), int((y[:, 1] == 0).sum()))
    assert point.prevalence == 0.12 and point.prevalence_source == "training split"
    sens, spec = point.sensitivity, point.specificity
    assert point.ppv == pytest.approx(sens * 0.12 / (sens * 0.12 + (1 - spec) * 0.88))
    assert point.text() == (f"Validation at this operating point: sensitivity {sens:.2f}, specificity {spec:.2f} "
                            f"({point.positives} positives, {point.negatives} negatives); expected PPV "
                            f"{point.ppv:.2f} at prevalence 12.0%, training split.")


@pytest.mark.parametrize("step", [-SENSITIVITY_STEPS, -2, 1, 3, SENSITIVITY_STEPS])
def test_moving_the_operating_point_follows_the_validation_roc(step: int) -> None:
    c, y, p = trained_card()
    shown = OperatingPoint(c, step).thresholds_for(findings([0.1, 0.1, 0.1], list(c.threshold_values().values())))
    for j, label in enumerate(LABELS):
        point = validation_point(c, label, float(shown[j]))
        assert point is not None, label
        flagged = p[:, j] >= shown[j]  # the validation images this threshold flags (float32, as the viewer)
        positive = y[:, j] > 0.5
        assert point.sensitivity == pytest.approx(flagged[positive].mean(), abs=1e-6), label
        assert point.specificity == pytest.approx((~flagged[~positive]).mean(), abs=1e-6), label


def test_an_older_card_gets_only_what_it_can_say() -> None:
    # a v1 card of the Youden era: per-label rates, no counts, no prevalence, no ROC
    old = card({"rule": "youden", "values": dict(zip(LABELS, (0.5, 0.3, 0.2))),
                           "per_label": {"Atelectasis": {"rule": "youden", "val_sensitivity": 0.8,
                                                         "val_specificity": 0.6}}})
    point = validation_point(old, "Atelectasis", 0.5)
    assert point == ValidationPoint(0.8, 0.6, None, None, None, None) and point.ppv is None
    assert point.text() == ("Validation at this operating point: sensitivity 0.80, specificity 0.60 "
                            "(positives not recorded).")
    assert validation_point(old, "Effusion", 0.3) is None  # no figures for it
    assert validation_point(old, "Atelectasis", 0.45) is None  # moved, and no ROC to follow
    # the split record's validation positives stand in for the missing count
    with_split = card(old.thresholds,
                      metrics={"auroc": {x: None for x in LABELS}, "split": {"positives": {"val": {"Atelectasis": 7}}}})
    assert validation_point(with_split, "Atelectasis", 0.5).positives == 7
    # bad values in a card are no figures
    broken = card({**old.thresholds, "per_label": {"Atelectasis": {"val_sensitivity": "high",
                                                                              "val_specificity": 1.5}}})
    assert validation_point(broken, "Atelectasis", 0.5) is None
    assert validation_point(None, "Atelectasis", 0.5) is None


def test_a_card_threshold_off_its_roc_gets_no_roc_figure() -> None:
    c, _, _ = trained_card()
    per_label = {x: {k: v for k, v in e.items() if k not in ("val_sensitivity", "val_specificity")}
                 for x, e in c.thresholds["per_label"].items()}
    bare = card({**c.thresholds, "per_label": per_label})
    # the card's threshold lies halfway between two scores, not on the curve: nothing is guessed
    assert validation_point(bare, "Effusion", bare.threshold_values()["Effusion"]) is None


def test_the_details_carry_the_line_and_it_follows_the_operating_point() -> None:
    c, _, _ = trained_card()
    point = OperatingPoint(c)
    state = ImageFindingsState(point)
    state.show(findings([0.3, 0.2, 0.1], list(c.threshold_values().values())), card=c)
    at_card = state.details_html("Effusion")
    expected = validation_point(c, "Effusion", c.threshold_values()["Effusion"])
    assert expected is not None and expected.text() in at_card
    point.step = 2
    state.refresh()
    moved = state.details_html("Effusion")
    assert "Validation at this operating point" in moved and moved != at_card
