"""Models whose outputs are not finite (NaN, infinity) or not probabilities, on some images or all.

A real model pair from ``make_model_pair`` is poisoned with a few ONNX nodes: an output gains
``0 * Log(t - m)``, where m is the mean of the output's input (the image for the classifier, the
features for the Grad-CAM sidecar). That is 0 while m < t and NaN once m > t, so choosing t
between two images' means breaks one image and not the other; a t below every mean breaks every
image, the blank one ``ModelPair.open`` tries included. The core must refuse such outputs with
one line naming the model file and what was wrong; ``cxr-viewer batch`` then writes an error row
for the image (never an ``ok`` row of "nan"), and the window lists it in the errors panel.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper, numpy_helper

from tests.factories import NIH_LABELS, make_model_pair
from tests.reliability.corpus import chest_pixels, encode, write
from tests.reliability.test_broken_models import run_cli
from tests.ui.conftest import WAIT_MS
from viewer.core.errors import CxrError
from viewer.core.inference import Predictor
from viewer.core.model import sidecar_path_for

pytestmark = pytest.mark.timeout(300)
BROKEN_LABEL = "Effusion"


def poison(path: Path, output: str, mean_of: str, threshold: float, label: str | None = BROKEN_LABEL) -> None:
    """Make ``output`` of the model at ``path`` NaN (for ``label``, or every label) whenever the
    mean of ``mean_of`` exceeds ``threshold``."""
    model = onnx.load(str(path))
    graph = model.graph
    for node in graph.node:  # the old output becomes an inner tensor
        node.output[:] = [f"{output}_clean" if name == output else name for name in node.output]
    rank = len(next(o for o in graph.output if o.name == output).type.tensor_type.shape.dim)
    mask = np.array([label is None or x == label for x in NIH_LABELS]).reshape(1, -1, *[1] * (rank - 2))
    graph.initializer.extend([
        numpy_helper.from_array(np.array(threshold, np.float32), "poison_t"),
        numpy_helper.from_array(np.array(0.0, np.float32), "poison_zero"),
        numpy_helper.from_array(mask, "poison_mask"),
        numpy_helper.from_array(np.array([-1] + [1] * (rank - 1), np.int64), "poison_shape"),
    ])
    graph.node.extend([
        helper.make_node("ReduceMean", [mean_of], ["poison_m4"], axes=[1, 2, 3], keepdims=1),  # each image's
        helper.make_node("Reshape", ["poison_m4", "poison_shape"], ["poison_m"]),  # [N, 1] or [N, 1, 1, 1]
        helper.make_node("Sub", ["poison_t", "poison_m"], ["poison_d"]),
        helper.make_node("Log", ["poison_d"], ["poison_log"]),
        helper.make_node("Mul", ["poison_log", "poison_zero"], ["poison_nan"]),  # 0, or NaN
        helper.make_node("Where", ["poison_mask", "poison_nan", "poison_zero"], ["poison_add"]),
        helper.make_node("Add", [f"{output}_clean", "poison_add"], [output]),
    ])
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def scale_probabilities(path: Path, factor: float) -> None:
    """Multiply the classifier's probabilities by ``factor`` (above 1: values past 1)."""
    model = onnx.load(str(path))
    for node in model.graph.node:
        node.output[:] = ["raw_probabilities" if name == "probabilities" else name for name in node.output]
    model.graph.initializer.append(numpy_helper.from_array(np.array(factor, np.float32), "factor"))
    model.graph.node.append(helper.make_node("Mul", ["raw_probabilities", "factor"], ["probabilities"]))
    onnx.save(model, str(path))


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two images whose model inputs (and features) have different means."""
    folder = tmp_path_factory.mktemp("images") / "study"
    write(folder, "bright.png", encode(".png", (chest_pixels(120, 100, seed=4) >> 4).astype(np.uint8)))
    dark = np.zeros((120, 100), np.uint8)
    dark[40:60, 30:50] = 255  # a small bright square on black: a low mean after preprocessing
    write(folder, "dark.png", encode(".png", dark))
    return folder


def _means(model: Path, images: Path) -> dict[str, tuple[float, float]]:
    """image name -> (mean of the model's input, mean of its features); "blank" is the all-zero
    image of ``ModelPair.open``'s test run."""
    predictor = Predictor.open(model, cache_size=0)
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    inputs = {name: predictor.prepare(images / name) for name in ("bright.png", "dark.png")}
    inputs["blank"] = np.zeros(predictor.input_size, np.float32)
    out = {}
    for name, prepared in inputs.items():
        batch = prepared[None, None].astype(np.float32)
        (features,) = session.run(["features"], {"image": batch})
        out[name] = (float(batch.mean()), float(features.mean()))
    return out


def broken_on_bright(folder: Path, images: Path, part: str) -> Path:
    """A model pair whose ``part`` ("probabilities" or "heatmaps") is NaN for Effusion on
    bright.png and fine on dark.png (and on the blank image of the open check)."""
    model = make_model_pair(folder)
    means = _means(model, images)
    which = 0 if part == "probabilities" else 1
    low, high = means["dark.png"][which], means["bright.png"][which]
    threshold = (low + high) / 2
    assert means["blank"][which] < threshold < high, means  # the open check's blank image stays fine
    if part == "probabilities":
        poison(model, "probabilities", "image", threshold)
    else:
        poison(sidecar_path_for(model), "heatmaps", "features", threshold)
    return model


@pytest.mark.parametrize("part", ["probabilities", "heatmaps"])
def test_the_core_refuses_non_finite_outputs_naming_the_model_and_the_label(part: str, tmp_path: Path,
                                                                           images: Path) -> None:
    model = broken_on_bright(tmp_path, images, part)
    predictor = Predictor.open(model)
    fine = predictor.predict(images / "dark.png")
    assert np.isfinite(fine.probabilities).all() and np.isfinite(fine.heatmaps).all()
    with pytest.raises(CxrError) as caught:
        predictor.predict(images / "bright.png")
    message = str(caught.value)
    assert "\n" not in message and "tiny.onnx" in message.replace("tiny.gradcam.onnx", "tiny.onnx")
    assert f"non-finite {part} (NaN) for {BROKEN_LABEL}" in message, message


def test_probabilities_above_one_make_the_model_unusable(tmp_path: Path) -> None:
    model = make_model_pair(tmp_path)
    scale_probabilities(model, 3.0)
    with pytest.raises(CxrError, match="tiny.onnx.*probabilities outside 0..1"):
        Predictor.open(model)


@pytest.mark.parametrize("part", ["probabilities", "heatmaps"])
def test_batch_writes_an_error_row_for_the_image_the_model_fails_on(part: str, tmp_path: Path,
                                                                   images: Path) -> None:
    model = broken_on_bright(tmp_path / "model", images, part)
    out = tmp_path / "results.csv"
    result = run_cli("batch", images, "--model", model, "--out", out, cwd=tmp_path)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert "1 ok, 1 errors" in result.stderr
    with out.open(newline="", encoding="utf-8") as handle:
        rows = {row["Image Index"]: row for row in csv.DictReader(handle)}
    bright, dark = rows["bright.png"], rows["dark.png"]
    assert bright["status"] == "error" and dark["status"] == "ok"
    assert all(bright[f"prob_{label}"] == "" for label in NIH_LABELS)
    assert all(0.0 <= float(dark[f"prob_{label}"]) <= 1.0 for label in NIH_LABELS)
    assert f"non-finite {part} (NaN) for {BROKEN_LABEL}" in bright["error"], bright["error"]


def test_batch_stops_with_one_line_when_the_model_fails_on_every_image(tmp_path: Path, images: Path) -> None:
    model = make_model_pair(tmp_path / "model")
    poison(model, "probabilities", "image", -1.0, label=None)  # NaN for every label of every image
    out = tmp_path / "results.csv"
    result = run_cli("batch", images, "--model", model, "--out", out, cwd=tmp_path)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode != 0 and len(lines) == 1, result.stderr
    assert lines[0].startswith("cxr-viewer: error: batch: unusable model: ")
    assert "tiny.onnx" in lines[0] and "non-finite probabilities (NaN)" in lines[0], lines[0]
    assert not out.exists() and not out.with_name(out.name + ".partial").exists()


def test_the_window_lists_the_image_the_model_fails_on(qtbot, make_window, tmp_path: Path, images: Path) -> None:
    model = broken_on_bright(tmp_path / "model", images, "probabilities")
    window = make_window(model)
    qtbot.waitUntil(lambda: window.models.decided, timeout=WAIT_MS)
    assert window.models.predictor is not None
    window.image.open(images / "bright.png")
    qtbot.waitUntil(lambda: window.errors.count() > 0, timeout=WAIT_MS)
    ((file, reason),) = [entry for entry in window.errors.entries() if "bright.png" in entry[0]]
    assert "tiny.onnx" in reason and f"non-finite probabilities (NaN) for {BROKEN_LABEL}" in reason, reason
    assert window.image.analysed is None
