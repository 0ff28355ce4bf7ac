"""What the findings panel shows, read from the state at the operating point."""

from __future__ import annotations

import numpy as np

from tests.viewmodel.helpers import LABELS, card, findings
from viewer.core.boxes import GroundTruthBox
from viewer.core.heatmap import Box, agreement
from viewer.viewmodel.image_findings import ImageFindingsState, agreement_text, distinct_numbers
from viewer.viewmodel.operating_point import SENSITIVITY_STEPS, OperatingPoint


def state_with(probabilities: list[float], **show: object) -> ImageFindingsState:
    state = ImageFindingsState(OperatingPoint(card()))
    state.show(findings(probabilities), card=state.point.card, **show)  # type: ignore[arg-type]
    return state


def test_rows_follow_the_operating_point() -> None:
    state = state_with([0.45, 0.31, 0.1], dataset_labels=("Effusion",))
    rows = {r.label: r for r in state.rows()}
    assert [rows[x].flagged for x in LABELS] == [False, True, False]
    assert rows["Effusion"].in_dataset and rows["Atelectasis"].in_dataset is False
    state.point.step = SENSITIVITY_STEPS
    state.refresh()
    moved = {r.label: r for r in state.rows()}
    assert all(moved[x].threshold < rows[x].threshold for x in LABELS)
    np.testing.assert_array_equal(state.flags, [r.flagged for r in state.rows()])
    np.testing.assert_allclose(state.thresholds, [r.threshold for r in state.rows()])
    assert state.findings is not None and state.findings.flags.tolist() == [False, True, False]  # as the model said


def test_without_a_dataset_entry_no_row_claims_one() -> None:
    assert {r.in_dataset for r in state_with([0.1, 0.2, 0.3]).rows()} == {None}


def test_each_image_opens_on_its_own_highest_flagged_finding() -> None:
    # thresholds 0.5, 0.3, 0.2: Atelectasis is the most probable but not flagged
    state = state_with([0.45, 0.31, 0.1])
    assert state.label_to_show() == "Effusion"
    state.selected_label = "Pleural_Thickening"  # the user looked at another finding
    state.clear()
    assert state.rows() == [] and state.label_to_show() is None
    state.show(findings([0.1, 0.2, 0.25]), card=None)
    assert state.label_to_show() == "Pleural_Thickening"  # the only flagged finding of this image
    state.selected_label = "Pleural_Thickening"
    state.show(findings([0.1, 0.25, 0.15]), card=None)
    assert state.label_to_show() == "Effusion"  # none flagged: the most probable, not the last choice


def test_the_top_finding_is_flagged_at_the_operating_point() -> None:
    state = state_with([0.45, 0.31, 0.1])
    state.point.step = SENSITIVITY_STEPS  # every threshold lower: Atelectasis is flagged too
    state.refresh()
    assert state.flags is not None and state.flags[0]
    assert state.label_to_show() == "Atelectasis"


def test_a_pinned_finding_is_shown_on_every_image_and_says_so() -> None:
    state = state_with([0.45, 0.31, 0.1])
    state.selected_label = "Pleural_Thickening"
    state.pinned = True
    state.show(findings([0.6, 0.9, 0.1]), card=None)
    assert state.label_to_show() == "Pleural_Thickening"
    assert state.caption("Pleural_Thickening").endswith("(pinned)")
    assert "Pinned" in state.details_html("Pleural_Thickening")
    assert "pinned" not in state.caption("Effusion").lower()
    state.selected_label = "Cardiomegaly"  # not a label of this model: the image's own top
    assert state.label_to_show() == "Effusion"
    state.selected_label = "Pleural_Thickening"
    state.pinned = False
    assert state.label_to_show() == "Effusion" and "pinned" not in state.caption("Pleural_Thickening")


def test_caption_says_whether_the_shown_map_belongs_to_a_flagged_finding() -> None:
    state = state_with([0.45, 0.31, 0.1], empty_maps={"Pleural_Thickening"})
    assert state.caption("Effusion") == "Grad-CAM: Effusion  p 0.31, flagged"
    assert state.caption("Pleural_Thickening") == "Grad-CAM: Pleural Thickening  p 0.10, not flagged  (empty map)"
    state.clear()
    assert state.caption("Effusion") == "Grad-CAM: Effusion"


def test_details_give_verdict_auroc_and_empty_map() -> None:
    metrics = {"auroc": {"Atelectasis": None, "Effusion": {"value": 0.81, "ci95": [0.7, 0.9]},
                         "Pleural_Thickening": None}}
    state = ImageFindingsState(OperatingPoint(card(metrics=metrics)))
    state.show(findings([0.45, 0.31, 0.1]), card=state.point.card, empty_maps={"Effusion"})
    text = state.details_html("Effusion")
    assert "<b>Effusion</b>: p = 0.310, threshold 0.300" in text and "flagged" in text
    assert "Test AUROC 0.81 (95% CI 0.70\N{EN DASH}0.90)" in text and "heatmap is empty" in text
    assert "below threshold" in state.details_html("Atelectasis") and "AUROC" not in state.details_html("Atelectasis")
    assert state.details_html(None) == "" and state.details_html("Cardiomegaly") == ""


def test_details_name_the_boxes_and_their_agreement_with_the_heatmap() -> None:
    heatmap = np.zeros((8, 8), np.float32)
    heatmap[2:4, 2:4] = 1.0
    box = GroundTruthBox("x.png", "Effusion", 20.0, 20.0, 20.0, 20.0)
    other = GroundTruthBox("x.png", "Mass", 0.0, 0.0, 5.0, 5.0)
    agree = agreement(heatmap, box.box, (80, 80))
    state = state_with([0.45, 0.31, 0.1], boxes=[box, other], agreements={"Effusion": [agree]})
    assert "Ground-truth box</b> (BBox_List_2017): IoBB" in state.details_html("Effusion")
    assert "heatmap peak inside the box" in state.details_html("Effusion")
    elsewhere = state.details_html("Atelectasis")
    assert "Ground-truth boxes on this image: Effusion, Mass (none for this finding)" in elsewhere
    assert "Ground-truth" not in state_with([0.45, 0.31, 0.1]).details_html("Effusion")


def test_agreement_text_reads_iobb_in_threshold_order() -> None:
    from viewer.core.heatmap import Agreement

    a = Agreement(Box(0, 0, 1, 1), None, False, {}, {180: 0.25, 60: 0.5}, {})
    assert agreement_text(a) == "IoBB 0.50 / 0.25 (map thresholds 60 / 180); heatmap peak outside the box"


def test_distinct_numbers_show_which_is_larger() -> None:
    assert distinct_numbers(0.5, 0.25) == ("0.500", "0.250")
    assert distinct_numbers(0.30004, 0.3) == ("0.30004", "0.30000")
    assert distinct_numbers(0.3, 0.3) == ("0.300", "0.300")


def test_an_out_of_distribution_image_gets_the_banner_and_its_notes() -> None:
    state = ImageFindingsState(OperatingPoint())
    state.show(findings([0.1, 0.2, 0.3], ood=True, notes=("converted from RGB",)), card=None)
    warning = state.ood_warning()
    assert warning is not None and "Out of distribution" in warning and "score 3.50" in warning
    assert state.notes == ("converted from RGB",)
    state.show(findings([0.1, 0.2, 0.3]), card=None)
    assert state.ood_warning() is None and state.notes == ()


def test_without_a_model_the_panel_says_why_and_how_to_get_one() -> None:
    from viewer.viewmodel.image_findings import no_model_message

    assert "sidecar missing" in no_model_message("sidecar missing")
    assert "No model was given." in no_model_message("") and "--model NAME.onnx" in no_model_message("")
