"""The rules that put a label's threshold on its validation scores, and ``--threshold-rule``.

A rule is written as the command line takes it: ``prevalence`` (the default), ``youden``,
``specificity:0.9``, ``sensitivity:0.9`` or ``fbeta:1``; ``parse_rule`` is the one place that
reads and checks that text. Each rule picks one cut of one label's validation scores, a point of
its ROC curve (scikit-learn's ``roc_curve``): flag every image scoring at or above the cut. The
threshold is then put halfway between the cut score and the next lower score, so that a rounding
of the threshold cannot move an image across it.

- ``prevalence``: flag as many validation images as the label's prevalence says (the cut whose
  flag rate is nearest the target rate). Summed over labels, a model flags about as many findings
  per image as images carry, whatever its AUROC; the other rules do not promise that (a weak
  model's Youden or F1 point flags several times more, see docs/trainer.md).
- ``youden``: the largest sensitivity + specificity - 1.
- ``specificity:S``: the most sensitive cut whose specificity is at least S.
- ``sensitivity:S``: the most specific cut whose sensitivity is at least S.
- ``fbeta:B``: the largest F-beta (beta B weighs sensitivity B times as much as precision).

These functions take one label's known rows (``metrics.known_rows`` has removed the unknown ones)
with both classes present; ``thresholds.choose_thresholds`` applies them with the small-sample guard.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import TrainerError

DEFAULT_RULE = "prevalence"
RULE_KINDS = ("prevalence", "youden", "specificity", "sensitivity", "fbeta")
WITH_TARGET = ("specificity", "sensitivity", "fbeta")  # written KIND:VALUE
RULE_HELP = ("how each label's threshold is chosen on the validation split: prevalence (flag as many "
             "validation images as the label's prevalence, shrunk toward the training prevalence for a "
             "label with fewer than 10 validation positives: about as many flags per image as true "
             "labels), youden, specificity:S (most sensitive with specificity >= S), sensitivity:S (most "
             "specific with sensitivity >= S) or fbeta:B (largest F-beta); youden, sensitivity and fbeta "
             "fall back to prevalence for a label with fewer than 10 validation positives")


@dataclass(frozen=True)
class ThresholdRule:
    """A parsed ``--threshold-rule``: its kind and, for the targeted kinds, the target."""

    kind: str
    target: float | None = None

    @property
    def text(self) -> str:
        """The rule as the command line writes it: 'prevalence', 'specificity:0.9'."""
        return self.kind if self.target is None else f"{self.kind}:{self.target:g}"

    @property
    def needs_positives(self) -> bool:
        """The rule reads the positives' scores (specificity reads only the negatives')."""
        return self.kind in ("youden", "sensitivity", "fbeta")

    def describe(self) -> str:
        """The rule in words, for the card and the evaluation page."""
        target = f"{self.target:g}" if self.target is not None else ""
        what = {
            "prevalence": "flag rate on validation matched to the label's prevalence",
            "youden": "Youden's J (max sensitivity + specificity - 1) on validation",
            "specificity": f"the most sensitive threshold with validation specificity >= {target}",
            "sensitivity": f"the most specific threshold with validation sensitivity >= {target}",
            "fbeta": f"the largest F-beta (beta {target}) on validation",
        }[self.kind]
        return (f"{what}, on the validation split's calibrated probabilities; flag when probability >= "
                "threshold (halfway between the cut score and the next lower one)")


def parse_rule(text: str | ThresholdRule) -> ThresholdRule:
    """``--threshold-rule``'s text as a ``ThresholdRule``; ``TrainerError`` naming the choices."""
    if isinstance(text, ThresholdRule):
        return text
    kind, colon, value = str(text).strip().lower().partition(":")
    choices = "prevalence, youden, specificity:S, sensitivity:S (S in (0, 1)) or fbeta:B (B > 0)"
    if kind not in RULE_KINDS or bool(colon) != (kind in WITH_TARGET):
        raise TrainerError(f"--threshold-rule must be one of {choices}, not {text!r}")
    if kind not in WITH_TARGET:
        return ThresholdRule(kind)
    try:
        target = float(value)
    except ValueError:
        raise TrainerError(f"--threshold-rule {text!r}: {value!r} is not a number") from None
    valid = target > 0 and math.isfinite(target) if kind == "fbeta" else 0 < target < 1
    if not valid:
        raise TrainerError(f"--threshold-rule {text!r}: the target must be "
                           + ("a positive number" if kind == "fbeta" else "between 0 and 1 (exclusive)"))
    return ThresholdRule(kind, target)


@dataclass(frozen=True)
class Cut:
    """Where a rule cut one label's validation scores: the threshold and what it flags there."""

    threshold: float
    sensitivity: float
    specificity: float
    flag_rate: float  # share of the validation images flagged


def roc_points(y_true: np.ndarray, y_prob: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(cut scores descending, tpr, fpr) at every distinct score, with scikit-learn's first point
    (flag nothing, cut = inf) kept: a strict target may be met only there."""
    from sklearn.metrics import roc_curve

    fpr, tpr, cuts = roc_curve(y_true, y_prob, drop_intermediate=False)
    return cuts, tpr, fpr


def cut_index(rule: ThresholdRule, tpr: np.ndarray, fpr: np.ndarray, n_pos: int, n_neg: int,
              target_rate: float | None = None) -> int:
    """The ROC point ``rule`` picks (0: flag nothing). ``target_rate``: the prevalence rule's
    flag rate. Ties go to the first point, the higher threshold."""
    if rule.kind == "prevalence":
        if target_rate is None:
            raise ValueError("the prevalence rule needs a target flag rate")
        rate = (tpr * n_pos + fpr * n_neg) / (n_pos + n_neg)
        # nearest the target; between two equally near, the one flagging more (round half up)
        return int(np.argmin(np.abs(rate - target_rate) - 1e-12 * rate))
    if rule.kind == "youden":
        return 1 + int(np.argmax((tpr - fpr)[1:]))  # a flag-nothing cut is never Youden's
    if rule.kind == "specificity":
        assert rule.target is not None
        meets = np.flatnonzero(1.0 - fpr >= rule.target - 1e-12)
        return int(meets[np.argmax(tpr[meets])])  # point 0 (fpr 0) always meets it
    if rule.kind == "sensitivity":
        assert rule.target is not None
        meets = np.flatnonzero(tpr >= rule.target - 1e-12)
        return int(meets[np.argmin(fpr[meets])])  # the last point (tpr 1) always meets it
    if rule.kind == "fbeta":
        assert rule.target is not None
        tp, fp = tpr * n_pos, fpr * n_neg
        b2 = rule.target ** 2
        with np.errstate(invalid="ignore", divide="ignore"):
            f = (1 + b2) * tp / ((1 + b2) * tp + b2 * (n_pos - tp) + fp)
        return int(np.argmax(np.nan_to_num(f, nan=-1.0)))
    raise ValueError(f"unknown threshold rule {rule.kind!r}")


def place_cut(y_true: np.ndarray, y_prob: np.ndarray, rule: ThresholdRule, target_rate: float | None = None) -> Cut:
    """``rule``'s threshold on one label's validation scores (both classes present), and the
    sensitivity, specificity and flag rate it gives there (recounted at the rounded threshold)."""
    y = np.asarray(y_true) > 0.5
    prob = np.asarray(y_prob, np.float64)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    cuts, tpr, fpr = roc_points(y, prob)
    i = cut_index(rule, tpr, fpr, n_pos, n_neg, target_rate)
    if i == 0:  # flag nothing on validation: halfway between the top score and 1
        threshold = (float(cuts[1]) + 1.0) / 2
    else:
        lower = cuts[i + 1] if i + 1 < len(cuts) else cuts[i]
        threshold = (float(cuts[i]) + float(lower)) / 2
    threshold = round(min(max(threshold, 0.0), 1.0), 6)
    flagged = prob >= threshold
    return Cut(threshold, float(flagged[y].mean()), float((~flagged[~y]).mean()), float(flagged.mean()))
