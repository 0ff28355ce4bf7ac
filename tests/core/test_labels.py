"""The one rule for label names: NIH spellings, case/space/underscore-insensitive keys, aliases,
and the answers the four rules it replaced gave (boxes, the UI's box matching and highlight,
the trainer's column names)."""

from __future__ import annotations

from pathlib import Path

import pytest

from viewer.core import nih
from viewer.core.boxes import BoxTable, normalize_label
from viewer.core.labels import ALIASES, NIH_LABELS, canonical_label, label_key, match_label, same_label


def _spellings(name: str) -> list[str]:
    """Ways files write a label: as is, any case, spaces for underscores and back, padded."""
    spaced, joined = name.replace("_", " "), name.replace(" ", "_")
    return [name, name.lower(), name.upper(), spaced, spaced.lower(), joined, joined.upper(), f"  {name}\t"]


def test_nih_labels_are_owned_by_labels_and_shared_by_nih() -> None:
    assert nih.NIH_LABELS is NIH_LABELS
    assert len(NIH_LABELS) == 14 and len({label_key(x) for x in NIH_LABELS}) == 14


@pytest.mark.parametrize("label", NIH_LABELS)
def test_every_nih_label_in_any_spelling_is_itself(label: str) -> None:
    for spelling in _spellings(label):
        assert canonical_label(spelling) == label, spelling


@pytest.mark.parametrize(("alias", "target"), sorted(ALIASES.items()))
def test_every_alias_in_any_spelling_means_its_nih_label(alias: str, target: str) -> None:
    assert target in NIH_LABELS
    assert label_key(alias) not in {label_key(x) for x in NIH_LABELS}, "an alias must not hide a label"
    for spelling in _spellings(alias):
        assert canonical_label(spelling) == target, spelling
        assert same_label(spelling, target)


def test_the_box_list_spellings() -> None:
    """BBox_List_2017.csv writes these two differently from Data_Entry_2017.csv."""
    assert canonical_label("Infiltrate") == "Infiltration"
    assert canonical_label("Pleural Thickening") == "Pleural_Thickening"


@pytest.mark.parametrize("name", ["", "   ", "No Finding", "Fracture", "Infiltrates", "Pleural", "Mass Nodule",
                                  "prob_Mass"])
def test_names_of_no_nih_finding(name: str) -> None:
    assert canonical_label(name) is None


def test_match_label_finds_the_models_own_spelling() -> None:
    model = ("infiltration", "Pleural Thickening", "MASS", "Fracture")
    assert match_label("Infiltrate", model) == "infiltration"  # through the alias
    assert match_label("Pleural_Thickening", model) == "Pleural Thickening"
    assert match_label("mass", model) == "MASS"
    assert match_label("fracture ", model) == "Fracture"  # the key rule holds for any name
    assert match_label("Nodule", model) is None
    assert match_label("Something", model) is None
    assert match_label("Infiltrate", ()) is None
    # a model that itself says "Infiltrate" gets its own label back, not a guess
    assert match_label("infiltrate", ("Infiltration_2", "Infiltrate")) == "Infiltrate"


def test_same_label_is_symmetric() -> None:
    pairs = [("Infiltrate", "Infiltration"), ("Pleural Thickening", "pleural_thickening"), ("Mass", "Nodule")]
    for a, b in pairs:
        assert same_label(a, b) == same_label(b, a)
    assert [same_label(a, b) for a, b in pairs] == [True, True, False]


# -- the former rules' answers ------------------------------------------------------------------
# What each rule this module replaced returned (inputs taken from its tests and its callers).
BOXES_NORMALIZE_LABEL = [  # viewer/core/boxes.py: _ALIASES and _CANONICAL
    ("Infiltrate", "Infiltration"), ("infiltrate ", "Infiltration"), ("Pleural Thickening", "Pleural_Thickening"),
    ("pneumothorax", "Pneumothorax"), ("Effusion", "Effusion"), ("Cardiomegaly", "Cardiomegaly"),
    ("Atelectasis", "Atelectasis"), ("Mass", "Mass"), ("Nodule", "Nodule"), ("Pneumonia", "Pneumonia"),
    ("Something New", "Something New"), ("  Odd  ", "Odd"),
]
UI_MATCHING_LABEL = [  # viewer/ui/workers.py matching_label(box label, the model's labels)
    ("Infiltrate", NIH_LABELS, "Infiltration"), ("Infiltration", NIH_LABELS, "Infiltration"),
    ("effusion", NIH_LABELS, "Effusion"), ("Pleural_Thickening", NIH_LABELS, "Pleural_Thickening"),
    (" Mass ", ("mass", "nodule"), "mass"), ("Fracture", NIH_LABELS, None),
]
UI_SAME_LABEL = [  # viewer/ui/canvas.py _same_label(box label, the finding shown)
    ("Pleural_Thickening", "Pleural Thickening", True), ("EFFUSION", "Effusion", True),
    ("Infiltration", "Infiltration", True), ("Mass", "Nodule", False), ("Mass", "Masses", False),
]
TRAINER_CANONICAL_LABEL = [  # trainer/evaluate.py canonical_label(column name)
    ("Pleural Thickening", "Pleural_Thickening"), ("pleural_thickening", "Pleural_Thickening"),
    ("effusion", "Effusion"), ("HERNIA", "Hernia"), (" Edema ", "Edema"), ("score", None), ("No Finding", None),
]


@pytest.mark.parametrize(("label", "before"), BOXES_NORMALIZE_LABEL)
def test_box_labels_are_named_as_before(label: str, before: str) -> None:
    assert normalize_label(label) == before


@pytest.mark.parametrize(("box", "labels", "before"), UI_MATCHING_LABEL)
def test_box_to_model_label_as_the_ui_matched_it(box: str, labels: tuple[str, ...], before: str | None) -> None:
    assert match_label(box, labels) == before


@pytest.mark.parametrize(("box", "finding", "before"), UI_SAME_LABEL)
def test_box_highlight_as_the_canvas_compared_it(box: str, finding: str, before: bool) -> None:
    assert same_label(box, finding) is before


@pytest.mark.parametrize(("column", "before"), TRAINER_CANONICAL_LABEL)
def test_column_names_as_the_trainer_read_them(column: str, before: str | None) -> None:
    assert canonical_label(column) == before


def test_rules_that_disagreed_now_agree() -> None:
    """Where the old rules drifted apart: the UI matched no box labelled 'Pleural Thickening' to a
    model's 'Pleural_Thickening' while the canvas highlighted it, and the trainer did not know
    'Infiltrate'. One rule gives one answer."""
    assert match_label("Pleural Thickening", NIH_LABELS) == "Pleural_Thickening"
    assert same_label("Pleural Thickening", "Pleural_Thickening")
    assert canonical_label("Infiltrate") == normalize_label("Infiltrate") == "Infiltration"


def test_the_box_table_names_its_labels_by_the_rule(tmp_path: Path) -> None:
    path = tmp_path / "BBox_List_2017.csv"
    path.write_text("Image Index,Finding Label,Bbox [x,y,w,h],,,\n"
                    "a.png,Infiltrate,1,2,3,4\na.png,Pleural Thickening,1,2,3,4\na.png,Nodule,1,2,3,4\n")
    assert BoxTable.load(path).labels_for("a.png") == ("Infiltration", "Pleural_Thickening", "Nodule")
