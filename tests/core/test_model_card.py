"""The model card: validation of every field, JSON round trip, and agreement with the JSON Schema."""

from __future__ import annotations

import copy
import hashlib
import json

import jsonschema
import pytest

from tests.factories import NIH_LABELS, card_dict
from viewer.core.errors import ModelCardError
from viewer.core.model_card import SCHEMA_VERSION, ModelCard, load_schema, validate_card_dict

MODEL_ID = hashlib.sha256(b"weights").hexdigest()


@pytest.fixture
def valid() -> dict:
    return card_dict(MODEL_ID)


def schema_accepts(data: dict) -> bool:
    try:
        jsonschema.validate(data, load_schema())
    except jsonschema.ValidationError:
        return False
    return True


def test_valid_card_round_trips_through_json(valid: dict) -> None:
    card = ModelCard.from_dict(valid)
    again = ModelCard.from_json(card.to_json())
    assert again == card
    assert again.labels == NIH_LABELS
    assert again.input.height == 64 and again.input.width == 64
    assert list(again.threshold_values()) == list(NIH_LABELS)
    assert schema_accepts(json.loads(card.to_json()))


def test_schema_version_is_one_and_committed_schema_is_valid_json_schema() -> None:
    assert SCHEMA_VERSION == 1
    jsonschema.Draft202012Validator.check_schema(load_schema())


BROKEN = [
    ("missing model_id", lambda c: c.pop("model_id"), "missing field 'model_id'"),
    ("missing labels", lambda c: c.pop("labels"), "missing field 'labels'"),
    ("missing ood", lambda c: c.pop("ood"), "missing field 'ood'"),
    ("labels not a list", lambda c: c.update(labels="Atelectasis"), "field 'labels' must be list"),
    ("duplicate labels", lambda c: c.update(labels=["A", "A"]), "labels must be unique"),
    ("empty labels", lambda c: c.update(labels=[]), "labels must be a non-empty list"),
    ("model_id not sha256", lambda c: c.update(model_id="abc"), "model_id must be the 64-character"),
    ("future schema", lambda c: c.update(schema_version=2), "schema_version 2 is not supported"),
    ("input too small", lambda c: c["input"].update(height=2), "input.height must be an integer"),
    ("three channels", lambda c: c["input"].update(channels=3), "input.channels must be 1"),
    ("threshold out of range", lambda c: c["thresholds"]["values"].update(Hernia=1.5), "thresholds.values['Hernia']"),
    ("threshold missing", lambda c: c["thresholds"]["values"].pop("Mass"), "thresholds.values has no entry for Mass"),
    ("threshold rule missing", lambda c: c["thresholds"].pop("rule"), "thresholds.rule"),
    ("auroc above one", lambda c: c["metrics"]["auroc"].update(Mass={"value": 1.2}), "metrics.auroc['Mass']"),
    ("auroc missing label", lambda c: c["metrics"]["auroc"].pop("Edema"), "metrics.auroc has no entry for Edema"),
    ("calibration without method", lambda c: c.update(calibration={}), "calibration.method"),
    ("training incomplete", lambda c: c["training"].pop("seed"), "training is missing seed"),
    ("ood without threshold", lambda c: c["ood"].pop("threshold"), "ood.threshold"),
    ("name is a number", lambda c: c.update(name=3), "field 'name' must be str"),
]


# Rules relating two fields (every label needs a threshold and an AUROC entry).
CROSS_FIELD = {"threshold missing", "auroc missing label"}


@pytest.mark.parametrize("what, breaks, expected", BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_card_is_refused_with_the_reason(valid: dict, what: str, breaks, expected: str) -> None:
    data = copy.deepcopy(valid)
    breaks(data)
    with pytest.raises(ModelCardError) as caught:
        ModelCard.from_dict(data, source="card of test.onnx")
    assert expected in str(caught.value)
    assert "card of test.onnx" in str(caught.value)
    # The committed JSON Schema refuses the same card (it is the same contract, written down),
    # except for rules that tie one field to another, which JSON Schema cannot express.
    if what not in CROSS_FIELD:
        assert not schema_accepts(data)


def test_every_problem_is_reported_at_once(valid: dict) -> None:
    data = copy.deepcopy(valid)
    data["model_id"] = "nope"
    data["thresholds"]["values"]["Mass"] = -1
    data["training"] = {}
    problems = validate_card_dict(data)
    assert len(problems) >= 3


@pytest.mark.parametrize("text", ["", "{", "[1, 2]", "null", "\"card\""])
def test_not_json_or_not_an_object_is_refused(text: str) -> None:
    with pytest.raises(ModelCardError):
        ModelCard.from_json(text)


def test_auroc_may_be_null_where_a_label_has_no_positives(valid: dict) -> None:
    valid["metrics"]["auroc"] = {x: {"value": 0.7, "ci_low": 0.6, "ci_high": 0.8} for x in NIH_LABELS}
    valid["metrics"]["auroc"]["Hernia"] = None
    card = ModelCard.from_dict(valid)
    assert card.auroc("Hernia") is None
    assert card.auroc("Mass") == pytest.approx(0.7)
    assert schema_accepts(valid)
