"""Opening a model pair (classifier + Grad-CAM sidecar) and checking the model contract
(docs/model-contract.md).

This module owns every ONNX Runtime session of the viewer. ``ModelPair.open`` checks everything
that can be checked before the first image (files, cards, pairing, input and output shapes, a
test run on a blank image) and explains any mismatch in a ``ModelContractError``; then
``classify`` gives probabilities and features, and ``gradcam`` the heatmaps, as plain numpy arrays,
both checked (``output_problem``: finite, probabilities within 0..1) so that no NaN ever reaches a
findings panel or a CSV: a model that breaks this for an image raises ``ModelOutputError``, and one
that breaks it on the blank image of the open check is refused at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from .errors import ModelContractError, ModelOutputError, display_name, one_line
from .model_card import ModelCard
from .onnx_card import card_from_metadata

SIDECAR_SUFFIX = ".gradcam.onnx"
CLASSIFIER_INPUT = "image"
CLASSIFIER_OUTPUTS = ("probabilities", "features")
SIDECAR_INPUT = "features"
SIDECAR_OUTPUT = "heatmaps"
OUTPUT_REMEDY = "the model is broken: re-export it with cxr-train or use another model"


def sidecar_path_for(classifier: Path) -> Path:
    """``NAME.onnx`` -> ``NAME.gradcam.onnx`` in the same folder."""
    name = classifier.name
    stem = name[: -len(".onnx")] if name.endswith(".onnx") else classifier.stem
    return classifier.with_name(stem + SIDECAR_SUFFIX)


def preferred_providers() -> list[str]:
    """CUDA when onnxruntime-gpu finds a usable GPU, the CPU otherwise (always last)."""
    available = ort.get_available_providers()
    providers = [p for p in ("CUDAExecutionProvider",) if p in available]
    return providers + ["CPUExecutionProvider"]


def open_session(path: Path, threads: int | None = None,
                 providers: Sequence[str] | None = None) -> ort.InferenceSession:
    """An ONNX Runtime session for ``path`` (on ``providers``, default ``preferred_providers``),
    or a ``ModelContractError`` saying why not."""
    if not path.is_file():
        raise ModelContractError(
            f"{display_name(path)}: model file not found (pass --model NAME.onnx with "
            f"NAME{SIDECAR_SUFFIX} beside it)"
        )
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: the viewer reports problems itself
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(str(path), options, providers=list(providers or preferred_providers()))
    except Exception as exc:  # ORT raises its own Fail/InvalidProtobuf/... classes
        raise ModelContractError(
            f"{display_name(path)}: not a readable ONNX model ({one_line(exc)}); "
            "re-export it with cxr-train or restore the file"
        ) from None


def read_card_from_session(session: ort.InferenceSession, source: str) -> ModelCard:
    """The card of a model already opened in ONNX Runtime (``source`` names it in errors)."""
    return card_from_metadata(dict(session.get_modelmeta().custom_metadata_map), source)


def _shape(arg: Any) -> list[int | str | None]:
    return list(arg.shape)


def _dim_ok(actual: int | str | None, expected: int | None) -> bool:
    """A fixed dimension must equal ``expected``; a symbolic one (str/None) accepts anything."""
    return expected is None or not isinstance(actual, int) or actual == expected


class RunStopped(Exception):
    """A model run was stopped from another thread (``RunStop.stop``): its result is not wanted."""


class RunStop:
    """Stops a model run in progress from another thread: the image it was for is no longer
    wanted (the user moved on), and the cores are better spent on the one that is. ONNX Runtime
    checks the flag between the graph's nodes, so the run ends within a node or two; a run
    started after ``stop`` ends at once."""

    def __init__(self) -> None:
        self.options = ort.RunOptions()

    def stop(self) -> None:
        self.options.terminate = True

    @property
    def stopped(self) -> bool:
        return bool(self.options.terminate)


@dataclass
class ModelPair:
    """The two ONNX sessions of one model and their (identical) card."""

    classifier_path: Path
    sidecar_path: Path
    card: ModelCard
    feature_shape: tuple[int, int, int]  # C, h, w of the Grad-CAM layer
    _classifier: ort.InferenceSession
    _sidecar: ort.InferenceSession

    @classmethod
    def open(cls, classifier_path: str | Path, threads: int | None = None,
             providers: Sequence[str] | None = None) -> ModelPair:
        """Open ``NAME.onnx`` and ``NAME.gradcam.onnx`` and check that they keep the contract."""
        classifier_path = Path(classifier_path)
        sidecar_path = sidecar_path_for(classifier_path)
        classifier = open_session(classifier_path, threads, providers)
        sidecar = open_session(sidecar_path, threads, providers)
        card = read_card_from_session(classifier, display_name(classifier_path.name))
        sidecar_card = read_card_from_session(sidecar, display_name(sidecar_path.name))
        check_pairing(card, sidecar_card, classifier_path, sidecar_path)
        feature_shape = check_io(card, classifier, sidecar, classifier_path, sidecar_path)
        return cls(classifier_path, sidecar_path, card, feature_shape, classifier, sidecar)

    @property
    def labels(self) -> tuple[str, ...]:
        return self.card.labels

    @property
    def providers(self) -> list[str]:
        providers: list[str] = self._classifier.get_providers()
        return providers

    @property
    def batch_limit(self) -> int | None:
        """The most images the classifier takes per run: its input's fixed batch size (1 for a
        model exported with a batch of one), or None when the batch dimension is symbolic."""
        first = _shape(self._classifier.get_inputs()[0])[0]
        return first if isinstance(first, int) and first > 0 else None

    def classify(self, images: np.ndarray, stop: RunStop | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``images`` [N,1,H,W] float32 in [0,1] -> (probabilities [N,L], features [N,C,h,w]).
        Raises ``RunStopped`` when ``stop`` ends the run, ``ModelOutputError`` when the
        probabilities are not finite or outside 0..1."""
        feeds = {CLASSIFIER_INPUT: np.ascontiguousarray(images, np.float32)}
        probabilities, features = _run(self._classifier, list(CLASSIFIER_OUTPUTS), feeds, stop)
        self._check(self.classifier_path, "probabilities", probabilities)
        return probabilities, features

    def gradcam(self, features: np.ndarray, stop: RunStop | None = None) -> np.ndarray:
        """``features`` [N,C,h,w] -> Grad-CAM maps for every label at once, [N,L,h,w].
        Raises ``ModelOutputError`` when a map is not finite."""
        heatmaps: np.ndarray = _run(self._sidecar, [SIDECAR_OUTPUT], {SIDECAR_INPUT: features}, stop)[0]
        self._check(self.sidecar_path, "heatmaps", heatmaps)
        return heatmaps

    def _check(self, path: Path, output: str, values: np.ndarray) -> None:
        problem = output_problem(output, values, self.labels)
        if problem is not None:
            raise ModelOutputError(f"{display_name(path.name)}: the model gave {problem}; {OUTPUT_REMEDY}")


def output_problem(output: str, values: np.ndarray, labels: Sequence[str]) -> str | None:
    """What is wrong with a model output [N, L, ...] ("probabilities" or "heatmaps"): NaN or
    infinite values, or probabilities outside 0..1, with the labels they are for; None when
    nothing is."""
    values = np.asarray(values)
    per_label = values.reshape(values.shape[0], values.shape[1], -1) if values.ndim >= 2 else values
    finite = np.isfinite(per_label)
    if not finite.all():
        kinds = [word for word, found in (("NaN", np.isnan(per_label).any()),
                                          ("infinity", np.isinf(per_label).any())) if found]
        return f"non-finite {output} ({' and '.join(kinds)}) for {_labels_where(~finite, labels)}"
    if output == "probabilities":
        outside = (per_label < 0.0) | (per_label > 1.0)
        if outside.any():
            low, high = float(per_label.min()), float(per_label.max())
            return (f"probabilities outside 0..1 (from {low:.4g} to {high:.4g}) for "
                    f"{_labels_where(outside, labels)}")
    return None


def _labels_where(bad: np.ndarray, labels: Sequence[str], shown: int = 3) -> str:
    """The labels (axis 1 of ``bad`` [N, L, ...]) with any True, the first ``shown`` by name."""
    names = [labels[int(i)] if i < len(labels) else f"output {i}" for i in np.flatnonzero(bad.any(axis=(0, 2)))]
    more = len(names) - shown
    return ", ".join(names[:shown]) + (f" and {more} more" if more > 0 else "")


def _run(session: ort.InferenceSession, outputs: list[str], feeds: dict[str, np.ndarray],
         stop: RunStop | None) -> list[Any]:
    if stop is None:
        return list(session.run(outputs, feeds))
    if stop.stopped:
        raise RunStopped("the model run was stopped before it started")
    try:
        return list(session.run(outputs, feeds, stop.options))
    except Exception:
        if stop.stopped:  # ORT's own error for a terminated run
            raise RunStopped("the model run was stopped") from None
        raise


def check_pairing(card: ModelCard, sidecar_card: ModelCard, classifier: Path, sidecar: Path) -> None:
    """The sidecar must come from the same export as the classifier (same ``model_id``)."""
    if sidecar_card.model_id != card.model_id:
        raise ModelContractError(
            f"{display_name(sidecar.name)} belongs to another model than {display_name(classifier.name)} "
            f"(model_id {sidecar_card.model_id[:12]}... vs {card.model_id[:12]}...); "
            "use the two files written together by one cxr-train export"
        )
    if sidecar_card.labels != card.labels:
        raise ModelContractError(
            f"{display_name(sidecar.name)} lists other labels than {display_name(classifier.name)}; "
            "use the two files written together by one cxr-train export"
        )


def check_io(
    card: ModelCard,
    classifier: ort.InferenceSession,
    sidecar: ort.InferenceSession,
    classifier_path: Path,
    sidecar_path: Path,
) -> tuple[int, int, int]:
    """Check input/output names and shapes against the card; return the feature shape (C,h,w)."""
    n_labels = len(card.labels)
    cname, sname = display_name(classifier_path.name), display_name(sidecar_path.name)
    remedy = "re-export the model with cxr-train"

    inputs = {i.name: i for i in classifier.get_inputs()}
    outputs = {o.name: o for o in classifier.get_outputs()}
    if set(inputs) != {CLASSIFIER_INPUT} or not set(CLASSIFIER_OUTPUTS) <= set(outputs):
        raise ModelContractError(
            f"{cname}: expected input '{CLASSIFIER_INPUT}' and outputs "
            f"{', '.join(CLASSIFIER_OUTPUTS)}, found inputs {sorted(inputs)} and outputs "
            f"{sorted(outputs)}; {remedy}"
        )
    image_shape = _shape(inputs[CLASSIFIER_INPUT])
    expected_image = [None, 1, card.input.height, card.input.width]
    if len(image_shape) != 4 or not all(map(_dim_ok, image_shape, expected_image)):
        raise ModelContractError(
            f"{cname}: input 'image' has shape {image_shape}, but the card says "
            f"[N, 1, {card.input.height}, {card.input.width}]; {remedy}"
        )
    prob_shape = _shape(outputs["probabilities"])
    if len(prob_shape) != 2 or not _dim_ok(prob_shape[1], n_labels):
        raise ModelContractError(
            f"{cname}: output 'probabilities' has shape {prob_shape}, but the card lists "
            f"{n_labels} labels; {remedy}"
        )
    feature_shape = _shape(outputs["features"])
    if len(feature_shape) != 4:
        raise ModelContractError(f"{cname}: output 'features' must be [N,C,h,w], is {feature_shape}; {remedy}")

    s_inputs = {i.name: i for i in sidecar.get_inputs()}
    s_outputs = {o.name: o for o in sidecar.get_outputs()}
    if set(s_inputs) != {SIDECAR_INPUT} or SIDECAR_OUTPUT not in s_outputs:
        raise ModelContractError(
            f"{sname}: expected input '{SIDECAR_INPUT}' and output '{SIDECAR_OUTPUT}', found "
            f"inputs {sorted(s_inputs)} and outputs {sorted(s_outputs)}; {remedy}"
        )
    s_feature_shape = _shape(s_inputs[SIDECAR_INPUT])
    if len(s_feature_shape) != 4 or not all(
        _dim_ok(a, b if isinstance(b, int) else None) for a, b in zip(s_feature_shape[1:], feature_shape[1:])
    ):
        raise ModelContractError(
            f"{sname}: input 'features' has shape {s_feature_shape}, but {cname} produces "
            f"{feature_shape}; use the two files written together by one cxr-train export"
        )
    heatmap_shape = _shape(s_outputs[SIDECAR_OUTPUT])
    if len(heatmap_shape) != 4 or not _dim_ok(heatmap_shape[1], n_labels):
        raise ModelContractError(
            f"{sname}: output 'heatmaps' has shape {heatmap_shape}, but the card lists "
            f"{n_labels} labels; {remedy}"
        )

    # Shapes may be symbolic: run one blank image to learn the real feature shape and confirm
    # that the outputs really have the sizes the card promises.
    probe = np.zeros((1, 1, card.input.height, card.input.width), np.float32)
    try:
        probs, features = classifier.run(list(CLASSIFIER_OUTPUTS), {CLASSIFIER_INPUT: probe})
        (heatmaps,) = sidecar.run([SIDECAR_OUTPUT], {SIDECAR_INPUT: features})
    except Exception as exc:
        raise ModelContractError(
            f"{cname}/{sname}: a test run on a blank image failed ({one_line(exc)}); {remedy}"
        ) from None
    if probs.shape != (1, n_labels) or heatmaps.shape[:2] != (1, n_labels) or features.ndim != 4:
        raise ModelContractError(
            f"{cname}/{sname}: a test run gave probabilities {probs.shape} and heatmaps "
            f"{heatmaps.shape}, expected (1, {n_labels}) and (1, {n_labels}, h, w); {remedy}"
        )
    for name, output, values in ((cname, "probabilities", probs), (sname, SIDECAR_OUTPUT, heatmaps)):
        problem = output_problem(output, values, card.labels)
        if problem is not None:
            raise ModelContractError(f"{name}: a test run on a blank image gave {problem}; {OUTPUT_REMEDY}")
    if heatmaps.shape[2:] != features.shape[2:]:
        raise ModelContractError(
            f"{sname}: heatmaps are {heatmaps.shape[2:]} but features are {features.shape[2:]}; {remedy}"
        )
    return int(features.shape[1]), int(features.shape[2]), int(features.shape[3])
