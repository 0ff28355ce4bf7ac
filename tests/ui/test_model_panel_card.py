"""The Model panel's summary line: the mean test AUROC with its bootstrap interval from the card."""

from __future__ import annotations

from tests.factories import card_dict
from viewer.core.model_card import ModelCard
from viewer.core.nih import NIH_LABELS
from viewer.ui.model_panel import card_html


def _card(**metrics: object) -> ModelCard:
    fields = {"auroc": {x: None for x in NIH_LABELS}, "mean_auroc": 0.6503, "n_images": 100, **metrics}
    return ModelCard.from_dict(card_dict("a" * 64, metrics=fields))


def test_the_mean_auroc_is_shown_with_its_interval() -> None:
    text = card_html(_card(mean_auroc_ci95=[0.6012, 0.7049]))
    assert "mean test AUROC <b>0.650</b>" in text
    assert "95% interval 0.60\N{EN DASH}0.70" in text


def test_a_card_without_a_usable_interval_shows_the_mean_alone() -> None:
    for metrics in ({}, {"mean_auroc_ci95": None}, {"mean_auroc_ci95": ["low", 0.7]}, {"mean_auroc_ci95": [0.6]}):
        text = card_html(_card(**metrics))
        assert "mean test AUROC <b>0.650</b>" in text and "95% interval" not in text


def test_the_kept_weights_and_what_was_tried_are_listed_escaped() -> None:
    training = {"data": "x", "epochs": 60, "seed": 0, "trainer_version": "t", "git_commit": "c", "date": "2026-11-22",
                "chosen_weights": "EMA weights of epoch 59, the best by val_auroc",
                "tried": ["224 px, 60 epochs", "mixup <0.2> & SWA"]}
    text = card_html(ModelCard.from_dict(card_dict("a" * 64, training=training)))
    assert "Weights kept:</b> EMA weights of epoch 59" in text
    assert "<li>224 px, 60 epochs</li>" in text and "<li>mixup &lt;0.2&gt; &amp; SWA</li>" in text
    assert "What was tried" not in card_html(_card())  # the factory's card has neither
