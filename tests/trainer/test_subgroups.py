"""trainer.evaluation.subgroups: each cell's AUROC against scikit-learn, counts, None where undefined."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from trainer.evaluation.subgroups import age_band, markdown, subgroup_aurocs


@pytest.mark.parametrize(("age", "band"), [
    (0, "0-20"), (19, "0-20"), (20, "20-40"), (39, "20-40"), (40, "40-60"), (59, "40-60"),
    (60, "60-80"), (79, "60-80"), (80, "80+"), (120, "80+"), (None, None), (-1, None),
])
def test_age_bands_are_chexclusions(age: int | None, band: str | None) -> None:
    assert age_band(age) == band


def constructed_table() -> tuple[np.ndarray, np.ndarray, dict[str, list[str | None]]]:
    rng = np.random.default_rng(7)
    n = 80
    targets = (rng.random((n, 3)) < 0.3).astype(np.float64)
    scores = np.round(0.4 * targets + rng.random((n, 3)), 1)  # rounded: ties must count half
    sex = ["F" if i % 2 else "M" for i in range(n)]
    sex[5] = None  # unknown: left out of "sex", counted
    view = ["AP" if i < 20 else "PA" for i in range(n)]
    targets[:20, 2] = 0.0  # no AP positives for the third label: that cell has no AUROC
    return targets, scores, {"sex": sex, "view": view}


def test_every_cell_matches_scikit_learn_with_its_counts() -> None:
    targets, scores, attributes = constructed_table()
    labels = ("A", "B", "C")
    result = subgroup_aurocs(targets, scores, labels, attributes)

    assert result["sex"]["groups"] == ["F", "M"] and result["view"]["groups"] == ["PA", "AP"]
    assert result["sex"]["unknown"] == 1 and result["sex"]["images"] == {"F": 39, "M": 40}
    for attribute, values in attributes.items():
        column = np.array([v or "" for v in values])
        for group in result[attribute]["groups"]:
            rows = column == group
            for j, label in enumerate(labels):
                cell = result[attribute]["cells"][group][label]
                y = targets[rows, j]
                assert (cell["n_pos"], cell["n_neg"]) == (int(y.sum()), int(len(y) - y.sum()))
                if 0 < y.sum() < len(y):
                    assert cell["auroc"] == pytest.approx(roc_auc_score(y, scores[rows, j]), abs=1e-4)
                else:
                    assert cell["auroc"] is None
    assert result["view"]["cells"]["AP"]["C"] == {"auroc": None, "n_pos": 0, "n_neg": 20}
    assert result["view"]["gap"]["C"] is None  # one defined group: no gap
    a = [result["sex"]["cells"][g]["A"]["auroc"] for g in ("F", "M")]
    assert result["sex"]["gap"]["A"] == pytest.approx(max(a) - min(a), abs=1e-4)


def test_markdown_shows_counts_and_dashes() -> None:
    targets, scores, attributes = constructed_table()
    text = markdown(subgroup_aurocs(targets, scores, ("A", "B", "C"), attributes), ("A", "B", "C"))
    assert "**By view** (images PA: 60, AP: 20)" in text and "– (0/20)" in text
    assert "unknown: 1" in text


def test_mismatched_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="attribute 'sex'"):
        subgroup_aurocs(np.zeros((3, 1)), np.zeros((3, 1)), ("A",), {"sex": ["F", "M"]})
    with pytest.raises(ValueError, match="must both be"):
        subgroup_aurocs(np.zeros((3, 2)), np.zeros((3, 2)), ("A",), {})
