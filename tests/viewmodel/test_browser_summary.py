"""Browser summaries at the operating point (the triage order is test_browser_order's)."""

from __future__ import annotations

from tests.viewmodel.helpers import card, findings
from viewer.viewmodel.browser_summary import ImageSummary, Tone, summarize, summary_line
from viewer.viewmodel.operating_point import SENSITIVITY_STEPS, OperatingPoint


def test_a_summary_lists_the_flags_at_the_operating_point_highest_first() -> None:
    point = OperatingPoint(card())
    f = findings([0.55, 0.8, 0.05])
    summary = summarize(f, None, point)
    assert summary.flagged == (("Effusion", summary.flagged[0][1]), ("Atelectasis", summary.flagged[1][1]))
    assert summary.top_probability == float(f.probabilities[1])
    assert summary.flagged_text == "Effusion 0.80, Atelectasis 0.55"
    point.step = -2  # thresholds 0.77, 0.59, 0.45
    assert [x for x, _ in summarize(f, None, point).flagged] == ["Effusion"]
    point.step = SENSITIVITY_STEPS
    assert [x for x, _ in summarize(f, None, point).flagged] == ["Effusion", "Atelectasis", "Pleural_Thickening"]


def test_an_image_without_findings_says_why() -> None:
    point = OperatingPoint(card())
    clear = summarize(findings([0.1, 0.2, 0.15]), None, point)
    assert clear.flagged == () and clear.top_probability == float(findings([0.1, 0.2, 0.15]).probabilities[1])
    assert summarize(None, "cannot decode", point).error == "cannot decode"
    no_model = summarize(None, None, point)
    assert no_model.no_model and no_model.error is None


def test_the_ood_check_reaches_the_summary_and_takes_its_flags_out_of_triage() -> None:
    summary = summarize(findings([0.9, 0.2, 0.3], ood=True), None, OperatingPoint())
    assert summary.out_of_distribution and summary.flagged and not summary.flagged_for_triage
    assert summarize(findings([0.9, 0.2, 0.3]), None, OperatingPoint()).flagged_for_triage


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
    assert ood.text == "\N{WARNING SIGN} not a frontal chest: not triaged"  # its flag means nothing
    assert ood.tone is Tone.OUT_OF_DISTRIBUTION and not ood.bold
