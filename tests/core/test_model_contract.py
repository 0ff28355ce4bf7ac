"""The model contract: card in ONNX metadata, pairing of NAME.onnx with NAME.gradcam.onnx, shapes."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest

from tests.factories import NIH_LABELS, card_dict, make_model_pair
from viewer.core.errors import ModelCardError, ModelContractError
from viewer.core.model import ModelPair, sidecar_path_for
from viewer.core.model_card import CARD_METADATA_KEY, ModelCard
from viewer.core.onnx_card import read_card, write_card


def test_card_written_to_onnx_metadata_reads_back(tiny_model: Path) -> None:
    card = read_card(tiny_model)
    assert card.labels == NIH_LABELS
    metadata = {p.key: p.value for p in onnx.load(str(tiny_model)).metadata_props}
    assert CARD_METADATA_KEY in metadata
    assert ModelCard.from_json(metadata[CARD_METADATA_KEY]) == card


def test_write_card_replaces_the_previous_card(tiny_model: Path) -> None:
    data = card_dict(read_card(tiny_model).model_id, name="renamed")
    write_card(tiny_model, ModelCard.from_dict(data))
    assert read_card(tiny_model).name == "renamed"
    keys = [p.key for p in onnx.load(str(tiny_model)).metadata_props]
    assert keys.count(CARD_METADATA_KEY) == 1


def test_sidecar_path_sits_beside_the_classifier() -> None:
    assert sidecar_path_for(Path("/m/demo.onnx")) == Path("/m/demo.gradcam.onnx")
    assert sidecar_path_for(Path("/m/v1.2.onnx")) == Path("/m/v1.2.gradcam.onnx")


def test_valid_pair_opens_and_runs(tiny_model: Path) -> None:
    pair = ModelPair.open(tiny_model, threads=1)
    assert pair.labels == NIH_LABELS
    assert pair.feature_shape == (8, 8, 8)
    images = np.random.default_rng(0).random((3, 1, 64, 64), dtype=np.float32)
    probabilities, features = pair.classify(images)
    heatmaps = pair.gradcam(features)
    assert probabilities.shape == (3, 14) and ((probabilities > 0) & (probabilities < 1)).all()
    assert heatmaps.shape == (3, 14, 8, 8) and (heatmaps >= 0).all()


def test_sidecar_from_another_model_is_refused(tmp_path: Path) -> None:
    other_id = hashlib.sha256(b"some other model").hexdigest()
    path = make_model_pair(tmp_path, sidecar_model_id=other_id)
    with pytest.raises(ModelContractError, match="belongs to another model"):
        ModelPair.open(path)


def test_sidecar_swapped_in_from_another_export_is_refused(tmp_path: Path) -> None:
    first = make_model_pair(tmp_path / "a", seed=1)
    second = make_model_pair(tmp_path / "b", seed=2)
    shutil.copy(sidecar_path_for(second), sidecar_path_for(first))
    with pytest.raises(ModelContractError, match="tiny.gradcam.onnx belongs to another model than tiny.onnx"):
        ModelPair.open(first)


def test_missing_sidecar_is_named(tiny_model: Path) -> None:
    sidecar_path_for(tiny_model).unlink()
    with pytest.raises(ModelContractError, match=r"tiny\.gradcam\.onnx: model file not found"):
        ModelPair.open(tiny_model)


def test_missing_classifier_is_named(tmp_path: Path) -> None:
    with pytest.raises(ModelContractError, match="nothing.onnx: model file not found"):
        ModelPair.open(tmp_path / "nothing.onnx")


@pytest.mark.parametrize("damage", ["truncate", "random", "empty"])
def test_corrupt_model_file_is_refused_with_its_name(tiny_model: Path, damage: str) -> None:
    data = tiny_model.read_bytes()
    if damage == "truncate":
        tiny_model.write_bytes(data[: len(data) // 2])
    elif damage == "random":
        tiny_model.write_bytes(np.random.default_rng(0).bytes(len(data)))
    else:
        tiny_model.write_bytes(b"")
    with pytest.raises(ModelContractError, match="tiny.onnx: not a readable ONNX model"):
        ModelPair.open(tiny_model)


def test_model_without_card_is_refused(tiny_model: Path) -> None:
    model = onnx.load(str(tiny_model))
    del model.metadata_props[:]
    onnx.save(model, str(tiny_model))
    with pytest.raises(ModelContractError, match="has no model card"):
        ModelPair.open(tiny_model)


def test_card_with_missing_fields_is_refused(tiny_model: Path) -> None:
    model = onnx.load(str(tiny_model))
    for prop in model.metadata_props:
        if prop.key == CARD_METADATA_KEY:
            prop.value = '{"schema_version": 1, "name": "half a card"}'
    onnx.save(model, str(tiny_model))
    with pytest.raises(ModelCardError, match="missing field 'labels'"):
        ModelPair.open(tiny_model)


def test_card_with_wrong_label_count_is_refused(tmp_path: Path) -> None:
    # The graph outputs 14 probabilities; the card below claims only 3 labels.
    path = make_model_pair(tmp_path)
    card = read_card(path)
    three = card_dict(card.model_id, labels=NIH_LABELS[:3])
    write_card(path, ModelCard.from_dict(three))
    write_card(sidecar_path_for(path), ModelCard.from_dict(three))
    with pytest.raises(ModelContractError, match="lists 3 labels"):
        ModelPair.open(path)


def test_card_with_wrong_input_size_is_refused(tmp_path: Path) -> None:
    path = make_model_pair(tmp_path)
    card = card_dict(read_card(path).model_id, size=224)
    for file in (path, sidecar_path_for(path)):
        write_card(file, ModelCard.from_dict(card))
    with pytest.raises(ModelContractError, match=r"input 'image' has shape .*card says \[N, 1, 224, 224\]"):
        ModelPair.open(path)


def test_model_with_wrong_input_name_is_refused(tiny_model: Path) -> None:
    model = onnx.load(str(tiny_model))
    model.graph.input[0].name = "pixels"
    for node in model.graph.node:
        node.input[:] = ["pixels" if x == "image" else x for x in node.input]
    onnx.save(model, str(tiny_model))
    with pytest.raises(ModelContractError, match="expected input 'image'"):
        ModelPair.open(tiny_model)
