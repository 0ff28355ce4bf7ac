"""An int8 classifier for the CPU: static QDQ quantisation of an exported pair, same answers.

    cxr-train quantize MODEL.onnx --data DIR --out DIR [--split SPLIT.csv] [--images 64]

(``python -m trainer.quantize``, its earlier name, takes the same arguments.)

``MODEL.onnx`` and ``MODEL.gradcam.onnx`` are an exported pair. The classifier is quantised with
ONNX Runtime's static QDQ quantiser (int8 weights per output channel, uint8 activations) after
its pre-processing pass (shape inference, Conv+BatchNorm folding), calibrated on images of
``--data`` read through THE preprocessing function (``viewer.core.preprocess``) at the card's
input size: the activation ranges come from the pixels the model will really see. With
``--split`` (a run's ``split.csv``) only that split's training images are used, so nothing of
the validation or test images enters the model.

Speed: in DenseNet each layer starts with BatchNorm + ReLU on the concatenation of all earlier
outputs. A BatchNorm after a Concat cannot be folded into a convolution, and ONNX Runtime has
no int8 BatchNorm, so it would run in float between a DequantizeLinear and a QuantizeLinear: on
the largest tensors of the network, which kept the int8 model at ~1.4x the fp32 speed. Each such
BatchNorm is therefore rewritten first as the identical 1x1 depthwise convolution
(``w = gamma / sqrt(var + eps)``, ``b = beta - mean w``), which quantises to an int8
``QLinearConv`` with the ReLU absorbed: ~2.3x on the DenseNet121 pair.

What stays float, and why:
* the graph's input steps (grey -> 3 channels, normalisation) and outputs (``probabilities`` and
  ``features`` are float32 as the contract says, after a DequantizeLinear);
* the head (global average pooling, the one linear layer, the calibration, the sigmoid): tiny,
  and where rounding would move probabilities most;
* the Grad-CAM sidecar, copied unchanged: it is one 1x1 convolution (nothing to gain) and it
  takes the int8 classifier's float ``features`` like the fp32 one's.

The card travels along: the same ``model_id`` (the sidecar is paired by it, and the weights are
the same model's, rounded), the name with ``-int8``, and ``training.quantization`` saying how
it was made and on what. The result is written as ``OUT/NAME.onnx`` + ``OUT/NAME.gradcam.onnx``
(``NAME`` = the model's file stem + ``-int8`` unless ``--name``), opened once with the viewer's
``ModelPair.open`` (the contract check), and compared with the fp32 pair on the calibration
images (largest probability difference, reported).

``quantize_pair_on`` does the same calibrated on an explicit list of image files: the exporter's
int8 variant (``variant.py``) passes a run's training images.
"""

from __future__ import annotations

import csv
import os
import random
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import onnx

from viewer.core.model import SIDECAR_SUFFIX, ModelPair, sidecar_path_for
from viewer.core.model_card import ModelCard
from viewer.core.onnx_card import set_card
from viewer.core.preprocess import preprocess

from ...data.nih import find_image_files
from ...errors import TrainerError
from . import DEFAULT_IMAGES


@dataclass
class QuantizeResult:
    """Where the int8 pair went and how close it is to the fp32 pair on the calibration images."""

    classifier_path: Path
    sidecar_path: Path
    card: ModelCard
    calibration_images: int
    max_probability_difference: float
    size_bytes: tuple[int, int]  # (fp32 classifier, int8 classifier)


def calibration_paths(data: Path, count: int, split_csv: Path | None = None, seed: int = 0) -> list[Path]:
    """Up to ``count`` image files under ``data`` (only the split's training images with ``split_csv``),
    a seeded random choice so the calibration is not the first patients only."""
    files = find_image_files(data)
    if split_csv is not None:
        train = _train_names(split_csv)
        files = [path for path in files if path.name in train]
    if not files:
        where = f" that {split_csv} puts in its train split" if split_csv is not None else ""
        raise TrainerError(f"{data}: no images{where} to calibrate the quantisation on (pass --data FOLDER)")
    return choose_calibration(files, count, seed)


def choose_calibration(files: Sequence[Path], count: int, seed: int = 0) -> list[Path]:
    """Up to ``count`` of ``files``: a seeded random choice, independent of the order given."""
    chosen = sorted(Path(path) for path in files)
    random.Random(seed).shuffle(chosen)
    return chosen[:count]


def _train_names(split_csv: Path) -> set[str]:
    try:
        with open(split_csv, newline="", encoding="utf-8") as handle:
            return {row["Image Index"] for row in csv.DictReader(handle) if row.get("split") == "train"}
    except (OSError, KeyError) as exc:
        raise TrainerError(f"{split_csv}: not a readable split.csv ({exc})") from None


class _Images:
    """ONNX Runtime's ``CalibrationDataReader``: one prepared image [1, 1, H, W] per call."""

    def __init__(self, images: Sequence[np.ndarray]) -> None:
        self._iter: Iterator[np.ndarray] = iter(images)

    def get_next(self) -> dict[str, np.ndarray] | None:
        image = next(self._iter, None)
        return None if image is None else {"image": image[None, None].astype(np.float32)}


def _head_nodes(model: onnx.ModelProto) -> list[str]:
    """Names of the nodes after the ``features`` output (the pooling-linear-sigmoid head)."""
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    head, frontier = [], ["features"]
    while frontier:
        for node in consumers.get(frontier.pop(), []):
            if node.name not in head:
                head.append(node.name)
                frontier.extend(node.output)
    return head


def batchnorm_as_depthwise(model: onnx.ModelProto) -> int:
    """Rewrite every BatchNormalization of ``model`` as the same 1x1 depthwise Conv (in place).

    Inference-mode BatchNorm is ``y = gamma (x - mean) / sqrt(var + eps) + beta`` per channel,
    exactly a grouped 1x1 convolution with one weight and one bias per channel. Returns how
    many were rewritten.
    """
    from onnx import helper, numpy_helper

    initializers = {item.name: item for item in model.graph.initializer}
    nodes, rewritten, unused = [], 0, set()
    for node in model.graph.node:
        params = node.input[1:5]
        if node.op_type != "BatchNormalization" or len(node.output) != 1 or not all(p in initializers for p in params):
            nodes.append(node)
            continue
        gamma, beta, mean, var = (numpy_helper.to_array(initializers[p]).astype(np.float64) for p in params)
        eps = next((a.f for a in node.attribute if a.name == "epsilon"), 1e-5)
        weight = gamma / np.sqrt(var + eps)
        bias = beta - mean * weight
        channels = weight.shape[0]
        w_name, b_name = f"{node.name}_depthwise_w", f"{node.name}_depthwise_b"
        model.graph.initializer.extend([
            numpy_helper.from_array(weight.astype(np.float32).reshape(channels, 1, 1, 1), w_name),
            numpy_helper.from_array(bias.astype(np.float32), b_name),
        ])
        nodes.append(helper.make_node("Conv", [node.input[0], w_name, b_name], list(node.output),
                                      name=f"{node.name}_depthwise", group=channels, kernel_shape=[1, 1]))
        unused.update(params)
        rewritten += 1
    still_used = {name for node in nodes for name in node.input}
    kept = [item for item in model.graph.initializer if item.name not in unused or item.name in still_used]
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)
    return rewritten


def quantize_pair(
    model: str | os.PathLike[str],
    data: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    name: str | None = None,
    split_csv: str | os.PathLike[str] | None = None,
    images: int = DEFAULT_IMAGES,
    seed: int = 0,
) -> QuantizeResult:
    """Write the int8 pair of ``model`` into ``out`` (see the module doc). Raises ``CxrError``."""
    fp32 = ModelPair.open(Path(model))  # the contract check of the input (ModelContractError if broken)
    paths = calibration_paths(Path(data), images, Path(split_csv) if split_csv else None, seed)
    source = "training split" if split_csv is not None else "the --data folder"
    return _quantize(fp32, paths, Path(out), name, source)


def quantize_pair_on(
    model: str | os.PathLike[str],
    calibration: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    name: str | None = None,
    calibration_source: str = "the given images",
) -> QuantizeResult:
    """``quantize_pair`` calibrated on exactly the image files ``calibration`` (all of them, in
    that order); ``calibration_source`` says in the card's note what they are. Raises ``CxrError``."""
    fp32 = ModelPair.open(Path(model))
    if not calibration:
        raise TrainerError(f"{model}: no images to calibrate the quantisation on")
    return _quantize(fp32, [Path(path) for path in calibration], Path(out), name, calibration_source)


def _quantize(fp32: ModelPair, paths: Sequence[Path], out_dir: Path, name: str | None,
              calibration_source: str) -> QuantizeResult:
    import onnxruntime
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    # the quantiser's own sessions report every initializer they prune: errors only, as the viewer's
    onnxruntime.set_default_logger_severity(3)

    source = fp32.classifier_path
    sidecar = sidecar_path_for(source)
    card = fp32.card
    height, width = card.input.height, card.input.width
    prepared = [preprocess(path, height, width) for path in paths]

    out_dir.mkdir(parents=True, exist_ok=True)
    name = name or f"{source.name.removesuffix('.onnx')}-int8"
    classifier_path, sidecar_out = out_dir / f"{name}.onnx", out_dir / f"{name}{SIDECAR_SUFFIX}"
    if classifier_path.resolve() == source.resolve():
        raise TrainerError(f"{classifier_path}: would overwrite the model being quantised; choose --out or --name")
    with tempfile.TemporaryDirectory(prefix="cxr-quantize-") as scratch:
        folded = Path(scratch) / "folded.onnx"
        # shape inference + graph optimisation (Conv+BatchNorm folding) first, as ORT advises
        quant_pre_process(str(source), str(folded), skip_symbolic_shape=True)
        graph = onnx.load(str(folded))
        for i, node in enumerate(graph.graph.node):  # nodes are chosen by name: every node needs one
            node.name = node.name or f"{node.op_type}_{i}"
        batchnorm_as_depthwise(graph)
        onnx.save(graph, str(folded))
        quantize_static(
            str(folded), str(classifier_path), _Images(prepared),
            quant_format=QuantFormat.QDQ, per_channel=True, reduce_range=False,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
            nodes_to_exclude=_head_nodes(graph),
            calibrate_method=CalibrationMethod.MinMax,
            extra_options={"WeightSymmetric": True, "ActivationSymmetric": False},
        )
    quantized_card = _card_with_note(card, len(paths), calibration_source, name)
    proto = onnx.load(str(classifier_path))
    set_card(proto, quantized_card)
    onnx.save(proto, str(classifier_path))
    sidecar_proto = onnx.load(str(sidecar))
    set_card(sidecar_proto, quantized_card)
    onnx.save(sidecar_proto, str(sidecar_out))

    int8 = ModelPair.open(classifier_path)  # the viewer accepts the pair, or this raises
    batch = np.stack(prepared)[:, None]
    difference = float(np.abs(int8.classify(batch)[0] - fp32.classify(batch)[0]).max())
    return QuantizeResult(classifier_path, sidecar_out, int8.card, len(paths), difference,
                          (source.stat().st_size, classifier_path.stat().st_size))


def _card_with_note(card: ModelCard, n_images: int, calibration_source: str, name: str) -> ModelCard:
    data = card.to_dict()
    data["name"] = name
    training = dict(data.get("training") or {})
    training["quantization"] = {
        "method": "ONNX Runtime static QDQ: int8 weights per output channel (symmetric), uint8 "
                  "activations (MinMax calibration); BatchNorm after Concat as 1x1 depthwise Conv; "
                  "head and sidecar left in float32",
        "calibration_images": n_images,
        "calibration_source": calibration_source,
        "preprocessing": "viewer.core.preprocess at the card's input size",
        "from_model_id": card.model_id,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    data["training"] = training
    return ModelCard.from_dict(data, source="the quantised model card")
