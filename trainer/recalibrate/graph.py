"""Where a pair's calibration sits in its graphs, the raw logits, and the two rewritten graphs.

A cxr-train classifier ends ``Gemm -> Mul(calibration_scale) -> Add(calibration_bias) -> Sigmoid
-> probabilities`` (``trainer.export.graphs.ExportClassifier``), and its sidecar is one 1x1
convolution whose kernel row ``c`` is ``scale_c * W[c] / (h*w)``. Recalibrating therefore means:

* the raw logits: the Mul's input, exposed as an extra output of an in-memory copy of the graph
  (exact, where inverting the float32 probabilities would lose the tails);
* the classifier: the two initializers replaced by the new scale and bias. A graph whose Sigmoid
  takes the logits directly (an imported model whose card says ``calibration: none``) gets the
  Mul and Add inserted before it, so it has the cxr-train layout afterwards;
* the sidecar: kernel row ``c`` multiplied by ``new_scale_c / old_scale_c``, which keeps it
  Grad-CAM of the new calibrated logit exactly (the map of ``a * logit + b`` is ``a`` times that
  of ``logit``).

A graph that fits neither layout, or whose card says the calibration is inside the graph when no
scale and bias are found before the Sigmoid, is refused: rewriting it could not be exact.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from viewer.core.errors import display_name
from viewer.core.model_card import ModelCard

from ..errors import TrainerError

PROBABILITIES = "probabilities"
SCALE_NAME, BIAS_NAME = "calibration_scale", "calibration_bias"
RAW_LOGITS_REMEDY = ("recalibrate a pair exported by cxr-train, or one whose classifier ends in a Sigmoid of its "
                     "logits and whose card says calibration 'none'")


@dataclass(frozen=True)
class CalibrationSite:
    """The classifier's calibration as the graph computes it.

    ``logits``: the tensor of raw logits; ``scale`` and ``bias``: the calibration applied to them
    (ones and zeros where the graph has none); ``scale_init`` and ``bias_init``: the initializers
    holding them, None where the graph has no calibration step."""

    logits: str
    scale: np.ndarray
    bias: np.ndarray
    scale_init: str | None
    bias_init: str | None


def _producers(graph: onnx.GraphProto) -> dict[str, onnx.NodeProto]:
    return {output: node for node in graph.node for output in node.output}


def _uses(graph: onnx.GraphProto, name: str) -> int:
    return sum(list(node.input).count(name) for node in graph.node)


def _vector(inits: dict[str, onnx.TensorProto], name: str, n_labels: int) -> np.ndarray | None:
    """The initializer ``name`` as a float [L] vector, or None when it is not one."""
    if name not in inits:
        return None
    array = numpy_helper.to_array(inits[name])
    if array.dtype != np.float32 or array.size != n_labels or array.ndim > 2:
        return None
    return array.reshape(n_labels)


def _affine_input(node: onnx.NodeProto, op: str, inits: dict[str, onnx.TensorProto],
                  n_labels: int) -> tuple[str, str, np.ndarray] | None:
    """(data input, initializer name, its values) of a binary ``op`` node with one [L] constant."""
    if node.op_type != op or len(node.input) != 2:
        return None
    for k in (0, 1):
        values = _vector(inits, node.input[k], n_labels)
        if values is not None:
            return node.input[1 - k], node.input[k], values
    return None


def find_calibration(model: onnx.ModelProto, card: ModelCard, source: str) -> CalibrationSite:
    """The calibration site of the classifier ``model``; raises ``TrainerError`` when the graph
    has no Sigmoid of its logits as ``probabilities`` or disagrees with its card."""
    graph, n_labels = model.graph, len(card.labels)
    name = display_name(source)
    sigmoid = _producers(graph).get(PROBABILITIES)
    if sigmoid is None or sigmoid.op_type != "Sigmoid":
        raise TrainerError(f"{name}: its '{PROBABILITIES}' output is not the Sigmoid of logits; {RAW_LOGITS_REMEDY}")
    inits = {init.name: init for init in graph.initializer}
    producers = _producers(graph)
    add = producers.get(sigmoid.input[0])
    found_add = _affine_input(add, "Add", inits, n_labels) if add is not None else None
    mul = producers.get(found_add[0]) if found_add is not None else None
    found_mul = _affine_input(mul, "Mul", inits, n_labels) if mul is not None else None
    if found_add is not None and found_mul is not None:
        logits, scale_init, scale = found_mul
        _, bias_init, bias = found_add
        if _uses(graph, scale_init) != 1 or _uses(graph, bias_init) != 1:
            raise TrainerError(f"{name}: its calibration constants are shared with other steps of the graph; "
                               f"{RAW_LOGITS_REMEDY}")
        if not (scale > 0).all():
            raise TrainerError(f"{name}: its calibration scale is not positive for every label; {RAW_LOGITS_REMEDY}")
        return CalibrationSite(logits, scale.astype(np.float32), bias.astype(np.float32), scale_init, bias_init)
    if card.calibration.get("method") != "none" and card.calibration.get("applied_in_graph", True):
        raise TrainerError(f"{name}: its card says the calibration ({card.calibration.get('method')}) is inside the "
                           f"graph, but no per-label scale and bias were found before the Sigmoid; {RAW_LOGITS_REMEDY}")
    return CalibrationSite(sigmoid.input[0], np.ones(n_labels, np.float32), np.zeros(n_labels, np.float32), None, None)


def with_raw_logits(model: onnx.ModelProto, site: CalibrationSite, output: str) -> onnx.ModelProto:
    """A copy of the classifier that also outputs the raw logits [N, L] as ``output`` (an
    Identity of ``site.logits``, so the name never clashes)."""
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    n_labels = len(site.scale)
    copy.graph.node.append(helper.make_node("Identity", [site.logits], [output]))
    copy.graph.output.append(helper.make_tensor_value_info(output, TensorProto.FLOAT, ["N", n_labels]))
    return copy


def _fresh(graph: onnx.GraphProto, wanted: str) -> str:
    taken = {i.name for i in graph.initializer} | {o for n in graph.node for o in n.output} | {
        i.name for i in graph.input}
    name, k = wanted, 1
    while name in taken:
        name, k = f"{wanted}_{k}", k + 1
    return name


def recalibrated_classifier(model: onnx.ModelProto, site: CalibrationSite, scale: np.ndarray,
                            bias: np.ndarray) -> onnx.ModelProto:
    """A copy of the classifier computing ``sigmoid(scale * logit + bias)``."""
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    graph = copy.graph
    scale32, bias32 = np.asarray(scale, np.float32), np.asarray(bias, np.float32)
    if site.scale_init is not None and site.bias_init is not None:
        for init in graph.initializer:
            if init.name in (site.scale_init, site.bias_init):
                values = scale32 if init.name == site.scale_init else bias32
                shape = tuple(init.dims)
                init.CopyFrom(numpy_helper.from_array(values.reshape(shape), init.name))
        return copy
    # no calibration step yet: insert Mul and Add before the Sigmoid (node order stays topological)
    scale_name, bias_name = _fresh(graph, SCALE_NAME), _fresh(graph, BIAS_NAME)
    scaled, shifted = _fresh(graph, "recalibration_scaled"), _fresh(graph, "recalibrated_logits")
    graph.initializer.extend([numpy_helper.from_array(scale32, scale_name), numpy_helper.from_array(bias32, bias_name)])
    index = next(i for i, node in enumerate(graph.node) if PROBABILITIES in node.output)
    sigmoid = graph.node[index]
    steps = [helper.make_node("Mul", [site.logits, scale_name], [scaled], name="recalibration_scale"),
             helper.make_node("Add", [scaled, bias_name], [shifted], name="recalibration_bias")]
    sigmoid.input[0] = shifted
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes[:index] + steps + nodes[index:])
    return copy


def recalibrated_sidecar(model: onnx.ModelProto, ratio: np.ndarray, source: str) -> onnx.ModelProto:
    """A copy of the Grad-CAM sidecar with each label's kernel row multiplied by ``ratio`` (> 0).

    The sidecar must be the contract's 1x1 convolution of ``features`` (a [L, C, 1, 1] kernel, no
    bias) and a ReLU, which scale with the kernel; anything else raises ``TrainerError``."""
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    graph, n_labels = copy.graph, len(ratio)
    inits = {init.name: init for init in graph.initializer}
    kernels = [node.input[1] for node in graph.node if node.op_type == "Conv" and len(node.input) == 2
               and node.input[1] in inits and tuple(inits[node.input[1]].dims[:1]) == (n_labels,)
               and tuple(inits[node.input[1]].dims[2:]) == (1, 1)]
    if (len(kernels) != 1 or {node.op_type for node in graph.node} != {"Conv", "Relu"}
            or _uses(graph, kernels[0]) != 1):
        raise TrainerError(f"{display_name(source)}: not the Grad-CAM sidecar cxr-train writes (one 1x1 convolution "
                           "of the features and a ReLU), so its maps cannot be rescaled exactly; "
                           f"{RAW_LOGITS_REMEDY}")
    init = inits[kernels[0]]
    kernel = numpy_helper.to_array(init).astype(np.float64)
    rescaled = (kernel * np.asarray(ratio, np.float64)[:, None, None, None]).astype(np.float32)
    init.CopyFrom(numpy_helper.from_array(rescaled, init.name))
    return copy


def recalibrated_model_id(original: str, scale: np.ndarray, bias: np.ndarray) -> str:
    """The new pair's ``model_id``: sha256 of the original id and the new float32 scale and bias
    (the network is the same; what it outputs changed)."""
    digest = hashlib.sha256(original.encode("ascii"))
    digest.update(np.asarray(scale, np.float32).tobytes())
    digest.update(np.asarray(bias, np.float32).tobytes())
    return digest.hexdigest()
