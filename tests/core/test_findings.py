"""The one rule for "flagged": probability >= threshold at the probabilities' precision, per
label in label order or by label name; Findings re-flagged at other operating points."""

from __future__ import annotations

import numpy as np
import pytest

from viewer.core.findings import Findings, flagged, flags_at, read_only, threshold_array

LABELS = ("A", "B", "C")


def findings(probabilities: list[float], thresholds: list[float]) -> Findings:
    p, t = np.array(probabilities, np.float32), np.array(thresholds, np.float32)
    return Findings(LABELS, read_only(p), read_only(t), read_only(flags_at(p, t)),
                    read_only(np.zeros((3, 2, 2), np.float32)), float("nan"), False)


def test_at_or_above_the_threshold_is_flagged() -> None:
    p = np.array([0.2, 0.5, 0.9], np.float32)
    np.testing.assert_array_equal(flags_at(p, [0.5, 0.5, 0.5]), [False, True, True])
    np.testing.assert_array_equal(flags_at(p, {"C": 0.95, "A": 0.1, "B": 0.6, "extra": 0.0}, LABELS),
                                  [True, False, False])
    batch = np.array([[0.2, 0.5, 0.9], [0.9, 0.1, 0.5]])
    expected = [[False, True, True], [True, False, True]]
    np.testing.assert_array_equal(flags_at(batch, np.array([0.3, 0.3, 0.5])), expected)


def test_the_threshold_is_taken_at_the_probabilities_precision() -> None:
    """A float32 probability equal to the card's 0.7 as float32 (just below 0.7) is flagged."""
    p32 = np.float32(0.7)
    assert float(p32) < 0.7
    assert flagged(p32, 0.7) and flags_at(np.array([p32]), {"A": 0.7}, ("A",))[0]
    assert not flagged(np.float64(p32), 0.7)  # a float64 probability meets the float64 threshold
    assert flagged([0.5, 1.0], 0.5).tolist() == [True, True]  # plain numbers are float64
    assert flagged(np.array([1, 0]), 0.5).tolist() == [True, False]  # integers too


def test_the_same_answers_as_each_caller_computed_before() -> None:
    """The inline comparisons this rule replaced: float32 findings against float32 or float64
    thresholds (the UI), float64 trainer probabilities against a dict of Python floats."""
    rng = np.random.default_rng(0)
    p32 = rng.random((200, 3)).astype(np.float32)
    t32 = p32[7].copy()  # thresholds equal to some probabilities: the edge cases
    for row in p32:
        np.testing.assert_array_equal(flags_at(row, t32), row >= t32)  # inference._findings
        np.testing.assert_array_equal(flags_at(row, t32.astype(np.float64)),
                                      np.asarray(row, np.float64) >= t32.astype(np.float64))  # ui export
    p64 = rng.random((200, 3))
    by_label = {"A": float(p64[3, 0]), "B": 0.5, "C": round(float(p64[9, 2]), 6)}
    old = np.array([[int(p >= by_label[x]) for p, x in zip(row, LABELS)] for row in p64])  # evaluate.py
    np.testing.assert_array_equal(flags_at(p64, by_label, LABELS).astype(int), old)
    for j, label in enumerate(LABELS):  # operating_points, roc_plot: one column at a time
        np.testing.assert_array_equal(flagged(p64[:, j], by_label[label]), p64[:, j] >= by_label[label])
        np.testing.assert_array_equal(flagged(p32[:, j], by_label[label]), p32[:, j] >= by_label[label])


def test_threshold_arrays_and_their_errors() -> None:
    assert threshold_array({"B": 0.2, "A": 0.1, "C": 0.3}, LABELS).tolist() == pytest.approx([0.1, 0.2, 0.3])
    assert threshold_array([0.1, 0.2, 0.3], LABELS, np.float64).dtype == np.float64
    with pytest.raises(KeyError, match="no threshold for B, C"):
        threshold_array({"A": 0.1}, LABELS)
    with pytest.raises(ValueError, match="expected 3 thresholds"):
        threshold_array([0.1, 0.2], LABELS)
    with pytest.raises(ValueError, match="expected 3 thresholds"):
        flags_at(np.zeros(3), [0.1, 0.2])
    with pytest.raises(ValueError, match="2 labels"):
        flags_at(np.zeros(3), [0.1, 0.2, 0.3], ("A", "B"))
    with pytest.raises(TypeError, match="need the labels"):
        flags_at(np.zeros(3), {"A": 0.1, "B": 0.2, "C": 0.3})
    with pytest.raises(ValueError, match="label axis"):
        flags_at(0.5, [0.5])


def test_findings_at_other_thresholds() -> None:
    f = findings([0.2, 0.5, 0.9], [0.5, 0.5, 0.5])
    assert f.flagged() == ("B", "C")
    lower = f.at_thresholds({"A": 0.1, "B": 0.6, "C": 0.9})
    assert lower.flagged() == ("A", "C") and lower.heatmaps is f.heatmaps
    assert lower.thresholds.dtype == np.float32 and not lower.flags.flags.writeable
    np.testing.assert_array_equal(lower.flags, flags_at(lower.probabilities, lower.thresholds))
    assert f.flagged() == ("B", "C")  # the original is unchanged


def test_read_only_arrays() -> None:
    array = read_only(np.arange(6).reshape(2, 3)[:, ::2])
    assert array.flags.c_contiguous and not array.flags.writeable
    with pytest.raises(ValueError):
        array[0, 0] = 1
