"""Reading and writing the model card in ONNX metadata (key ``cxr.model_card``).

Reading parses the protobuf's ``metadata_props`` straight from the file, without ONNX Runtime;
writing needs the ``onnx`` package, which only the trainer installs, so it is imported on use.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import BinaryIO

from .errors import ModelContractError, display_name
from .model_card import CARD_METADATA_KEY, ModelCard


def card_from_metadata(metadata: dict[str, str], source: str) -> ModelCard:
    """The card stored in an ONNX file's ``metadata_props`` (as a dict), validated."""
    text = metadata.get(CARD_METADATA_KEY)
    if text is None:
        raise ModelContractError(
            f"{source} has no model card (ONNX metadata key '{CARD_METADATA_KEY}'); "
            "export the model with cxr-train, which writes it"
        )
    return ModelCard.from_json(text, source=f"the model card in {source}")


def read_card(path: str | Path) -> ModelCard:
    """The validated card inside the ONNX file at ``path``, read from its metadata alone (no
    ONNX Runtime session; ``model.ModelPair.open`` is what checks that the graph runs)."""
    path = Path(path)
    if not path.is_file():
        raise ModelContractError(f"{display_name(path)}: model file not found")
    return card_from_metadata(read_metadata(path), display_name(path.name))


# ModelProto field numbers (onnx.proto3): metadata_props = 14, each a StringStringEntryProto
# with key = 1 and value = 2. Only these are read; everything else (the graph and its weights,
# almost all of the file) is skipped by its length.
_METADATA_PROPS, _KEY, _VALUE = 14, 1, 2


def read_metadata(path: str | Path) -> dict[str, str]:
    """The ``metadata_props`` of the ONNX file at ``path``, read straight from the protobuf wire
    format, seeking past the graph: milliseconds, where an ONNX Runtime session of a DenseNet
    takes a few hundred (``cxr-viewer --version``). Raises ``ModelContractError`` when the file
    is not a well-formed ONNX (protobuf) file."""
    path = Path(path)
    name = display_name(path.name)
    entries: dict[str, str] = {}
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            while handle.tell() < size:
                field, wire = _split_tag(_read_varint(handle, name), name, handle.tell())
                if wire == 0:
                    _read_varint(handle, name)
                elif wire in (1, 5):
                    handle.seek(8 if wire == 1 else 4, os.SEEK_CUR)
                else:
                    length = _read_varint(handle, name)
                    if handle.tell() + length > size:
                        raise ModelContractError(f"{name} is cut short (a field runs past the end of the file)")
                    if field == _METADATA_PROPS:
                        key, value = _entry(handle.read(length), name)
                        entries[key] = value
                    else:
                        handle.seek(length, os.SEEK_CUR)
            if handle.tell() != size:
                raise ModelContractError(f"{name} is cut short (a field runs past the end of the file)")
    except OSError as exc:
        raise ModelContractError(f"{name} could not be read ({exc.strerror or exc})") from None
    return entries


def _split_tag(tag: int, name: str, at: int) -> tuple[int, int]:
    field, wire = tag >> 3, tag & 7
    if field == 0 or wire not in (0, 1, 2, 5):
        raise ModelContractError(f"{name} is not an ONNX file (no protobuf field at byte {at})")
    return field, wire


def _read_varint(handle: BinaryIO, name: str) -> int:
    value = shift = 0
    while True:
        byte = handle.read(1)
        if not byte or shift > 63:
            raise ModelContractError(f"{name} is not an ONNX file (a malformed or cut-short number)")
        value |= (byte[0] & 0x7F) << shift
        if not byte[0] & 0x80:
            return value
        shift += 7


def _entry(data: bytes, name: str) -> tuple[str, str]:
    """Key and value of one StringStringEntryProto."""
    stream = io.BytesIO(data)
    parts = {_KEY: b"", _VALUE: b""}
    while stream.tell() < len(data):
        field, wire = _split_tag(_read_varint(stream, name), name, stream.tell())
        if wire != 2:
            raise ModelContractError(f"{name}: a metadata entry is malformed")
        length = _read_varint(stream, name)
        chunk = stream.read(length)
        if len(chunk) != length:
            raise ModelContractError(f"{name}: a metadata entry is cut short")
        parts[field] = chunk
    try:
        return parts[_KEY].decode("utf-8"), parts[_VALUE].decode("utf-8")
    except UnicodeDecodeError:
        raise ModelContractError(f"{name}: a metadata entry is not UTF-8 text") from None


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
