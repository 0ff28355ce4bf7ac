"""``read_metadata``: the model card read from the ONNX file's bytes, without ONNX Runtime
(``cxr-viewer --version``), checked against ONNX Runtime's own reading and on broken files."""

from __future__ import annotations

from pathlib import Path

import pytest

from viewer.core.errors import ModelContractError
from viewer.core.model import open_session
from viewer.core.onnx_card import card_from_metadata, read_metadata

REPO = Path(__file__).resolve().parents[2]


def _runtime_metadata(path: Path) -> dict[str, str]:
    return dict(open_session(path).get_modelmeta().custom_metadata_map)


def test_the_metadata_is_what_onnx_runtime_reads(tiny_model: Path) -> None:
    for path in (tiny_model, tiny_model.with_name(tiny_model.name.replace(".onnx", ".gradcam.onnx"))):
        assert read_metadata(path) == _runtime_metadata(path)
    assert card_from_metadata(read_metadata(tiny_model), tiny_model.name).name == "tiny-test-model"


def test_the_bundled_model(tmp_path: Path) -> None:
    demo = REPO / "resources" / "models" / "demo.onnx"
    if not demo.is_file():
        pytest.skip("resources/models/demo.onnx is not in this checkout")
    assert read_metadata(demo) == _runtime_metadata(demo)


@pytest.mark.parametrize("cut", [0.5, 0.999])
def test_a_cut_short_file_is_named(tiny_model: Path, tmp_path: Path, cut: float) -> None:
    data = tiny_model.read_bytes()
    broken = tmp_path / "cut.onnx"
    broken.write_bytes(data[: int(len(data) * cut)])
    with pytest.raises(ModelContractError, match="cut.onnx"):
        read_metadata(broken)


@pytest.mark.parametrize("content", [b"", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, b"\xff" * 32])
def test_files_that_are_not_onnx_are_named(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "not-a-model.onnx"
    path.write_bytes(content)
    if content == b"":  # an empty protobuf is an empty message: no card in it
        assert read_metadata(path) == {}
        with pytest.raises(ModelContractError, match="no model card"):
            card_from_metadata(read_metadata(path), path.name)
        return
    with pytest.raises(ModelContractError, match="not-a-model.onnx"):
        read_metadata(path)
