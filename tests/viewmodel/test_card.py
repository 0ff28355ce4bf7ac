"""AUROC intervals from a card's free-form metrics."""

from __future__ import annotations

import pytest

from tests.viewmodel.helpers import LABELS, card
from viewer.viewmodel.card import auroc_interval, auroc_with_interval, card_interval


@pytest.mark.parametrize(("value", "expected"), [
    ([0.6, 0.8], (0.6, 0.8)),
    ((1, 1), (1.0, 1.0)),
    ([0.6], None),
    ([0.6, 0.7, 0.8], None),
    (["0.6", 0.8], None),
    ([True, False], None),
    ([float("nan"), 0.8], None),
    ({"low": 0.6, "high": 0.8}, None),
    (None, None),
])
def test_an_interval_is_two_finite_numbers(value: object, expected: tuple[float, float] | None) -> None:
    assert card_interval(value) == expected


def test_the_auroc_interval_is_read_from_ci95_else_ci() -> None:
    metrics = {"auroc": {LABELS[0]: {"value": 0.7, "ci95": [0.6, 0.8]},
                         LABELS[1]: {"value": 0.75, "ci": [0.65, 0.85]},
                         LABELS[2]: 0.5}}  # a bare number is allowed too
    c = card(metrics=metrics)
    assert auroc_interval(c, LABELS[0]) == (0.6, 0.8)
    assert auroc_interval(c, LABELS[1]) == (0.65, 0.85)
    assert auroc_interval(c, LABELS[2]) is None  # a bare value has no interval
    assert auroc_with_interval(c, LABELS[0]) == (0.7, (0.6, 0.8))
    assert auroc_with_interval(None, LABELS[0]) == (None, None)


def test_a_label_without_a_measured_auroc_has_no_interval() -> None:
    c = card(metrics={"auroc": {x: None for x in LABELS}})
    assert auroc_interval(c, LABELS[0]) is None and auroc_with_interval(c, LABELS[0]) == (None, None)
