"""The classical models, one per finding (one-vs-rest), from scikit-learn.

The four the project's first notebooks explored, with settings fixed in advance (nothing is tuned
on the test images, and there is no validation search either: these are baselines):

* ``RF``: ``RandomForestClassifier``, 200 trees, at least 2 images per leaf,
  ``class_weight="balanced_subsample"``;
* ``kNN``: ``KNeighborsClassifier``, 15 neighbours weighted by distance, on standardised features
  (it has no class weights: the score is the weighted share of positive neighbours);
* ``Tree``: ``DecisionTreeClassifier``, at least 5 images per leaf, ``class_weight="balanced"``;
* ``SVM``: ``SVC`` with an RBF kernel on standardised features, ``class_weight="balanced"``; its
  score is the signed distance (``decision_function``): AUROC needs only the ranking, and
  ``probability=True`` would add an internal cross-validation that is slow and seed-dependent.

Every finding gets its own model (``sklearn.base.clone`` of the template), so a finding whose
training images are all negative (or all positive) is *not evaluable* and says so, rather than
stopping the run or scoring a constant. Seeds are fixed (``random_state``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
from sklearn.base import clone
from sklearn.ensemble import RandomForestClassifier
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier

Estimator: TypeAlias = Any  # a classifier or Pipeline of scikit-learn, which has no type hints
NEIGHBOURS = 15
TREES = 200


def _forest(seed: int, jobs: int | None) -> Estimator:
    return RandomForestClassifier(n_estimators=TREES, class_weight="balanced_subsample", min_samples_leaf=2,
                                  random_state=seed, n_jobs=jobs)


def _neighbours(seed: int, jobs: int | None) -> Estimator:
    neighbours = KNeighborsClassifier(n_neighbors=NEIGHBOURS, weights="distance", n_jobs=jobs)
    return make_pipeline(StandardScaler(), neighbours)


def _tree(seed: int, jobs: int | None) -> Estimator:
    return DecisionTreeClassifier(min_samples_leaf=5, class_weight="balanced", random_state=seed)


def _svm(seed: int, jobs: int | None) -> Estimator:
    return make_pipeline(StandardScaler(), SVC(kernel="rbf", class_weight="balanced", random_state=seed))


# name -> template of one finding's model (seed, parallel jobs); the table's column order
BASELINES: dict[str, Callable[[int, int | None], Estimator]] = {
    "RF": _forest, "kNN": _neighbours, "Tree": _tree, "SVM": _svm,
}
NOT_EVALUABLE = "no positives in the training images"
ALL_POSITIVE = "no negatives in the training images"


def make_model(name: str, seed: int = 0, jobs: int | None = None) -> Estimator:
    """A fresh template of baseline ``name`` (one of ``BASELINES``)."""
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; choose from {', '.join(BASELINES)}")
    return BASELINES[name](seed, jobs)


def score_of(model: Estimator, x: np.ndarray) -> np.ndarray:
    """The positive class's score: the decision function where the model has one (the SVM),
    else the probability of class 1."""
    if hasattr(model, "decision_function"):
        return np.asarray(model.decision_function(x), np.float64)
    classes = list(model.classes_)
    return np.asarray(model.predict_proba(x)[:, classes.index(1)], np.float64)


@dataclass
class BaselineScores:
    """One baseline's test scores [N, L] (NaN in a column it could not train) and, per finding
    it could not train, why."""

    name: str
    scores: np.ndarray
    not_evaluable: dict[str, str]


def fit_and_score(name: str, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
                  labels: Sequence[str], seed: int = 0, jobs: int | None = None) -> BaselineScores:
    """Train baseline ``name`` on each finding of ``y_train`` [N, L] (0/1) and score ``x_test``."""
    template = make_model(name, seed, jobs)
    scores = np.full((len(x_test), len(labels)), np.nan)
    skipped: dict[str, str] = {}
    for j, label in enumerate(labels):
        y = (np.asarray(y_train[:, j]) > 0.5).astype(int)
        if y.min() == y.max():
            skipped[label] = NOT_EVALUABLE if y.max() == 0 else ALL_POSITIVE
            continue
        model = clone(template)
        if "kneighborsclassifier__n_neighbors" in model.get_params():  # a small training set: every image
            model.set_params(kneighborsclassifier__n_neighbors=min(NEIGHBOURS, len(x_train)))
        model.fit(x_train, y)
        scores[:, j] = score_of(model, x_test)
    return BaselineScores(name, scores, skipped)
