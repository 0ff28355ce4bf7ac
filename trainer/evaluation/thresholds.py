"""Each label's operating point, chosen on validation by a rule, and the validation ROC in the card.

``choose_thresholds`` gives the card's ``thresholds`` object: the rule in words, a value per
label, how each was found (``per_label``: the rule used, the validation sensitivity, specificity,
positives and negatives it rests on, the prevalence and where it comes from) and each label's
validation ROC, along which the viewer's sensitivity control moves. The rules themselves are in
``threshold_rules``; the default, ``prevalence``, flags about as many findings per image as the
images carry.

The small-sample guard: a label with fewer than ``MIN_POSITIVES`` validation positives has too
few to place a cut by them (Youden's J then sits just under the lowest positive's score). Its
prevalence rule aims at a flag rate shrunk toward the prior (the training split's prevalence):
``w = 1 - positives / MIN_POSITIVES``, ``target = w * prior + (1 - w) * validation prevalence``;
the rules that read the positives' scores (youden, sensitivity, fbeta) give such a label the
prevalence rule instead. Both are written into the label's ``per_label`` entry.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .metrics import known_rows
from .threshold_rules import DEFAULT_RULE, ThresholdRule, parse_rule, place_cut

MIN_POSITIVES = 10  # validation positives below which the guard applies
PRIOR_SOURCE = "training split"


def rule_description(rule: str | ThresholdRule = DEFAULT_RULE, with_prior: bool = True) -> str:
    """The card's ``thresholds.rule``: the rule in words with the guard and the fallback."""
    parsed = parse_rule(rule)
    prior = f"the {PRIOR_SOURCE}'s prevalence" if with_prior else "nothing (no prior given)"
    guard = (f"; a label with fewer than {MIN_POSITIVES} validation positives: "
             + ("the prevalence rule instead, " if parsed.needs_positives else "")
             + ("its target flag rate shrunk toward " + prior + " (weight 1 - positives/"
                f"{MIN_POSITIVES})" if parsed.needs_positives or parsed.kind == "prevalence" else "none needed"))
    return (f"{parsed.text}: {parsed.describe()}{guard}; 0.5 where validation has one class only and no "
            "prior prevalence applies")


THRESHOLD_RULE = rule_description()  # the default rule, as the card says it


def youden_threshold(y_true: np.ndarray, y_prob: np.ndarray) -> tuple[float, float, float] | None:
    """(threshold, sensitivity, specificity) maximising Youden's J; None with one class only
    (rows of unknown target, NaN, left out)."""
    known_true, y_prob = known_rows(y_true, y_prob)
    y_true = known_true > 0.5
    n_pos, n_neg = int(y_true.sum()), int((~y_true).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(-np.asarray(y_prob, np.float64), kind="mergesort")
    prob, positive = np.asarray(y_prob, np.float64)[order], y_true[order]
    last_of_group = np.flatnonzero(np.r_[prob[1:] != prob[:-1], True])  # flag all >= prob[i]
    tp = np.cumsum(positive)[last_of_group]
    fp = np.cumsum(~positive)[last_of_group]
    j = tp / n_pos - fp / n_neg
    best = int(np.argmax(j))
    cut = prob[last_of_group[best]]
    lower = prob[last_of_group[best + 1]] if best + 1 < len(last_of_group) else cut
    threshold = float(np.clip((cut + lower) / 2, 0.0, 1.0))
    return threshold, float(tp[best] / n_pos), float(1 - fp[best] / n_neg)


def prevalence(targets: np.ndarray) -> np.ndarray:
    """Each label's share of positives among its known rows [L] (NaN where none is known): the
    prior that ``choose_thresholds`` is given, from the training split's targets."""
    targets = np.asarray(targets, np.float64)
    known = ~np.isnan(targets)
    counts = known.sum(axis=0)
    positives = np.where(known, targets > 0.5, False).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, positives / np.maximum(counts, 1), np.nan)


@dataclass(frozen=True)
class Thresholds:
    """Each label's threshold, the rule that chose it and how it was found for each label, and the
    validation ROC curves; ``to_card`` is the card's ``thresholds`` object."""

    rule: str
    values: dict[str, float]
    per_label: dict[str, dict[str, Any]]  # see the module docstring
    roc: dict[str, dict[str, list[float]]]  # label -> {"threshold", "tpr", "fpr"}

    def to_card(self) -> dict[str, Any]:
        return {"rule": self.rule, "values": self.values, "per_label": self.per_label, "roc": self.roc}


def choose_thresholds(targets: np.ndarray, probabilities: np.ndarray, labels: Sequence[str], *,
                      rule: str | ThresholdRule = DEFAULT_RULE,
                      prior: Sequence[float] | np.ndarray | None = None) -> Thresholds:
    """Each label's threshold on validation by ``rule`` (``--threshold-rule`` text or parsed),
    with the small-sample guard shrinking toward ``prior`` (each label's training prevalence,
    ``prevalence(train_targets)``; None: no shrinkage). 0.5 where validation has one class only
    and there is no prior to aim a flag rate at."""
    parsed = parse_rule(rule)
    priors = [None] * len(labels) if prior is None else [float(x) for x in np.asarray(prior, np.float64)]
    values: dict[str, float] = {}
    per_label: dict[str, dict[str, Any]] = {}
    for j, label in enumerate(labels):
        values[label], per_label[label] = label_threshold(targets[:, j], probabilities[:, j], parsed, priors[j])
    return Thresholds(rule_description(parsed, prior is not None), values, per_label,
                      validation_roc(targets, probabilities, labels))


def label_threshold(y_true: np.ndarray, y_prob: np.ndarray, rule: ThresholdRule,
                    prior: float | None) -> tuple[float, dict[str, Any]]:
    """One label's threshold and its ``per_label`` entry (see the module docstring)."""
    known_true, probs = known_rows(y_true, y_prob)
    y = known_true > 0.5
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    usable_prior = prior if prior is not None and math.isfinite(prior) and 0 < prior < 1 else None
    entry: dict[str, Any] = {"rule": rule.text, "val_positives": n_pos, "val_negatives": n_neg}
    if usable_prior is not None:
        entry.update(prevalence=round(usable_prior, 6), prevalence_source=PRIOR_SOURCE)
    elif n_pos + n_neg:
        entry.update(prevalence=round(n_pos / (n_pos + n_neg), 6), prevalence_source="validation split")
    used, guard = rule, []
    if n_pos < MIN_POSITIVES and rule.needs_positives:
        used = ThresholdRule("prevalence")
        entry.update(rule="prevalence", requested_rule=rule.text)
        guard.append(f"the prevalence rule instead of {rule.text}")
    target_rate = None
    if used.kind == "prevalence":
        target_rate, shrunk = target_flag_rate(n_pos, n_neg, usable_prior)
        guard += [shrunk] if shrunk else []
        entry["target_flag_rate"] = None if target_rate is None else round(target_rate, 6)
    if guard:
        entry["guard"] = f"{n_pos} validation positives (fewer than {MIN_POSITIVES}): " + "; ".join(guard)
    one_class = n_pos == 0 or n_neg == 0
    if n_pos + n_neg == 0:  # the dataset(s) of the validation images do not annotate the label
        entry["rule"] = "fallback 0.5 (no validation image has a known target for this label)"
        return 0.5, entry
    if (target_rate is None) if used.kind == "prevalence" else one_class:
        entry["rule"] = "fallback 0.5 (validation has one class only)"
        return 0.5, entry
    if target_rate is not None and one_class:
        # no ROC to cut along: flag the target share of the scores (they are all one class)
        threshold = round(float(np.clip(np.quantile(probs, 1.0 - target_rate), 0.0, 1.0)), 6)
        flagged = np.asarray(probs, np.float64) >= threshold
        rates = {"val_sensitivity": float(flagged[y].mean()) if n_pos else None,
                 "val_specificity": float((~flagged[~y]).mean()) if n_neg else None,
                 "val_flag_rate": float(flagged.mean())}
    else:
        cut = place_cut(y, probs, used, target_rate)
        threshold = cut.threshold
        rates = {"val_sensitivity": cut.sensitivity, "val_specificity": cut.specificity,
                 "val_flag_rate": cut.flag_rate}
    entry.update({k: None if v is None else round(v, 4) for k, v in rates.items()})
    return threshold, entry


def target_flag_rate(n_pos: int, n_neg: int, prior: float | None) -> tuple[float | None, str]:
    """The prevalence rule's flag rate and, when the guard shrank it, the sentence that says how."""
    n = n_pos + n_neg
    observed = n_pos / n if n else None
    if n_pos >= MIN_POSITIVES or prior is None:
        return (observed if observed else None), ""
    w = 1.0 - n_pos / MIN_POSITIVES
    shown = "none" if observed is None else f"{observed:.4f}"
    target = w * prior + (1.0 - w) * (observed or 0.0)
    return target, (f"target flag rate {w:.2f} x {PRIOR_SOURCE} prevalence {prior:.4f} + {1 - w:.2f} x validation "
                    f"prevalence {shown} = {target:.4f}")


ROC_FULL_UP_TO = 2000  # validation images; above this the curves are thinned (card size)


def validation_roc(targets: np.ndarray, probabilities: np.ndarray, labels: Sequence[str]) -> dict[str, Any]:
    """Each label's validation ROC (``threshold``, ``tpr``, ``fpr`` lists, thresholds descending,
    without scikit-learn's first, infinite threshold): the viewer's sensitivity control moves
    along it. Labels with one class only in validation have none."""
    from sklearn.metrics import roc_curve

    curves: dict[str, Any] = {}
    thin = len(targets) > ROC_FULL_UP_TO
    for j, label in enumerate(labels):
        known_true, probs = known_rows(targets[:, j], probabilities[:, j])
        y = known_true > 0.5
        if y.all() or not y.any():
            continue
        fpr, tpr, thresholds = roc_curve(y, probs, drop_intermediate=thin)
        finite = np.isfinite(thresholds)
        curves[label] = {
            # rounded down: a float32 score still reaches its own point's threshold in the viewer
            "threshold": [math.floor(float(t) * 1e6) / 1e6 for t in thresholds[finite]],
            "tpr": [round(float(t), 6) for t in tpr[finite]],
            "fpr": [round(float(f), 6) for f in fpr[finite]],
        }
    return curves
