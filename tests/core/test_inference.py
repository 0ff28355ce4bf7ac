"""Predictor and Findings on real (tiny) ONNX model pairs: outputs against a numpy oracle,
caching, batching, laziness, threads, the OOD check and the sensitivity control."""

from __future__ import annotations

import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.core.chest_phantom import chest_phantoms
from tests.factories import NIH_LABELS, make_model_pair
from viewer.core import inference
from viewer.core.errors import ImageLoadError, ModelContractError
from viewer.core.findings import Findings, flags_at
from viewer.core.inference import LOGIT_RANGE, NO_OOD_NOTE, Predictor, adjusted_thresholds, image_key
from viewer.core.model import ModelPair
from viewer.core.model_card import ModelCard
from viewer.core.ood import fit_ood

SIZE = 64  # the factory's input size


def numpy_oracle(model_path: Path, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The factory's network computed independently in numpy from the ONNX weights."""
    onnx = pytest.importorskip("onnx")
    from onnx import numpy_helper

    weights = {t.name: numpy_helper.to_array(t) for t in onnx.load(str(model_path)).graph.initializer}
    pooled = image.reshape(SIZE // 8, 8, SIZE // 8, 8).mean(axis=(1, 3))  # 8x8 average pool
    features = np.maximum(weights["conv_w"][:, 0, 0, 0, None, None] * pooled + weights["conv_b"][:, None, None], 0)
    logits = weights["fc_w"] @ features.mean(axis=(1, 2)) + weights["fc_b"]
    h, w = pooled.shape
    cam = np.maximum(np.einsum("lc,chw->lhw", weights["fc_w"] / (h * w), features), 0)  # Grad-CAM, exact
    return 1 / (1 + np.exp(-logits)), cam


def write_png(path: Path, image: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.clip(image * 255, 0, 255).astype(np.uint8))
    return path


@pytest.fixture
def images(tmp_path: Path) -> list[Path]:
    rng = np.random.default_rng(7)
    return [write_png(tmp_path / "img" / f"{i:03d}.png", rng.random((96, 80))) for i in range(5)]


# -- outputs -----------------------------------------------------------------------------------
def test_findings_match_an_independent_computation(tiny_model):
    predictor = Predictor(tiny_model)
    image = np.random.default_rng(0).random((SIZE, SIZE)).astype(np.float32)
    findings = predictor.predict_prepared(image)
    expected_probabilities, expected_maps = numpy_oracle(tiny_model, image)

    assert findings.labels == NIH_LABELS == predictor.labels
    assert findings.probabilities.dtype == np.float32 and findings.probabilities.shape == (14,)
    assert findings.heatmaps.dtype == np.float32 and findings.heatmaps.shape == (14, 8, 8)
    np.testing.assert_allclose(findings.probabilities, expected_probabilities, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(findings.heatmaps, expected_maps, rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(findings.thresholds, np.full(14, 0.5, np.float32))
    np.testing.assert_array_equal(findings.flags, expected_probabilities >= 0.5)
    assert findings.flagged() == tuple(x for x, p in zip(NIH_LABELS, expected_probabilities) if p >= 0.5)
    assert findings.probability("Hernia") == pytest.approx(float(expected_probabilities[13]), rel=1e-5)
    assert findings.index("Mass") == 4


def test_findings_are_read_only(tiny_model):
    findings = Predictor(tiny_model).predict_prepared(np.zeros((SIZE, SIZE), np.float32))
    for array in (findings.probabilities, findings.flags, findings.heatmaps, findings.thresholds):
        with pytest.raises(ValueError, match="read-only"):
            array[0] = 1
    with pytest.raises(KeyError, match="not one of this model's labels"):
        findings.probability("Fracture")


def test_predict_from_a_file_is_prepare_then_predict_prepared(tiny_model, images):
    predictor = Predictor(tiny_model)
    prepared = predictor.prepare(images[0])
    assert prepared.shape == (SIZE, SIZE) and prepared.dtype == np.float32
    direct = predictor.predict_prepared(prepared)
    via_file = predictor.predict(images[0])
    np.testing.assert_array_equal(via_file.probabilities, direct.probabilities)
    np.testing.assert_array_equal(via_file.heatmaps, direct.heatmaps)


def test_loader_notes_travel_with_the_findings(tiny_model, tmp_path):
    colour = tmp_path / "colour.png"
    cv2.imwrite(str(colour), np.random.default_rng(1).integers(0, 255, (70, 70, 3), dtype=np.uint8))
    findings = Predictor(tiny_model).predict(colour)
    assert any("grey" in note.lower() or "gray" in note.lower() for note in findings.notes), findings.notes


def test_predict_a_real_dicom_from_pydicom(tiny_model):
    from pydicom.data import get_testdata_file

    path = get_testdata_file("CT_small.dcm")  # bundled with pydicom: a local file, no download
    findings = Predictor(tiny_model).predict(path)
    assert findings.probabilities.shape == (14,) and np.isfinite(findings.probabilities).all()


def test_batch_equals_one_by_one_across_chunks(tiny_model):
    predictor = Predictor(tiny_model)
    rng = np.random.default_rng(3)
    prepared = [rng.random((SIZE, SIZE)).astype(np.float32) for _ in range(inference.MAX_BATCH + 3)]
    batch = predictor.predict_batch(prepared)
    assert len(batch) == len(prepared)
    for x, findings in zip(prepared, batch):
        single = predictor.predict_prepared(x)
        np.testing.assert_allclose(findings.probabilities, single.probabilities, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(findings.heatmaps, single.heatmaps, rtol=1e-4, atol=1e-7)
    assert predictor.predict_batch([]) == []


def test_batch_refuses_images_of_the_wrong_size(tiny_model):
    with pytest.raises(ValueError, match=r"prepared image 1 has shape \(32, 32\).*Predictor.prepare"):
        Predictor(tiny_model).predict_batch([np.zeros((SIZE, SIZE)), np.zeros((32, 32))])


def test_batch_uses_several_images_per_call(tiny_model, monkeypatch):
    predictor = Predictor(tiny_model)
    calls = []
    original = ModelPair.classify
    monkeypatch.setattr(ModelPair, "classify", lambda self, x: calls.append(len(x)) or original(self, x))
    predictor.predict_batch([np.zeros((SIZE, SIZE), np.float32)] * (inference.MAX_BATCH + 1))
    assert calls == [inference.MAX_BATCH, 1]


# -- laziness and errors -----------------------------------------------------------------------
def test_model_opens_on_first_use_and_open_is_eager(tiny_model, tmp_path):
    lazy = Predictor(tmp_path / "missing.onnx")
    assert not lazy.is_open  # nothing happened yet: the viewer can start without a model
    with pytest.raises(ModelContractError, match="missing.onnx: model file not found"):
        _ = lazy.labels
    with pytest.raises(ModelContractError, match="not found"):
        Predictor.open(tmp_path / "missing.onnx")
    eager = Predictor.open(tiny_model)
    assert eager.is_open and eager.input_size == (SIZE, SIZE)


def test_unreadable_image_raises_and_is_not_cached(tiny_model, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    predictor = Predictor(tiny_model)
    with pytest.raises(ImageLoadError, match="broken.png"):
        predictor.predict(bad)
    with pytest.raises(ImageLoadError, match="absent.png"):
        predictor.predict(tmp_path / "absent.png")
    assert predictor.cached_keys() == []


# -- the cache ---------------------------------------------------------------------------------
def test_cache_returns_the_same_findings_until_the_file_changes(tiny_model, images, monkeypatch):
    predictor = Predictor(tiny_model)
    first = predictor.predict(images[0])
    runs = []
    original = ModelPair.classify
    monkeypatch.setattr(ModelPair, "classify", lambda self, x: runs.append(1) or original(self, x))
    assert predictor.predict(images[0]) is first
    assert predictor.predict(str(images[0])) is first  # str or Path: the same key
    assert runs == [] and predictor.cache_hits == 2

    stat = images[0].stat()
    os.utime(images[0], ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert predictor.predict(images[0]) is not first
    assert runs == [1]


def test_cache_is_bounded_least_recently_used_first_out(tiny_model, images):
    predictor = Predictor(tiny_model, cache_size=2)
    a, b, c = images[:3]
    predictor.predict(a)
    predictor.predict(b)
    predictor.predict(a)  # a is now the most recent
    predictor.predict(c)  # evicts b
    assert predictor.cached_keys() == [(*image_key(a), 0), (*image_key(c), 0)]
    assert Predictor(tiny_model, cache_size=0).predict(a) is not None
    with pytest.raises(ValueError):
        Predictor(tiny_model, cache_size=-1)


def test_each_frame_of_a_multi_frame_file_is_cached_apart(tiny_model, tmp_path):
    from tests.frames_factory import frames_from, radiograph_from_pydicom, write_native
    from viewer.core.loader import load_radiograph

    path = write_native(tmp_path / "five.dcm", frames_from(radiograph_from_pydicom(), 12), bits_stored=12)
    predictor = Predictor(tiny_model)
    by_frame = [predictor.predict(load_radiograph(path, frame=k)) for k in (0, 3, 0)]
    assert by_frame[2] is by_frame[0] and by_frame[1] is not by_frame[0]
    alone = Predictor(tiny_model, cache_size=0).predict(load_radiograph(path, frame=3))
    assert np.allclose(by_frame[1].probabilities, alone.probabilities)
    assert predictor.predict(path) is by_frame[0]  # a path is its first frame


def test_explicit_cache_key(tiny_model, images):
    predictor = Predictor(tiny_model)
    first = predictor.predict(images[0], key="study-1/image-1")
    assert predictor.predict(images[1], key="study-1/image-1") is first  # the caller's key decides
    assert predictor.cached_keys() == ["study-1/image-1"]


def test_threads_share_one_model_and_get_consistent_results(tiny_model, images, monkeypatch):
    opened = []
    original_open = ModelPair.open.__func__
    monkeypatch.setattr(
        ModelPair, "open", classmethod(lambda cls, *a, **k: opened.append(1) or original_open(cls, *a, **k))
    )
    predictor = Predictor(tiny_model, cache_size=3)  # smaller than the set: evictions under load
    barrier = threading.Barrier(4)

    def work(offset: int) -> list[np.ndarray]:
        barrier.wait()
        return [predictor.predict(images[(offset + i) % len(images)]).probabilities for i in range(15)]

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(work, range(4)))
    assert opened == [1]
    reference = {i: Predictor(tiny_model).predict(p).probabilities for i, p in enumerate(images)}
    for offset, probabilities in enumerate(results):
        for i, p in enumerate(probabilities):
            np.testing.assert_array_equal(p, reference[(offset + i) % len(images)])
    assert len(predictor.cached_keys()) == 3


# -- the OOD check -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ood_model(tmp_path_factory) -> Path:
    ood = fit_ood(chest_phantoms(40, seed=0, size=SIZE))
    return make_model_pair(tmp_path_factory.mktemp("ood"), card_overrides={"ood": ood})


def test_ood_score_and_flag_come_with_the_findings(ood_model):
    predictor = Predictor(ood_model)
    chest = chest_phantoms(1, seed=5, size=SIZE)[0]
    ok = predictor.predict_prepared(chest)
    assert math.isfinite(ok.ood_score) and not ok.ood_flag and ok.notes == ()
    turned = predictor.predict_prepared(np.ascontiguousarray(np.rot90(chest)))
    assert turned.ood_flag and turned.ood_score > ok.ood_score
    assert "does not look like a frontal chest X-ray" in turned.notes[0]
    assert [f.ood_flag for f in predictor.predict_batch([chest, np.ascontiguousarray(chest[::-1])])] == [False, True]


def test_a_card_without_ood_check_says_so(tiny_model):
    findings = Predictor(tiny_model).predict_prepared(np.zeros((SIZE, SIZE), np.float32))
    assert math.isnan(findings.ood_score) and findings.ood_flag is False
    assert findings.notes == (NO_OOD_NOTE,)


def test_unusable_ood_statistics_refuse_the_model(tmp_path):
    unknown = {"method": "future-v7", "statistics": {}, "threshold": 1.0}
    path = make_model_pair(tmp_path, card_overrides={"ood": unknown})
    with pytest.raises(ModelContractError, match="tiny.onnx: .*'future-v7' is not one this viewer knows"):
        Predictor.open(path)


# -- operating points and sensitivity ------------------------------------------------------------
def card_with(thresholds: dict) -> ModelCard:
    from tests.factories import card_dict

    return ModelCard.from_dict(card_dict("0" * 64, labels=("A", "B"), thresholds=thresholds))


def test_flags_at_other_thresholds(tiny_model):
    findings = Predictor(tiny_model).predict_prepared(np.random.default_rng(2).random((SIZE, SIZE)).astype(np.float32))
    lower = findings.probabilities - 1e-3
    np.testing.assert_array_equal(flags_at(findings.probabilities, lower), np.ones(14, bool))
    by_label = {label: 1.0 for label in NIH_LABELS}
    assert not flags_at(findings.probabilities, by_label, findings.labels).any()
    np.testing.assert_array_equal(findings.flags, flags_at(findings.probabilities, findings.thresholds))
    moved = findings.at_thresholds(lower)
    assert moved.flags.all() and moved.heatmaps is findings.heatmaps  # nothing recomputed
    assert not findings.at_thresholds(by_label).flags.any()
    with pytest.raises(ValueError, match="14 thresholds"):
        findings.at_thresholds(np.zeros(3))
    with pytest.raises(KeyError, match="no threshold for"):
        findings.at_thresholds({"Mass": 0.1})


def test_sensitivity_without_curves_shifts_in_logit_space():
    card = card_with({"rule": "test", "values": {"A": 0.5, "B": 0.9}})
    np.testing.assert_array_equal(adjusted_thresholds(card, 0.0), np.array([0.5, 0.9], np.float32))
    up = adjusted_thresholds(card, 1.0)
    expected_a = 1 / (1 + math.exp(LOGIT_RANGE))  # logit(0.5) = 0
    assert up[0] == pytest.approx(expected_a, rel=1e-5)
    assert up[1] == pytest.approx(1 / (1 + math.exp(-(math.log(9) - LOGIT_RANGE))), rel=1e-5)
    settings = np.linspace(-1, 1, 9)
    values = np.array([adjusted_thresholds(card, s) for s in settings])
    assert (np.diff(values, axis=0) < 0).all()  # more sensitive = lower thresholds, strictly
    assert ((values > 0) & (values < 1)).all()
    with pytest.raises(ValueError, match="between -1 and 1"):
        adjusted_thresholds(card, 1.5)


def test_sensitivity_moves_along_the_validation_roc():
    """Oracle: sklearn's roc_curve on synthetic validation scores."""
    roc_curve = pytest.importorskip("sklearn.metrics").roc_curve

    rng = np.random.default_rng(0)
    y = rng.random(400) < 0.2
    scores = np.clip(rng.normal(0.3 + 0.3 * y, 0.15), 0, 1).astype(np.float32)  # as a model outputs
    fpr, tpr, thr = roc_curve(y, scores, drop_intermediate=False)  # every operating point
    roc = {"threshold": thr[1:].tolist(), "tpr": tpr[1:].tolist(), "fpr": fpr[1:].tolist()}  # drop inf
    card = card_with({"rule": "test", "values": {"A": 0.55, "B": 0.5}, "roc": {"A": roc}})

    def rate(t: float) -> float:
        return float((scores[y] >= t).mean())

    tpr0 = rate(0.55)
    for s in (0.5, 1.0, -0.5, -1.0):
        t = float(adjusted_thresholds(card, s)[0])
        target = tpr0 + s * (1 - tpr0) if s > 0 else tpr0 * (1 + s)
        assert rate(t) >= target - 1e-9, s
        higher = thr[1:][thr[1:] > t]  # no higher threshold on the curve reaches the target
        assert all(rate(h) < target - 1e-9 for h in higher), s
    assert adjusted_thresholds(card, 0.0)[0] == pytest.approx(0.55)
    # label B has no curve: it falls back to the logit shift
    assert adjusted_thresholds(card, 1.0)[1] == pytest.approx(1 / (1 + math.exp(LOGIT_RANGE)), rel=1e-5)


def test_findings_is_a_frozen_plain_dataclass():
    findings = Findings(("A",), np.zeros(1, np.float32), np.zeros(1, np.float32), np.ones(1, bool),
                        np.zeros((1, 2, 2), np.float32), 1.0, False)
    with pytest.raises(AttributeError):
        findings.ood_flag = True  # type: ignore[misc]


def test_the_providers_asked_for_are_the_ones_the_sessions_use(tiny_model) -> None:
    predictor = Predictor.open(tiny_model, 1, providers=["CPUExecutionProvider"])
    assert predictor.model.providers == ["CPUExecutionProvider"]
    assert Predictor.open(tiny_model, 1).model.providers[-1] == "CPUExecutionProvider"  # always the fallback
