"""What the classical models learn from: an exported network's pooled features, and pixels.

*Pooled features* are the input of the classifier's last linear layer: in every export of
``cxr-train`` that is the global average of the Grad-CAM layer's activations (``ReduceMean`` or
``GlobalAveragePool`` + ``Flatten``) just before a ``Gemm``/``MatMul``. The exported graph does
not output that tensor, so ``pooled_tensor_name`` finds it by walking back from
``probabilities`` through the calibration's element-wise steps to that layer, and
``FeatureModel`` runs a copy of the graph, in memory, with the tensor added as an output. The
user's file is never written.

*Pixels* are the model's own prepared input (THE preprocessing, ``viewer.core.preprocess``)
area-resized to ``pixel_size`` x ``pixel_size``: the raw image as a classical model sees it.

Both come from one pass over the images (each file decoded once), batched; the network's own
probabilities come from the same run of the same graph.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort

from viewer.core.errors import one_line
from viewer.core.model import CLASSIFIER_INPUT, ModelPair
from viewer.core.preprocess import preprocess, to_model_batch

from ..data.images import none_readable, prepared_in_chunks
from ..data.labels import Sample
from ..errors import TrainerError

FEATURE_SETS = ("pooled", "pixels")
PIXEL_SIZE = 32
BATCH = 8  # images per ONNX Runtime call: bounds memory, keeps the batched speed-up
PROBABILITIES = "probabilities"
# steps between the last linear layer and ``probabilities``: the bias, the calibration, the sigmoid
_ELEMENTWISE = {"Sigmoid", "Add", "Sub", "Mul", "Div", "Identity", "Cast"}
_LINEAR = {"Gemm", "MatMul"}

Progress = Callable[[int, int], None]


def pooled_tensor_name(graph: onnx.GraphProto, source: str = "the model") -> str:
    """The name of the tensor the last linear layer reads (the pooled features), found by walking
    back from ``probabilities``; ``TrainerError`` when the graph has no such layer."""
    producer = {name: node for node in graph.node for name in node.output}
    constants = {t.name for t in graph.initializer} | {
        name for node in graph.node if node.op_type == "Constant" for name in node.output}
    name = PROBABILITIES
    for _ in range(len(graph.node)):
        node = producer.get(name)
        if node is None:
            break
        computed = [i for i in node.input if i and i not in constants]
        if node.op_type in _LINEAR and computed:
            return computed[0]
        if node.op_type not in _ELEMENTWISE or len(computed) != 1:
            break  # a step that mixes computed tensors (or a pooling) before any linear layer
        name = computed[0]
    raise TrainerError(f"{source}: no linear layer found before '{PROBABILITIES}' (looked for "
                       f"{'/'.join(sorted(_LINEAR))} after only {', '.join(sorted(_ELEMENTWISE))}), so its "
                       "pooled features cannot be read; export the model with cxr-train")


class FeatureModel:
    """The classifier with its pooled features as a second output (a copy in memory)."""

    def __init__(self, model_path: str | os.PathLike[str], threads: int | None = None) -> None:
        path = Path(model_path)
        self.pair = ModelPair.open(path, threads)  # the contract's checks and their one-line errors
        self.card = self.pair.card
        try:
            proto = onnx.load(str(path))
        except Exception as exc:  # onnx raises DecodeError and others for a damaged file
            raise TrainerError(f"{path}: not a readable ONNX model ({one_line(exc)})") from None
        self.pooled_name = pooled_tensor_name(proto.graph, path.name)
        proto.graph.output.append(onnx.helper.make_empty_tensor_value_info(self.pooled_name))
        options = ort.SessionOptions()
        options.log_severity_level = 3
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(proto.SerializeToString(), options,
                                             providers=self.pair.providers)

    @property
    def input_size(self) -> tuple[int, int]:
        return self.card.input.height, self.card.input.width

    def run(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``images`` [N,1,H,W] in [0,1] -> (probabilities [N,L], pooled features [N,C])."""
        probabilities, pooled = self._session.run([PROBABILITIES, self.pooled_name],
                                                  {CLASSIFIER_INPUT: np.ascontiguousarray(images, np.float32)})
        return np.asarray(probabilities), np.asarray(pooled).reshape(len(images), -1)


def downsample(prepared: np.ndarray, size: int = PIXEL_SIZE) -> np.ndarray:
    """A prepared image [H,W] area-resized to ``size`` x ``size``, flattened to [size*size]."""
    return np.asarray(cv2.resize(prepared, (size, size), interpolation=cv2.INTER_AREA), np.float32).ravel()


@dataclass
class Features:
    """The readable images (row i = ``samples[i]``): the network's probabilities and the feature
    sets asked for (``pooled`` [N,C], ``pixels`` [N,size*size]); unreadable images by name."""

    samples: list[Sample]
    probabilities: np.ndarray
    sets: dict[str, np.ndarray]
    unreadable: dict[str, str] = field(default_factory=dict)


def extract_features(model: FeatureModel, samples: Sequence[Sample], sets: Sequence[str] = FEATURE_SETS,
                     pixel_size: int = PIXEL_SIZE, on_progress: Progress | None = None) -> Features:
    """Probabilities and the feature ``sets`` of every readable image, ``BATCH`` at a time.

    The network runs on every image whatever ``sets`` holds: its probabilities are the table's
    first column. Unreadable images are left out and named (never silently).
    """
    unknown = [s for s in sets if s not in FEATURE_SETS]
    if unknown:
        raise TrainerError(f"unknown feature set(s) {', '.join(unknown)}; choose from {', '.join(FEATURE_SETS)}")
    height, width = model.input_size
    kept: list[Sample] = []
    probabilities: list[np.ndarray] = []
    pooled: list[np.ndarray] = []
    pixels: list[np.ndarray] = []
    unreadable: dict[str, str] = {}
    for chunk, prepared in prepared_in_chunks(samples, lambda rg: preprocess(rg, height, width), BATCH, unreadable,
                                              on_progress):
        p, f = model.run(to_model_batch(prepared))
        probabilities.append(p)
        pooled.append(f)
        if "pixels" in sets:
            pixels.append(np.stack([downsample(x, pixel_size) for x in prepared]))
        kept += chunk
    if not kept:
        raise none_readable(samples, unreadable)
    found: dict[str, np.ndarray] = {}
    if "pooled" in sets:
        found["pooled"] = np.concatenate(pooled).astype(np.float64)
    if "pixels" in sets:
        found["pixels"] = np.concatenate(pixels).astype(np.float64)
    return Features(kept, np.concatenate(probabilities).astype(np.float64), found, unreadable)
