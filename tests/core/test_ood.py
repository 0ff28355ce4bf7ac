"""The out-of-distribution check: its contract with the card, its invariances, its behaviour.

The default tests fit on generated chest phantoms and score real non-chest images that pip
installs (pydicom's CT/MR, pydicom-data's ultrasound and ankle CR, scikit-image's photographs).
The shared_data test fits on real NIH PNGs and checks the project's targets on real images.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import shared_path
from tests.core.chest_phantom import chest_phantoms
from tests.factories import card_dict
from viewer.core.model_card import ModelCard
from viewer.core.ood import (
    FEATURE_LENGTH,
    METHOD,
    MIN_IMAGES,
    OodCheck,
    OodError,
    fit_ood,
    is_ood,
    ood_features,
    ood_score,
)
from viewer.core.preprocess import preprocess

SIZE = 128


@pytest.fixture(scope="module")
def phantom_ood() -> dict:
    return fit_ood(chest_phantoms(60, seed=0, size=SIZE))


@pytest.fixture(scope="module")
def held_out() -> list[np.ndarray]:
    return chest_phantoms(40, seed=1, size=SIZE)


def _ratios(check: OodCheck, images) -> np.ndarray:
    return np.array([check.score(x) for x in images]) / check.threshold


# -- the card contract -------------------------------------------------------------------------
def test_fit_gives_a_valid_json_card_ood_object(phantom_ood):
    assert phantom_ood["method"] == METHOD
    assert math.isfinite(phantom_ood["threshold"]) and phantom_ood["threshold"] > 0
    assert phantom_ood["n_images"] == 60
    # survives the JSON round trip into a card the viewer accepts
    restored = json.loads(json.dumps(phantom_ood, allow_nan=False))
    card = ModelCard.from_dict(card_dict("0" * 64, ood=restored))
    assert OodCheck(card.ood).threshold == phantom_ood["threshold"]


def test_fit_is_deterministic(phantom_ood):
    again = fit_ood(chest_phantoms(60, seed=0, size=SIZE))
    assert again == phantom_ood


def test_fit_accepts_a_generator_and_refuses_too_few_images():
    with pytest.raises(OodError, match=f"at least {MIN_IMAGES}"):
        fit_ood(iter(chest_phantoms(MIN_IMAGES - 1)))
    assert fit_ood(x for x in chest_phantoms(MIN_IMAGES))["n_images"] == MIN_IMAGES


def test_card_without_a_check_scores_nan_and_flags_nothing():
    ood = {"method": "none", "statistics": {}, "threshold": 1e9}
    score = ood_score(np.zeros((SIZE, SIZE), np.float32), ood)
    assert math.isnan(score)
    assert is_ood(score, ood) is False
    assert OodCheck(ood).enabled is False


def test_unknown_method_and_broken_statistics_are_explained(phantom_ood):
    with pytest.raises(OodError, match="'mahalanobis-v9' is not one this viewer knows"):
        OodCheck({**phantom_ood, "method": "mahalanobis-v9"})
    broken = {**phantom_ood, "statistics": {**phantom_ood["statistics"], "mean": [0.0] * 10}}
    with pytest.raises(OodError, match="do not fit method"):
        OodCheck(broken)
    missing = {**phantom_ood, "statistics": {"mean": phantom_ood["statistics"]["mean"]}}
    with pytest.raises(OodError, match="incomplete or malformed"):
        OodCheck(missing)


def test_is_ood_compares_with_the_threshold(phantom_ood):
    threshold = phantom_ood["threshold"]
    assert is_ood(threshold * 1.01, phantom_ood)
    assert not is_ood(threshold, phantom_ood)
    assert not is_ood(float("nan"), phantom_ood)


# -- features ----------------------------------------------------------------------------------
def test_features_ignore_brightness_contrast_and_input_size(held_out):
    image = held_out[0]
    base = ood_features(image)
    assert base.shape == (FEATURE_LENGTH,)
    np.testing.assert_allclose(ood_features(image * 0.5 + 0.2), base, atol=1e-4)
    # a different input size only changes the resampling, not what the features describe
    import cv2

    bigger = cv2.resize(image, (224, 224), interpolation=cv2.INTER_LINEAR)
    assert np.corrcoef(ood_features(bigger), base)[0, 1] > 0.98


def test_features_refuse_what_is_not_a_prepared_image():
    with pytest.raises(ValueError, match="2-D"):
        ood_features(np.zeros((3, 64, 64)))
    bad = np.zeros((64, 64))
    bad[3, 3] = np.nan
    with pytest.raises(ValueError, match="finite"):
        ood_features(bad)


# -- behaviour ---------------------------------------------------------------------------------
def test_held_out_phantoms_pass_and_turned_ones_are_flagged(phantom_ood, held_out):
    check = OodCheck(phantom_ood)
    assert (_ratios(check, held_out) > 1).mean() <= 0.05
    for turn in (np.rot90, lambda x: np.rot90(x, -1), np.flipud):
        assert (_ratios(check, [turn(x) for x in held_out]) > 1).all()


def test_blank_and_noise_images_are_flagged(phantom_ood):
    check = OodCheck(phantom_ood)
    rng = np.random.default_rng(3)
    assert check.flag(check.score(np.zeros((SIZE, SIZE), np.float32)))
    assert check.flag(check.score(np.full((SIZE, SIZE), 0.7, np.float32)))
    assert check.flag(check.score(rng.random((SIZE, SIZE)).astype(np.float32)))


def _pip_file(package: str, *parts: str) -> Path:
    module = pytest.importorskip(package)
    return Path(module.__file__).parent.joinpath(*parts)


@pytest.mark.parametrize(
    "path",
    [
        pytest.param(("pydicom.data", "test_files", "CT_small.dcm"), id="CT"),
        pytest.param(("pydicom.data", "test_files", "MR_small.dcm"), id="MR"),
        pytest.param(("data_store", "data", "US1_UNCR.dcm"), id="ultrasound"),
        pytest.param(("data_store", "data", "RG3_UNCR.dcm"), id="ankle-CR"),
        pytest.param(("skimage.data", "camera.png"), id="photo-camera"),
        pytest.param(("skimage.data", "astronaut.png"), id="photo-astronaut"),
    ],
)
def test_real_non_chest_images_are_flagged(phantom_ood, path):
    image = preprocess(_pip_file(*path), SIZE, SIZE)
    score = ood_score(image, phantom_ood)
    assert is_ood(score, phantom_ood), f"score {score:.2f} <= threshold {phantom_ood['threshold']:.2f}"


# -- on real chest X-rays ----------------------------------------------------------------------
@pytest.mark.shared_data
def test_targets_on_real_images():
    """Fit on 300 NIH PNGs; <= 5% of real chests flagged, >= 95% of non-chests flagged."""
    images = sorted(shared_path("nih-sample", "images").glob("*.png"))
    dicom = shared_path("dicom")
    prepared = [preprocess(p, SIZE, SIZE) for p in images]
    ood = fit_ood(prepared[:300])
    check = OodCheck(ood)

    chests = prepared[300:] + [preprocess(dicom / n, SIZE, SIZE) for n in
                               ("RG1_UNCR.dcm", "RG1_J2KR.dcm", "nih_gcp_00000002_000.dcm")]
    chest_flags = _ratios(check, chests) > 1
    assert chest_flags.mean() <= 0.05
    assert not chest_flags[-3:].any(), "a real chest DICOM was flagged"

    assert check.flag(check.score(preprocess(dicom / "RG3_UNCR.dcm", SIZE, SIZE))), "ankle CR not flagged"
    turned = [f(x) for x in chests for f in (np.rot90, lambda x: np.rot90(x, -1), np.flipud)]
    assert (_ratios(check, turned) > 1).mean() >= 0.95
