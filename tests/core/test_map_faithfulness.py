"""The deletion test of a heatmap (ROAD's imputation): the imputation against ROAD's own code and
by hand, the score by hand, and its sign on a model whose output depends only on a known region."""

from __future__ import annotations

import numpy as np
import pytest

from viewer.core.map_faithfulness import (
    FRACTIONS,
    NEIGHBOURS,
    NOISE,
    Faithfulness,
    curve_score,
    faithfulness_of_image,
    linear_imputation,
    map_faithfulness,
    road_impute,
)


# -- the imputation ------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape, share", [((17, 23), 0.3), ((40, 40), 0.8)])
def test_linear_imputation_equals_roads_own_noisy_linear_imputer_without_noise(shape, share):
    """Oracle: ROAD's NoisyLinearImputer (Leemann's code, as pytorch-grad-cam ships it) with no
    noise, which solves the same system with SciPy's sparse direct solver."""
    torch = pytest.importorskip("torch", reason="ROAD's imputer is in pytorch-grad-cam (the train extra)")
    road = pytest.importorskip("pytorch_grad_cam.metrics.road", reason="pytorch-grad-cam is the oracle")
    rng = np.random.default_rng(1)
    image = rng.random(shape).astype(np.float32)
    removed = rng.random(shape) < share
    ours = linear_imputation(image, removed, tolerance=1e-12)
    keep = torch.from_numpy((~removed).astype(np.float32))  # ROAD's mask: 1 = kept
    theirs = road.NoisyLinearImputer(noise=0.0)(torch.from_numpy(image)[None], keep)[0].numpy()
    np.testing.assert_allclose(ours, theirs, atol=1e-6)


def test_one_removed_pixel_becomes_the_weighted_mean_of_its_neighbours_by_hand():
    image = np.arange(9, dtype=np.float64).reshape(3, 3)  # 0..8, centre 4
    removed = np.zeros((3, 3), bool)
    removed[1, 1] = True
    # diagonals 0, 2, 6, 8 weigh 1/12; direct neighbours 1, 3, 5, 7 weigh 1/6; the weights sum to 1
    by_hand = (0 + 2 + 6 + 8) / 12 + (1 + 3 + 5 + 7) / 6
    assert linear_imputation(image, removed, tolerance=1e-12)[1, 1] == pytest.approx(by_hand)
    removed[:] = False
    removed[0, 0] = True  # a corner: only the neighbours inside the image count, their weights renormalised
    corner = (1 / 6 * 1 + 1 / 6 * 3 + 1 / 12 * 4) / (1 / 6 + 1 / 6 + 1 / 12)
    assert linear_imputation(image, removed, tolerance=1e-12)[0, 0] == pytest.approx(corner)
    assert NEIGHBOURS.sum() == pytest.approx(1.0)


def test_two_touching_removed_pixels_solve_their_equations_together_by_hand():
    image = np.zeros((1, 4))
    image[0, 3] = 1.0
    removed = np.array([[False, True, True, False]])
    # in one row only the left/right weights (1/6 each) are inside: a = (0 + b) / 2, b = (a + 1) / 2
    filled = linear_imputation(image, removed, tolerance=1e-14)
    np.testing.assert_allclose(filled[0], [0.0, 1 / 3, 2 / 3, 1.0], atol=1e-9)


def test_road_impute_keeps_the_known_pixels_adds_roads_noise_and_stays_in_range():
    rng = np.random.default_rng(0)
    image = np.full((64, 64), 0.5, np.float32)
    removed = np.zeros((64, 64), bool)
    removed[10:50, 10:50] = True
    out = road_impute(image, removed, rng)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out[~removed], image[~removed])
    # a flat image is filled with its own value: what is left is the noise
    assert np.std(out[removed] - 0.5) == pytest.approx(NOISE, rel=0.1)
    assert out.min() >= 0.0 and out.max() <= 1.0


def test_an_image_with_every_pixel_removed_is_refused():
    with pytest.raises(ValueError, match="every pixel"):
        linear_imputation(np.zeros((4, 4)), np.ones((4, 4), bool))


# -- the score ------------------------------------------------------------------------------------------
def test_curve_score_is_the_normalised_area_between_the_curves_by_hand():
    # the gap 0.4 at every fraction, 0 at f = 0: trapezoids give 0.4 * (0.8 - 0.05 / 2) = 0.31;
    # divided by max f (0.8) and by the probability before (0.5)
    assert curve_score(0.5, [0.1] * 5, [0.5] * 5, FRACTIONS) == pytest.approx(0.31 / 0.8 / 0.5)
    assert curve_score(0.5, [0.5] * 5, [0.1] * 5, FRACTIONS) == pytest.approx(-0.31 / 0.8 / 0.5)
    assert curve_score(0.1, [0.9] * 5, [0.1] * 5, FRACTIONS) == -1.0  # clipped


def test_summary_says_the_twenty_percent_point_and_the_score():
    result = Faithfulness("Effusion", FRACTIONS, 0.714, (0.6, 0.5, 0.32, 0.2, 0.1), (0.7, 0.7, 0.69, 0.6, 0.5), 0.41)
    assert result.summary() == ("top 20% of the map removed: probability 0.71 -> 0.32; random 20%: 0.69; "
                                "faithfulness +0.41")


# -- the sign, on a model that looks at one region only ----------------------------------------------------
SIZE, GRID = 64, 8
REGION = (slice(16, 32), slice(16, 32))  # 2 x 2 cells of the 8 x 8 grid


def _region_model(calls: list[int] | None = None):
    """Probability = the mean brightness of REGION (two labels: the second ignores the image)."""
    def classify(batch: np.ndarray) -> np.ndarray:
        if calls is not None:
            calls.append(len(batch))
        region = batch[:, 0][:, REGION[0], REGION[1]].mean(axis=(1, 2))
        return np.stack([region, np.full(len(batch), 0.5)], axis=1)
    return classify


def _image() -> np.ndarray:
    image = np.full((SIZE, SIZE), 0.1, np.float32)
    image[REGION] = 0.9  # the bright region the model reads
    return image


def _region_map() -> np.ndarray:
    heatmap = np.zeros((GRID, GRID), np.float32)
    heatmap[2:4, 2:4] = 1.0
    return heatmap


def test_a_map_on_the_region_the_model_reads_scores_clearly_positive_and_its_inverse_negative():
    labels = ("Region", "Nothing")
    on = map_faithfulness(_image(), _region_map(), 0, labels, _region_model())
    assert on.score > 0.5, on
    assert on.map_curve[-1] < 0.3 < on.random_curve[0]
    inverted = map_faithfulness(_image(), 1.0 - _region_map(), 0, labels, _region_model())
    # as negative as random removals hurt the region: never the region first, always after the random ones
    assert inverted.score < -0.1, inverted
    assert inverted.map_curve[0] == pytest.approx(0.9, abs=1e-3)  # the region is never touched


def test_a_random_map_scores_near_zero():
    labels = ("Region", "Nothing")
    scores = [map_faithfulness(_image(), np.random.default_rng(seed).random((GRID, GRID)), 0, labels,
                               _region_model(), seed=seed).score for seed in range(8)]
    assert abs(float(np.mean(scores))) < 0.15, scores


def test_all_perturbed_images_go_in_one_classifier_call_unless_the_model_takes_one_at_a_time():
    labels = ("Region", "Nothing")
    calls: list[int] = []
    batched = map_faithfulness(_image(), _region_map(), 0, labels, _region_model(calls))
    assert calls == [1 + len(FRACTIONS) * 4]  # the original, 5 map removals, 3 x 5 random ones
    calls.clear()
    single = map_faithfulness(_image(), _region_map(), 0, labels, _region_model(calls), batch=1)
    assert calls == [1] * (1 + len(FRACTIONS) * 4)
    assert single == batched


def test_a_label_tested_alone_gives_what_it_gives_among_others():
    labels = ("Region", "Nothing")
    maps = {0: _region_map(), 1: np.random.default_rng(3).random((GRID, GRID))}
    together = faithfulness_of_image(_image(), maps, labels, _region_model(), seed=4)
    for index, heatmap in maps.items():
        assert map_faithfulness(_image(), heatmap, index, labels, _region_model(), seed=4) == together[index]
    assert together[1].score == 0.0  # a label that ignores the image: no curve moves


def test_an_exported_model_takes_any_batch(tiny_model):
    from viewer.core.model import ModelPair

    assert ModelPair.open(tiny_model).batch_limit is None  # cxr-train exports a symbolic batch 'N'
