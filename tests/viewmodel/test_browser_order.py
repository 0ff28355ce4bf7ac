"""The browser's triage order: tiers, scores, folder order for ties, and groups by their best
image now."""

from __future__ import annotations

from functools import cmp_to_key

from tests.viewmodel.helpers import card, findings
from viewer.viewmodel.browser_order import (
    NOT_TRIAGED,
    PENDING,
    Tier,
    TriageKey,
    group_key,
    triage_before,
    triage_key,
)
from viewer.viewmodel.browser_summary import summarize
from viewer.viewmodel.operating_point import OperatingPoint


def test_an_image_sorts_by_its_flags_then_its_top_probability_and_without_findings_last() -> None:
    point = OperatingPoint(card())
    flagged = summarize(findings([0.55, 0.8, 0.05]), None, point)
    assert triage_key(flagged) == TriageKey(Tier.FLAGGED, flagged.flagged[0][1])
    clear = summarize(findings([0.1, 0.2, 0.15]), None, point)
    assert triage_key(clear) == TriageKey(Tier.UNFLAGGED, clear.top_probability)
    assert triage_key(summarize(None, "cannot decode", point)) == PENDING
    assert triage_key(summarize(None, None, point)) == PENDING  # no model
    assert triage_key(None) == PENDING  # not analysed yet


def test_triage_order_is_flagged_by_probability_then_the_rest_then_folder_order() -> None:
    point = OperatingPoint(card())
    images = {  # folder order = insertion order
        "error": summarize(None, "bad file", point),
        "clear low": summarize(findings([0.1, 0.1, 0.1]), None, point),
        "flagged weak": summarize(findings([0.1, 0.35, 0.1]), None, point),
        "clear high": summarize(findings([0.45, 0.1, 0.1]), None, point),
        "flagged strong": summarize(findings([0.9, 0.1, 0.1]), None, point),
        "pending": None,
        "clear low 2": summarize(findings([0.1, 0.1, 0.1]), None, point),
        "not a chest, flagged": summarize(findings([0.99, 0.9, 0.9], ood=True), None, point),
        "not a chest": summarize(findings([0.1, 0.1, 0.1], ood=True), None, point),
    }
    order = {name: i for i, name in enumerate(images)}

    def compare(a: str, b: str) -> int:
        return -1 if triage_before(triage_key(images[a]), order[a], triage_key(images[b]), order[b]) else 1

    assert sorted(images, key=cmp_to_key(compare)) == [
        "flagged strong", "flagged weak", "clear high", "clear low", "clear low 2",
        "not a chest, flagged", "not a chest", "error", "pending"]
    assert triage_key(images["not a chest, flagged"]) == NOT_TRIAGED


def test_a_flagged_image_outranks_an_unflagged_one_whatever_their_probabilities() -> None:
    # An unflagged 0.69 (its label's threshold is higher) after a flagged 0.67.
    assert TriageKey(Tier.FLAGGED, 0.67).outranks(TriageKey(Tier.UNFLAGGED, 0.69))
    assert not TriageKey(Tier.UNFLAGGED, 0.69).outranks(TriageKey(Tier.FLAGGED, 0.67))
    assert triage_before(None, 0, None, 1) and not triage_before(None, 1, None, 0)  # ties: folder order


def test_a_group_sorts_by_its_best_image_now_down_as_well_as_up() -> None:
    flagged, unflagged = TriageKey(Tier.FLAGGED, 0.69), TriageKey(Tier.UNFLAGGED, 0.69)
    assert group_key([unflagged, flagged, None]) == flagged
    assert group_key([unflagged, None]) == unflagged  # the flag went: so does the group's place
    assert group_key([]) == PENDING and group_key([None, PENDING]) == PENDING
