"""trainer.evaluation.tta: the views (torchvision's TenCrop as the oracle) and the predicted effect of
averaging on a mirror-symmetric model pair and on an asymmetric classifier."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from torchvision.transforms import TenCrop

from tests.factories import make_model_pair
from trainer.evaluation.tta import paired_auroc_change, prepare_size, tta_probabilities, views
from viewer.core.inference import Predictor
from viewer.core.preprocess import to_model_batch


def test_ten_crop_views_are_torchvisions() -> None:
    image = np.random.default_rng(0).random((73, 73)).astype(np.float32)  # 64 px input: 73 = round(64 * 256/224)
    assert prepare_size("tencrop", (64, 64)) == (73, 73) and prepare_size("tencrop", (224, 224)) == (256, 256)
    ours = views(image, "tencrop", (64, 64))
    theirs = torch.stack(TenCrop(64)(torch.from_numpy(image)[None]))[:, 0].numpy()
    np.testing.assert_array_equal(ours, theirs)


def test_flip_views_are_the_image_and_its_mirror() -> None:
    image = np.arange(12, dtype=np.float32).reshape(3, 4)
    out = views(image, "flip", (3, 4))
    np.testing.assert_array_equal(out[1], image[:, ::-1])
    np.testing.assert_array_equal(views(image, "none", (3, 4)), image[None])
    with pytest.raises(ValueError, match="must be"):
        views(image, "tencrop", (3, 4))
    with pytest.raises(ValueError, match="unknown test-time augmentation"):
        views(image, "rotate", (3, 4))


def left_half_mean(batch: np.ndarray) -> np.ndarray:
    """An asymmetric 'classifier': one output, the mean of the left half of the image."""
    width = batch.shape[-1]
    return batch[:, 0, :, : width // 2].mean(axis=(1, 2))[:, None]


def test_flip_on_an_asymmetric_classifier_averages_the_two_halves() -> None:
    rng = np.random.default_rng(1)
    images = [rng.random((8, 10)).astype(np.float32) for _ in range(3)]
    plain = tta_probabilities(left_half_mean, images, "none", (8, 10))
    flipped = tta_probabilities(left_half_mean, images, "flip", (8, 10), batch=4)  # batches split an image's views
    for image, p, f in zip(images, plain[:, 0], flipped[:, 0]):
        left, right = image[:, :5].mean(), image[:, 5:].mean()
        assert p == pytest.approx(left) and f == pytest.approx((left + right) / 2)  # the predicted change


def test_ten_crop_averages_the_crops_outputs() -> None:
    image = np.random.default_rng(2).random((73, 73)).astype(np.float32)
    result = tta_probabilities(left_half_mean, [image], "tencrop", (64, 64))
    crops = torch.stack(TenCrop(64)(torch.from_numpy(image)[None])).numpy()
    assert result[0, 0] == pytest.approx(float(left_half_mean(crops).mean()), abs=1e-6)


def test_flip_changes_nothing_on_a_mirror_symmetric_model_pair(tmp_path: Path) -> None:
    # the factory's classifier is per-pixel features + global average pooling: mirroring the
    # image permutes its features and leaves every probability as it was
    predictor = Predictor.open(make_model_pair(tmp_path), threads=1, cache_size=0)
    rng = np.random.default_rng(3)
    images = [rng.random((64, 64)).astype(np.float32) for _ in range(3)]
    plain = predictor.model.classify(to_model_batch(images))[0]
    assert np.ptp(plain, axis=0).max() > 1e-3  # the images do get different probabilities
    flipped = tta_probabilities(lambda x: predictor.model.classify(x)[0], images, "flip", (64, 64))
    np.testing.assert_allclose(flipped, plain, atol=1e-6)
    # ... while ten-crop sees other pixels and does change them
    larger = [rng.random((73, 73)).astype(np.float32) for _ in range(3)]
    centre = [x[4:68, 4:68] for x in larger]
    ten = tta_probabilities(lambda x: predictor.model.classify(x)[0], larger, "tencrop", (64, 64))
    assert np.abs(ten - predictor.model.classify(to_model_batch(centre))[0]).max() > 1e-4


def test_the_auroc_change_is_paired_and_known_on_constructed_scores() -> None:
    rng = np.random.default_rng(4)
    targets = (rng.random((60, 2)) < 0.4).astype(float)
    plain = rng.random((60, 2))
    same = paired_auroc_change(targets, plain, plain.copy(), ("A", "B"), resamples=50, seed=1)
    assert same["mean_change"] == 0.0 and same["mean_change_ci95"] == [0.0, 0.0]  # paired: no noise at all

    perfect = targets + 0.1 * rng.random((60, 2))  # every positive above every negative: AUROC 1
    better = paired_auroc_change(targets, plain, perfect, ("A", "B"), resamples=200, seed=1,
                                 groups=list(range(30)) * 2)
    for j, label in enumerate(("A", "B")):
        entry = better["per_label"][label]
        assert entry["change"] == pytest.approx(1 - roc_auc_score(targets[:, j], plain[:, j]), abs=1e-6)
        assert entry["ci95"][0] <= entry["change"] <= entry["ci95"][1]
    assert better["mean_change"] == pytest.approx(np.mean([better["per_label"][x]["change"] for x in "AB"]))
    assert better["bootstrap"]["unit"] == "patient"
