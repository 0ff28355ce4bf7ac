"""TensorBoard logs: read back with TensorBoard's own reader; Grad-CAM against pytorch-grad-cam."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from trainer.errors import TrainerError
from trainer.models.network import CxrNet, build_model
from trainer.training.tensorboard_log import (
    TensorBoardLog,
    caption_height,
    overlay,
    top_finding_gradcam,
    with_caption,
)
from viewer.core.nih import NIH_LABELS

SIZE = 64


def _images(count: int = 3, seed: int = 0) -> np.ndarray:
    """Prepared grey images [N, 1, 64, 64] in [0, 1]: noise with a bright block in a different place each."""
    rng = np.random.default_rng(seed)
    images = rng.normal(0.4, 0.08, (count, 1, SIZE, SIZE))
    for i in range(count):
        y, x = divmod(5 * i + 1, 4)
        images[i, 0, y * 16:(y + 1) * 16, x * 16:(x + 1) * 16] += 0.4
    return np.clip(images, 0, 1).astype(np.float32)


def _model(channels_last: bool = False) -> CxrNet:
    """The tiny model in train mode with BatchNorm statistics of its own (so eval differs from train)."""
    torch.manual_seed(0)
    model = build_model("tiny", NIH_LABELS)
    with torch.no_grad():
        model.classifier.weight.normal_(0.0, 0.5)
        for _ in range(3):
            model(torch.from_numpy(_images(8, seed=1)))
    model.set_channels_last(channels_last)
    return model.train()


def _accumulator(folder: Path):  # type: ignore[no-untyped-def]
    event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    accumulator = event_accumulator.EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0})
    accumulator.Reload()
    return accumulator


def test_scalars_and_images_read_back(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    model, images = _model(), _images()
    aurocs = [{label: 0.5 + 0.01 * j for j, label in enumerate(NIH_LABELS)},
              {**{label: 0.6 for label in NIH_LABELS}, "Hernia": None}]
    passed = [dict(train_loss=0.7, val_loss=0.65, mean_auroc=0.565, lr=1e-3, images_per_second=120.5),
              dict(train_loss=0.5, val_loss=float("nan"), mean_auroc=0.6, lr=1e-4, images_per_second=130.0)]
    drawn = []
    with TensorBoardLog(tmp_path / "tb", NIH_LABELS, images) as log:
        for epoch in (1, 2):
            log.epoch(epoch, val_auroc=aurocs[epoch - 1], model=model, **passed[epoch - 1])
            cam = top_finding_gradcam(model, images)
            drawn.append([with_caption(overlay(images[i, 0], cam.maps[i]),
                                       f"{NIH_LABELS[cam.labels[i]]} p={cam.probabilities[i]:.2f}")
                          for i in range(len(images))])
            with torch.no_grad():  # a training step between the epochs, so the maps change
                model.classifier.weight.add_(torch.randn_like(model.classifier.weight))

    accumulator = _accumulator(tmp_path / "tb")
    scalars = {tag: {e.step: e.value for e in accumulator.Scalars(tag)} for tag in accumulator.Tags()["scalars"]}
    expected_tags = {"loss/train", "loss/val", "auroc/mean", "lr", "speed", *(f"auroc/{x}" for x in NIH_LABELS)}
    assert set(scalars) == expected_tags
    names = {"loss/train": "train_loss", "loss/val": "val_loss", "auroc/mean": "mean_auroc", "lr": "lr",
             "speed": "images_per_second"}
    for tag, name in names.items():
        expected = {e + 1: v[name] for e, v in enumerate(passed) if not np.isnan(v[name])}
        assert scalars[tag] == pytest.approx(expected, rel=1e-6), tag
    assert set(scalars["loss/val"]) == {1}  # NaN (no validation figure) is left out
    for label in NIH_LABELS:
        expected = {e + 1: v[label] for e, v in enumerate(aurocs) if v[label] is not None}
        assert scalars[f"auroc/{label}"] == pytest.approx(expected, rel=1e-6), label
    assert set(scalars["auroc/Hernia"]) == {1}

    height = SIZE + caption_height(SIZE)
    assert sorted(accumulator.Tags()["images"]) == [f"gradcam/{i}" for i in range(len(images))]
    for i in range(len(images)):
        events = accumulator.Images(f"gradcam/{i}")
        assert [e.step for e in events] == [1, 2]
        for event, pictures in zip(events, drawn):
            assert (event.height, event.width) == (height, SIZE)
            png = cv2.imdecode(np.frombuffer(event.encoded_image_string, np.uint8), cv2.IMREAD_COLOR)
            assert np.array_equal(png[..., ::-1], pictures[i])  # lossless: exactly what was drawn
    assert any(cv2.imdecode(np.frombuffer(a.encoded_image_string, np.uint8), cv2.IMREAD_COLOR).tobytes()
               != cv2.imdecode(np.frombuffer(b.encoded_image_string, np.uint8), cv2.IMREAD_COLOR).tobytes()
               for a, b in (accumulator.Images(f"gradcam/{i}") for i in range(len(images))))


@pytest.mark.parametrize("channels_last", [False, True])
def test_gradcam_matches_pytorch_grad_cam(channels_last: bool) -> None:
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    model, images = _model(channels_last), _images(4)
    cam = top_finding_gradcam(model, images)
    assert cam.maps.shape == (len(images), SIZE, SIZE) and cam.maps.dtype == np.uint8

    reference = copy.deepcopy(model).eval()
    with torch.no_grad():
        probabilities = torch.sigmoid(reference(torch.from_numpy(images))).numpy()
    assert np.array_equal(cam.labels, probabilities.argmax(axis=1))  # eval mode: BatchNorm's statistics
    np.testing.assert_allclose(cam.probabilities, probabilities.max(axis=1), rtol=1e-5)

    gradcam = GradCAM(model=reference, target_layers=[reference.act])
    try:
        theirs = gradcam(input_tensor=torch.from_numpy(images),
                         targets=[ClassifierOutputTarget(int(c)) for c in cam.labels])
    finally:
        gradcam.activations_and_grads.release()
    ours = cam.maps / 255.0
    assert sum(np.ptp(m) > 0 for m in ours) >= 2, "the test needs maps that are not flat"
    for a, b in zip(ours, theirs):
        assert np.abs(a - b).max() <= 0.01  # uint8 steps of 1/255 and float rounding
        if np.ptp(a) > 0:
            assert np.corrcoef(a.ravel(), b.ravel())[0, 1] >= 0.999


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("channels_last", [False, True])
def test_logging_leaves_the_model_as_it_was(tmp_path: Path, training: bool, channels_last: bool) -> None:
    pytest.importorskip("tensorboard")
    model = _model(channels_last).train(training)
    before = {key: value.clone() for key, value in model.state_dict().items()}
    with TensorBoardLog(tmp_path, NIH_LABELS, _images()) as log:
        log.epoch(1, train_loss=0.5, val_loss=0.5, val_auroc={}, mean_auroc=None, lr=1e-3,
                  images_per_second=10.0, model=model)
    assert model.training is training
    assert all(module.training is training for module in model.modules())
    after = model.state_dict()
    assert all(torch.equal(before[key], after[key]) for key in before)  # weights and BatchNorm statistics
    assert all(p.grad is None for p in model.parameters())
    conv = model.features.conv0.weight
    assert conv.is_contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)


def test_unknown_label_and_bad_images_are_refused(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    with pytest.raises(ValueError, match=r"\[N, 1, H, W\]"):
        TensorBoardLog(tmp_path, NIH_LABELS, _images()[:, 0])
    with TensorBoardLog(tmp_path, NIH_LABELS) as log, pytest.raises(ValueError, match="Cardiomegally"):
        log.epoch(1, train_loss=0.5, val_loss=0.5, val_auroc={"Cardiomegally": 0.7}, mean_auroc=0.7,
                  lr=1e-3, images_per_second=10.0)


@pytest.mark.parametrize("missing", ["torch.utils.tensorboard", "tensorboard"])
def test_missing_tensorboard_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  missing: str) -> None:
    # None in sys.modules makes the import fail; without the tensorboard package torch's own
    # torch.utils.tensorboard raises ImportError when it is first imported
    if missing == "tensorboard":
        monkeypatch.delitem(sys.modules, "torch.utils.tensorboard", raising=False)
    monkeypatch.setitem(sys.modules, missing, None)
    with pytest.raises(TrainerError, match=r"pip install .*tensorboard"):
        TensorBoardLog(tmp_path / "tb", NIH_LABELS)
    assert not (tmp_path / "tb").exists()
