"""Browser summaries at the operating point, and the triage order."""

from __future__ import annotations

from functools import cmp_to_key

from tests.viewmodel.helpers import card, findings
from viewer.viewmodel.browser_summary import (
    UNANALYSED,
    ImageSummary,
    Tone,
    group_score,
    summarize,
    summary_line,
    triage_before,
)
from viewer.viewmodel.operating_point import SENSITIVITY_STEPS, OperatingPoint


def test_a_summary_lists_the_flags_at_the_operating_point_highest_first() -> None:
    point = OperatingPoint(card())
    f = findings([0.55, 0.8, 0.05])
    summary = summarize(f, None, point)
    assert summary.flagged == (("Effusion", summary.flagged[0][1]), ("Atelectasis", summary.flagged[1][1]))
    assert summary.top_probability == float(f.probabilities[1])
    assert summary.triage_score == 1.0 + summary.flagged[0][1]
    assert summary.flagged_text == "Effusion 0.80, Atelectasis 0.55"
    point.step = -2  # thresholds 0.77, 0.59, 0.45
    assert [x for x, _ in summarize(f, None, point).flagged] == ["Effusion"]
    point.step = SENSITIVITY_STEPS
    assert [x for x, _ in summarize(f, None, point).flagged] == ["Effusion", "Atelectasis", "Pleural_Thickening"]


def test_an_unflagged_image_sorts_by_its_top_probability_and_one_without_findings_last() -> None:
    point = OperatingPoint(card())
    clear = summarize(findings([0.1, 0.2, 0.15]), None, point)
    assert clear.flagged == () and clear.triage_score == clear.top_probability
    assert summarize(None, "cannot decode", point).triage_score == UNANALYSED
    no_model = summarize(None, None, point)
    assert no_model.no_model and no_model.triage_score == UNANALYSED


def test_the_ood_check_reaches_the_summary() -> None:
    assert summarize(findings([0.1, 0.2, 0.3], ood=True), None, OperatingPoint()).out_of_distribution


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
    }
    order = {name: i for i, name in enumerate(images)}

    def score(name: str) -> float | None:
        s = images[name]
        return None if s is None else s.triage_score

    def compare(a: str, b: str) -> int:
        return -1 if triage_before(score(a), order[a], score(b), order[b]) else 1

    assert sorted(images, key=cmp_to_key(compare)) == [
        "flagged strong", "flagged weak", "clear high", "clear low", "clear low 2", "error", "pending"]


def test_a_group_takes_its_highest_image_score() -> None:
    assert group_score(None, 0.3) == 0.3
    assert group_score(1.5, 0.3) == 1.5
    assert group_score(UNANALYSED, UNANALYSED) == UNANALYSED


def test_summary_lines() -> None:
    assert summary_line(None).tone is Tone.PENDING
    assert summary_line(ImageSummary((), 0.0, no_model=True)).text == "no findings (no model)"
    assert summary_line(ImageSummary((), 0.0, "cannot decode")).text == "cannot decode"
    flagged = summary_line(ImageSummary((("Pleural_Thickening", 0.71), ("Mass", 0.5)), 0.71))
    assert flagged.text == "\N{BLACK FLAG} Pleural Thickening 0.71  +1 more"
    assert flagged.tone is Tone.FLAGGED and flagged.bold
    clear = summary_line(ImageSummary((), 0.123))
    assert clear.text == "no flag (max 0.12)" and clear.tone is Tone.CLEAR and not clear.bold
    ood = summary_line(ImageSummary((("Mass", 0.5),), 0.5, out_of_distribution=True))
    assert ood.text.startswith("\N{WARNING SIGN} not a chest X-ray? (OOD) \N{BLACK FLAG} Mass")
    assert ood.tone is Tone.OUT_OF_DISTRIBUTION and ood.bold
