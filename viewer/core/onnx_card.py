"""Reading and writing the model card in ONNX metadata (key ``cxr.model_card``).

Reading goes through ONNX Runtime, which the viewer has anyway; writing needs the ``onnx``
package, which only the trainer installs, so it is imported on use.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ModelContractError, display_name
from .model_card import CARD_METADATA_KEY, ModelCard

if TYPE_CHECKING:  # pragma: no cover
    import onnxruntime


def card_from_metadata(metadata: dict[str, str], source: str) -> ModelCard:
    """The card stored in an ONNX file's ``metadata_props`` (as a dict), validated."""
    text = metadata.get(CARD_METADATA_KEY)
    if text is None:
        raise ModelContractError(
            f"{source} has no model card (ONNX metadata key '{CARD_METADATA_KEY}'); "
            "export the model with cxr-train, which writes it"
        )
    return ModelCard.from_json(text, source=f"the model card in {source}")


def read_card_from_session(session: onnxruntime.InferenceSession, source: str) -> ModelCard:
    """The card of a model already opened in ONNX Runtime."""
    metadata = session.get_modelmeta().custom_metadata_map
    return card_from_metadata(dict(metadata), source)


def read_card(path: str | Path) -> ModelCard:
    """The card inside the ONNX file at ``path`` (opens the file with ONNX Runtime)."""
    from .model import open_session  # local import: model.py imports this module

    session = open_session(Path(path))
    return read_card_from_session(session, display_name(Path(path).name))


def write_card(path: str | Path, card: ModelCard) -> None:
    """Store ``card`` in the ONNX file at ``path``, replacing any card already there.

    Needs the ``onnx`` package (installed with the ``train`` extra).
    """
    import onnx  # the trainer's dependency, not the viewer's

    path = Path(path)
    model = onnx.load(str(path), load_external_data=True)
    set_card(model, card)
    onnx.save(model, str(path))


def set_card(model: object, card: ModelCard) -> None:
    """Put ``card`` into an in-memory ``onnx.ModelProto``'s ``metadata_props``."""
    props = model.metadata_props  # type: ignore[attr-defined]
    kept = [(p.key, p.value) for p in props if p.key != CARD_METADATA_KEY]
    del props[:]
    for key, value in kept:
        entry = props.add()
        entry.key, entry.value = key, value
    entry = props.add()
    entry.key, entry.value = CARD_METADATA_KEY, card.to_json()
