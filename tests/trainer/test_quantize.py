"""trainer.export.int8.quantize and its commands: an int8 pair the viewer accepts, with the card, close to
the fp32 answers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from tests.factories import make_model_pair
from trainer.cli import main as cxr_train
from trainer.export.int8.quantize import batchnorm_as_depthwise, calibration_paths, quantize_pair
from trainer.quantize import main
from viewer.core.model import ModelPair
from viewer.core.onnx_card import read_card
from viewer.core.preprocess import preprocess

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def images(tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(12):
        base = cv2.GaussianBlur(rng.integers(0, 256, (96, 96)).astype(np.uint8), (0, 0), 4 + i % 3)
        cv2.imwrite(str(folder / f"{i:08d}_000.png"), base)
    return folder


def test_quantized_pair_opens_keeps_the_card_and_answers_alike(tmp_path: Path, images: Path) -> None:
    model = make_model_pair(tmp_path / "fp32", size=64)
    result = quantize_pair(model, images, tmp_path / "out", images=8)

    assert result.classifier_path == tmp_path / "out" / "tiny-int8.onnx"
    assert result.sidecar_path == tmp_path / "out" / "tiny-int8.gradcam.onnx"
    pair = ModelPair.open(result.classifier_path)  # the viewer's contract check
    original = read_card(model)
    assert pair.card.model_id == original.model_id and pair.card.labels == original.labels
    note = pair.card.training["quantization"]
    assert note["from_model_id"] == original.model_id and note["calibration_images"] == 8
    ops = {node.op_type for node in onnx.load(str(result.classifier_path)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    sidecar = onnx.load(str(result.sidecar_path))  # copied unchanged, in float32
    assert all(init.data_type == TensorProto.FLOAT for init in sidecar.graph.initializer)

    batch = np.stack([preprocess(p, 64, 64) for p in sorted(images.iterdir())])[:, None]
    fp32 = ModelPair.open(model)
    assert np.abs(pair.classify(batch)[0] - fp32.classify(batch)[0]).max() < 0.05
    heatmaps = pair.gradcam(pair.classify(batch)[1])
    assert heatmaps.shape == fp32.gradcam(fp32.classify(batch)[1]).shape and np.isfinite(heatmaps).all()


def test_batchnorm_as_depthwise_conv_computes_the_same(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    channels = 6
    params = [rng.uniform(0.5, 2, channels), rng.normal(0, 1, channels), rng.normal(0, 1, channels),
              rng.uniform(0.1, 3, channels)]
    names = ["gamma", "beta", "mean", "var"]
    graph = helper.make_graph(
        [helper.make_node("Concat", ["a", "b"], ["cat"], axis=1),
         helper.make_node("BatchNormalization", ["cat", *names], ["bn"], name="norm", epsilon=1e-5),
         helper.make_node("Relu", ["bn"], ["out"])],
        "g",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 3, 5, 5]) for n in ("a", "b")],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, channels, 5, 5])],
        [numpy_helper.from_array(p.astype(np.float32), n) for p, n in zip(params, names)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    feeds = {n: rng.normal(0, 1, (1, 3, 5, 5)).astype(np.float32) for n in ("a", "b")}
    before = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    assert batchnorm_as_depthwise(model) == 1
    onnx.checker.check_model(model)
    assert [n.op_type for n in model.graph.node] == ["Concat", "Conv", "Relu"]
    assert not {i.name for i in model.graph.initializer} & set(names)  # the BatchNorm's are gone
    after = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    np.testing.assert_allclose(after, before, rtol=1e-5, atol=1e-5)


def test_calibration_takes_only_training_images_of_a_split(tmp_path: Path, images: Path) -> None:
    split = tmp_path / "split.csv"
    names = sorted(p.name for p in images.iterdir())
    split.write_text("Image Index,Patient ID,split\n" + "".join(
        f"{name},{i},{'train' if i < 4 else 'test'}\n" for i, name in enumerate(names)))
    chosen = calibration_paths(images, 10, split)
    assert sorted(p.name for p in chosen) == names[:4]


def test_command_line(tmp_path: Path, images: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = make_model_pair(tmp_path / "fp32", size=64)
    assert main([str(model), "--data", str(images), "--out", str(tmp_path / "q"), "--images", "4"]) == 0
    assert "tiny-int8.onnx" in capsys.readouterr().out
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main([str(model), "--data", str(empty), "--out", str(tmp_path / "q2")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error:") and len(err.strip().splitlines()) == 1


def test_cxr_train_quantize_is_the_same_command(tmp_path: Path, images: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    model = make_model_pair(tmp_path / "fp32", size=64)
    argv = ["quantize", str(model), "--data", str(images), "--out", str(tmp_path / "q"), "--images", "4"]
    assert cxr_train(argv) == 0
    assert "tiny-int8.onnx" in capsys.readouterr().out
    assert ModelPair.open(tmp_path / "q" / "tiny-int8.onnx").card.name == "tiny-int8"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cxr_train(["quantize", str(model), "--data", str(empty), "--out", str(tmp_path / "q2")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("cxr-train: error:") and "to calibrate the quantisation on" in err
    assert len(err.strip().splitlines()) == 1


def test_python_m_trainer_quantize_still_runs() -> None:
    done = subprocess.run([sys.executable, "-m", "trainer.quantize", "--help"],
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: python -m trainer.quantize") and "--split" in done.stdout
