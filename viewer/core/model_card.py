"""The model card (contract v1): what a model is, what it expects, and how good it is.

The card travels inside both ONNX files (metadata key ``cxr.model_card``, see ``onnx_card``).
``model_card.schema.json`` beside this module is the committed JSON Schema of the same format;
``ModelCard.from_dict`` checks the same rules and reports every problem it finds at once.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field
from importlib import resources
from typing import Any, TypeGuard

from .errors import ModelCardError

SCHEMA_VERSION = 1
CARD_METADATA_KEY = "cxr.model_card"
SCHEMA_FILE = "model_card.schema.json"

_SHA256 = re.compile(r"^[0-9a-f]{64}$")

# How the one preprocessing function (``preprocess.py``) prepares pixels; written into every
# card so a model records the choices it was trained with.
DEFAULT_WINDOWING = (
    "DICOM: modality LUT, then the VOI LUT or the header's first window (LINEAR, LINEAR_EXACT "
    "or SIGMOID), else the 0.5-99.5 percentile range excluding pixel padding; MONOCHROME1 "
    "inverted. 8-bit PNG/JPEG divided by 255; 16-bit PNG scaled by the range its pixels use."
)


@dataclass(frozen=True)
class InputSpec:
    """What the classifier's ``image`` input expects: ``[N, channels, height, width]`` float32."""

    height: int
    width: int
    channels: int = 1
    value_range: tuple[float, float] = (0.0, 1.0)
    windowing: str = DEFAULT_WINDOWING
    resize: str = "one resize to height x width, no padding: cv2.INTER_AREA (INTER_LINEAR if enlarging)"
    colour: str = "RGB/RGBA converted to grey (BT.601 luma), with a note"
    photometric: str = "white = dense (MONOCHROME2 sense)"


@dataclass(frozen=True)
class ModelCard:
    """A validated model card. Build it with ``from_dict``/``from_json`` to get the checks."""

    model_id: str
    name: str
    arch: str
    labels: tuple[str, ...]
    input: InputSpec
    thresholds: dict[str, Any]
    calibration: dict[str, Any]
    metrics: dict[str, Any]
    training: dict[str, Any]
    ood: dict[str, Any]
    normalization: dict[str, Any] = field(default_factory=dict)
    intended_use: str = "Research and education only. Not for diagnostic use."
    schema_version: int = SCHEMA_VERSION

    # -- convenient views -------------------------------------------------------------------
    def threshold_values(self) -> dict[str, float]:
        """The per-label operating points, in label order."""
        values = self.thresholds["values"]
        return {label: float(values[label]) for label in self.labels}

    def auroc(self, label: str) -> float | None:
        """The test-split AUROC recorded for ``label``, or None where it could not be measured."""
        entry = self.metrics.get("auroc", {}).get(label)
        if entry is None:
            return None
        return float(entry["value"]) if isinstance(entry, dict) else float(entry)

    # -- (de)serialisation ------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (tuples become lists)."""
        data = asdict(self)
        data["labels"] = list(self.labels)
        data["input"]["value_range"] = list(self.input.value_range)
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=None, sort_keys=True, allow_nan=False)

    @classmethod
    def from_json(cls, text: str, source: str = "model card") -> ModelCard:
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, TypeError) as exc:
            raise ModelCardError([f"not valid JSON ({exc})"], source) from None
        return cls.from_dict(data, source)

    @classmethod
    def from_dict(cls, data: Any, source: str = "model card") -> ModelCard:
        """Check ``data`` against the card rules; raise ``ModelCardError`` listing every problem."""
        problems = validate_card_dict(data)
        if problems:
            raise ModelCardError(problems, source)
        spec = data["input"]
        input_spec = InputSpec(
            height=int(spec["height"]),
            width=int(spec["width"]),
            channels=int(spec.get("channels", 1)),
            value_range=_value_range(spec.get("value_range", (0.0, 1.0))),
            **{k: spec[k] for k in ("windowing", "resize", "colour", "photometric") if k in spec},
        )
        return cls(
            model_id=data["model_id"],
            name=data["name"],
            arch=data["arch"],
            labels=tuple(data["labels"]),
            input=input_spec,
            thresholds=data["thresholds"],
            calibration=data["calibration"],
            metrics=data["metrics"],
            training=data["training"],
            ood=data["ood"],
            normalization=data.get("normalization", {}),
            intended_use=data.get("intended_use", ModelCard.intended_use),
            schema_version=data["schema_version"],
        )


def _value_range(value: Any) -> tuple[float, float]:
    """The card's ``input.value_range`` pair (validated before this is called)."""
    low, high = value
    return float(low), float(high)


def load_schema() -> dict[str, Any]:
    """The committed JSON Schema of the card (``model_card.schema.json``)."""
    text = resources.files(__package__).joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


# -- validation -----------------------------------------------------------------------------
_REQUIRED: dict[str, type | tuple[type, ...]] = {
    "schema_version": int,
    "model_id": str,
    "name": str,
    "arch": str,
    "labels": list,
    "input": dict,
    "thresholds": dict,
    "calibration": dict,
    "metrics": dict,
    "training": dict,
    "ood": dict,
}
_OPTIONAL: dict[str, type | tuple[type, ...]] = {
    "normalization": dict,
    "intended_use": str,
}
_TRAINING_REQUIRED = ("data", "epochs", "seed", "trainer_version", "git_commit", "date")


def _is_number(value: Any) -> TypeGuard[float]:
    """A finite int or float, not a bool (JSON true is not 1)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def validate_card_dict(data: Any) -> list[str]:
    """Every way ``data`` breaks the card rules, as readable sentences (empty when valid)."""
    if not isinstance(data, dict):
        return [f"the card must be a JSON object, not {type(data).__name__}"]
    problems: list[str] = []
    for key, kind in {**_REQUIRED, **_OPTIONAL}.items():
        if key not in data:
            if key in _REQUIRED:
                problems.append(f"missing field '{key}'")
            continue
        value = data[key]
        if not isinstance(value, kind) or isinstance(value, bool):
            expected = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            problems.append(f"field '{key}' must be {expected}, not {type(value).__name__}")
    if problems:
        return problems

    if data["schema_version"] != SCHEMA_VERSION:
        problems.append(
            f"schema_version {data['schema_version']} is not supported (this viewer reads "
            f"version {SCHEMA_VERSION}; re-export the model with a matching trainer)"
        )
    if not _SHA256.match(data["model_id"]):
        problems.append("model_id must be the 64-character lowercase hex sha256 of the weights")
    if not data["name"].strip():
        problems.append("name must not be empty")

    labels = data["labels"]
    if not labels or not all(isinstance(x, str) and x for x in labels):
        problems.append("labels must be a non-empty list of non-empty strings")
        labels = []
    elif len(set(labels)) != len(labels):
        problems.append("labels must be unique")

    problems += _validate_input(data["input"])
    problems += _validate_thresholds(data["thresholds"], labels)

    if not isinstance(data["calibration"].get("method"), str):
        problems.append("calibration.method must say how probabilities were calibrated, or 'none'")

    auroc = data["metrics"].get("auroc")
    if not isinstance(auroc, dict):
        problems.append("metrics.auroc must map each label to its test AUROC (or null)")
    else:
        missing = [x for x in labels if x not in auroc]
        if missing:
            problems.append(f"metrics.auroc has no entry for {', '.join(missing)}")
        for label, entry in auroc.items():
            value = entry.get("value") if isinstance(entry, dict) else entry
            if entry is not None and not (_is_number(value) and 0.0 <= value <= 1.0):
                problems.append(f"metrics.auroc['{label}'] must be a number in [0, 1] or null")

    missing_training = [k for k in _TRAINING_REQUIRED if k not in data["training"]]
    if missing_training:
        problems.append(f"training is missing {', '.join(missing_training)}")

    if not isinstance(data["ood"].get("method"), str):
        problems.append("ood.method must name the out-of-distribution check")
    if not _is_number(data["ood"].get("threshold")):
        problems.append("ood.threshold must be a finite number")
    if not isinstance(data["ood"].get("statistics"), dict):
        problems.append("ood.statistics must be an object")
    return problems


def _validate_input(spec: dict[str, Any]) -> list[str]:
    problems = []
    for key in ("height", "width"):
        value = spec.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or not 8 <= value <= 4096:
            problems.append(f"input.{key} must be an integer between 8 and 4096")
    if spec.get("channels", 1) != 1:
        problems.append("input.channels must be 1 (the graph repeats grey to 3 channels itself)")
    value_range = spec.get("value_range", [0.0, 1.0])
    if list(value_range) != [0.0, 1.0] and list(value_range) != [0, 1]:
        problems.append("input.value_range must be [0, 1]")
    return problems


def _validate_thresholds(thresholds: dict[str, Any], labels: list[str]) -> list[str]:
    problems = []
    if not isinstance(thresholds.get("rule"), str):
        problems.append("thresholds.rule must say how the operating points were chosen")
    values = thresholds.get("values")
    if not isinstance(values, dict):
        return problems + ["thresholds.values must map each label to a probability"]
    missing = [x for x in labels if x not in values]
    if missing:
        problems.append(f"thresholds.values has no entry for {', '.join(missing)}")
    extra = [x for x in values if x not in labels]
    if extra:
        problems.append(f"thresholds.values names unknown labels {', '.join(extra)}")
    for label, value in values.items():
        if not (_is_number(value) and 0.0 <= value <= 1.0):
            problems.append(f"thresholds.values['{label}'] must be a number in [0, 1]")
    return problems
