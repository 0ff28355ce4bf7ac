"""Priors, the other view, situations and hanging, and the change of each finding."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tests.factories import card_dict
from viewer.core.findings import Findings, flags_at
from viewer.core.model_card import ModelCard
from viewer.core.scan import ScannedImage, SourceFormat
from viewer.viewmodel.comparison import (
    Situation,
    card_covers_lateral,
    finding_changes,
    hanging,
    is_lateral,
    later_of,
    other_view_of,
    prior_of,
    situation_of,
)


def image(name: str, *, patient: int = 1, study: int = 1, when: str | None = None, follow_up: int | None = None,
          view: str | None = "PA", instance: int | None = 1) -> ScannedImage:
    return ScannedImage(path=Path("/f") / name, relative_path=Path(name), format=SourceFormat.DICOM,
                        patient_key=patient, study_key=study, series_key=study * 10, patient_label=f"P{patient}",
                        patient_id=None, study_label=f"study {study}", view_position=view, instance_number=instance,
                        follow_up=follow_up, study_date=when)


def test_the_prior_is_the_latest_earlier_study_whatever_the_order_found() -> None:
    newest = image("a.dcm", study=3, when="2024-05-01")
    oldest = image("b.dcm", study=1, when="2019-01-01 08:00")
    middle = image("c.dcm", study=2, when="2021-07-15 10:30")
    other_patient = image("d.dcm", patient=2, study=4, when="2023-01-01")
    folder = [newest, oldest, middle, other_patient]
    assert prior_of(newest, folder) is middle
    assert prior_of(middle, folder) is oldest
    assert prior_of(oldest, folder) is None
    assert later_of(oldest, folder) is middle
    assert later_of(newest, folder) is None


def test_nih_follow_ups_order_the_studies() -> None:
    visits = [image(f"00000001_00{i}.png", study=10 + i, follow_up=i, view="PA") for i in range(3)]
    assert prior_of(visits[1], visits) is visits[0]
    assert prior_of(visits[2], visits) is visits[1]
    assert prior_of(visits[0], visits) is None


def test_same_day_studies_are_told_apart_by_time() -> None:
    morning = image("m.dcm", study=1, when="2024-01-31 08:05")
    evening = image("e.dcm", study=2, when="2024-01-31 19:40")
    assert prior_of(evening, [evening, morning]) is morning


def test_a_prior_of_the_same_kind_of_view_is_preferred() -> None:
    lateral_then = image("old-lat.dcm", study=1, when="2020-01-01", view="LL", instance=1)
    frontal_then = image("old-pa.dcm", study=1, when="2020-01-01", view="PA", instance=2)
    frontal_now = image("pa.dcm", study=2, when="2024-01-01", view="PA")
    lateral_now = image("lat.dcm", study=2, when="2024-01-01", view="LL", instance=2)
    folder = [lateral_then, frontal_then, frontal_now, lateral_now]
    assert prior_of(frontal_now, folder) is frontal_then
    assert prior_of(lateral_now, folder) is lateral_then
    assert other_view_of(frontal_now, folder) is lateral_now
    assert other_view_of(lateral_now, folder) is frontal_now


@pytest.mark.parametrize(("view", "lateral"), [("LL", True), ("rl", True), ("LATERAL", True), ("PA", False),
                                               ("AP", False), ("LLD", False), (None, False)])
def test_lateral_views(view: str | None, lateral: bool) -> None:
    assert is_lateral(image("x.dcm", view=view)) is lateral


def test_situations_and_what_hangs_in_each() -> None:
    pa_now = image("pa.dcm", study=2, when="2024-01-01", view="PA")
    lat_now = image("lat.dcm", study=2, when="2024-01-01", view="LL", instance=2)
    pa_then = image("pa0.dcm", study=1, when="2020-01-01", view="PA")
    lat_then = image("lat0.dcm", study=1, when="2020-01-01", view="LL", instance=2)
    alone = image("alone.dcm", patient=9, study=9, when="2024-01-01")
    folder = [pa_now, lat_now, pa_then, lat_then, alone]
    assert situation_of(alone, folder) is Situation.SINGLE
    assert situation_of(pa_now, folder) is Situation.PA_LATERAL
    assert situation_of(pa_then, [pa_now, pa_then]) is Situation.PRIORS

    assert hanging(pa_now, folder, Situation.PA_LATERAL, 4) == [pa_now, lat_now, pa_then, lat_then]
    assert hanging(pa_now, folder, Situation.PRIORS, 2) == [pa_now, pa_then]
    assert hanging(pa_now, folder, Situation.PRIORS, 4) == [pa_now, pa_then, lat_then, None]
    assert hanging(alone, folder, Situation.SINGLE, 2) == [alone, None]
    # with no earlier study, the next one hangs beside it
    assert hanging(pa_then, [pa_now, pa_then], Situation.PRIORS, 2) == [pa_then, pa_now]


def findings(probabilities: list[float], thresholds: list[float], labels=("Effusion", "Mass", "Nodule")) -> Findings:
    p = np.asarray(probabilities, np.float32)
    t = np.asarray(thresholds, np.float32)
    return Findings(tuple(labels), p, t, flags_at(p, t), np.zeros((len(labels), 2, 2), np.float32), float("nan"), False)


def test_each_findings_change_with_the_newly_flagged_first() -> None:
    before = findings([0.21, 0.70, 0.300], [0.5, 0.5, 0.5])
    after = findings([0.63, 0.40, 0.302], [0.5, 0.5, 0.5])
    changes = finding_changes(before, after)
    assert [c.label for c in changes] == ["Effusion", "Mass", "Nodule"]
    effusion, mass, nodule = changes
    assert effusion.text == "0.21 \N{RIGHTWARDS ARROW} 0.63, newly flagged"
    assert effusion.change_text == "+0.42, newly flagged" and effusion.direction == 1
    assert mass.flag_change == "no longer flagged" and mass.change_text == "\N{MINUS SIGN}0.30, no longer flagged"
    assert nodule.change_text == "no change" and nodule.direction == 0


def test_changes_follow_the_operating_point_given() -> None:
    before, after = findings([0.21, 0.1, 0.1], [0.5] * 3), findings([0.40, 0.1, 0.1], [0.5] * 3)
    assert finding_changes(before, after)[0].flag_change == ""
    lower = {"Effusion": 0.3, "Mass": 0.5, "Nodule": 0.5}
    assert finding_changes(before.at_thresholds(lower), after.at_thresholds(lower))[0].flag_change == "newly flagged"


def test_labels_only_one_image_has() -> None:
    before = findings([0.2, 0.2], [0.5, 0.5], labels=("Effusion", "Hernia"))
    after = findings([0.2, 0.2], [0.5, 0.5], labels=("Effusion", "Mass"))
    by_label = {c.label: c for c in finding_changes(before, after)}
    assert by_label["Mass"].change_text == "only now" and by_label["Hernia"].change_text == "only before"
    assert [c.label for c in finding_changes(None, after)] == ["Effusion", "Mass"]


def test_a_card_covers_laterals_only_when_it_lists_them() -> None:
    card = ModelCard.from_dict(card_dict("0" * 64))
    assert not card_covers_lateral(card) and not card_covers_lateral(None)
    assert card_covers_lateral(replace(card, training={**card.training, "views": ["PA", "AP", "LL"]}))
    assert not card_covers_lateral(replace(card, training={**card.training, "views": ["PA", "AP"]}))
    assert not card_covers_lateral(replace(card, training={**card.training, "views": "LL"}))
