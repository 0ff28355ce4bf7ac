"""The operating point: the card's thresholds at step 0, the core's adjusted thresholds else."""

from __future__ import annotations

import numpy as np
import pytest

from tests.viewmodel.helpers import card, findings
from viewer.core.findings import flags_at
from viewer.core.inference import adjusted_thresholds
from viewer.viewmodel.operating_point import SENSITIVITY_STEPS, OperatingPoint


def test_step_zero_keeps_the_findings_thresholds_and_flags() -> None:
    f = findings([0.5, 0.29, 0.9])
    point = OperatingPoint(card())
    np.testing.assert_array_equal(point.thresholds_for(f), f.thresholds)
    np.testing.assert_array_equal(point.apply(f).flags, [True, False, True])  # 0.5 >= 0.5 flags
    assert point.description == "card thresholds" and point.footer_text == "card thresholds"


@pytest.mark.parametrize("step", [-SENSITIVITY_STEPS, -2, 1, SENSITIVITY_STEPS])
def test_each_step_moves_the_core_sensitivity_by_one_fifth(step: int) -> None:
    c = card()
    f = findings([0.45, 0.31, 0.19])
    point = OperatingPoint(c, step)
    expected = adjusted_thresholds(c, step / SENSITIVITY_STEPS)
    np.testing.assert_array_equal(point.thresholds_for(f), expected)
    moved = point.apply(f)
    np.testing.assert_array_equal(moved.flags, flags_at(f.probabilities, expected))
    assert moved.probabilities is f.probabilities  # only the flags are recomputed


def test_more_sensitive_flags_more_and_more_specific_fewer() -> None:
    f = findings([0.45, 0.28, 0.21])
    point = OperatingPoint(card())
    at_card = int(point.apply(f).flags.sum())
    point.step = SENSITIVITY_STEPS
    assert int(point.apply(f).flags.sum()) > at_card
    assert point.description == f"+{SENSITIVITY_STEPS}: more sensitive"
    point.step = -SENSITIVITY_STEPS
    assert int(point.apply(f).flags.sum()) < at_card
    assert point.description == f"-{SENSITIVITY_STEPS}: more specific"
    assert point.footer_text == f"operating point -{SENSITIVITY_STEPS}"


def test_without_a_card_the_findings_keep_their_thresholds_at_any_step() -> None:
    f = findings([0.45, 0.28, 0.21])
    point = OperatingPoint(None, 3)
    np.testing.assert_array_equal(point.thresholds_for(f), f.thresholds)


def test_a_new_card_or_step_is_not_answered_from_the_last_ones_thresholds() -> None:
    f = findings([0.45, 0.28, 0.21])
    point = OperatingPoint(card(), 2)
    first = point.thresholds_for(f).copy()
    point.card = card((0.9, 0.9, 0.9))
    assert (point.thresholds_for(f) > first).all()
    before = point.thresholds_for(f).copy()
    point.step = 4
    assert (point.thresholds_for(f) < before).all()


@pytest.mark.parametrize("step", [SENSITIVITY_STEPS + 1, -SENSITIVITY_STEPS - 1])
def test_a_step_past_the_ends_is_refused(step: int) -> None:
    point = OperatingPoint(card())
    with pytest.raises(ValueError, match="between"):
        point.step = step
    assert point.step == 0
