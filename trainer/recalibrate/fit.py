"""The new calibration, thresholds and OOD threshold, fitted on the fit part of the local images.

* calibration (``platt``, ``temperature``): ``evaluation.calibrate.fit_calibration`` on the raw
  logits, as the trainer fits it on validation; ``none``: the sigmoid of the raw logits;
  ``keep``: the pair's own calibration (only the thresholds and the OOD threshold change);
* thresholds: ``evaluation.thresholds.choose_thresholds`` (``--rule``, a ``--threshold-rule``) on the new
  probabilities;
* labels the local data cannot settle (one class only in the fit part, or a label the dataset
  does not annotate) keep the original calibration, and their threshold is the original one
  carried through the change of calibration (the same logit, so the same images flagged), with
  the card's validation ROC carried along likewise;
* OOD (``threshold``): the pair's statistics kept, the threshold refitted as the card's percentile
  of the fit images' scores, which, like the exporter's out-of-fold scores, are of chests the
  statistics were not fitted on; ``refit``: ``viewer.core.ood.fit_ood`` on the fit images, as the
  exporter fits it on training images; ``keep``: unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from viewer.core.model_card import ModelCard
from viewer.core.ood import DEFAULT_PERCENTILE, fit_ood, has_check

from ..errors import TrainerError
from ..evaluation.calibrate import fit_calibration
from ..evaluation.threshold_rules import RULE_KINDS as THRESHOLD_RULE_KINDS
from ..evaluation.threshold_rules import parse_rule
from ..evaluation.thresholds import choose_thresholds
from .graph import CalibrationSite
from .score import sigmoid

CALIBRATIONS = ("platt", "temperature", "none", "keep")
RULE_KINDS = THRESHOLD_RULE_KINDS  # evaluation.threshold_rules: --rule is its --threshold-rule text
OOD_MODES = ("threshold", "refit", "keep")
OOD_SAMPLE = 300  # fit images the OOD statistics are refitted on (the trainer's --ood-sample default)
_EDGE = 1e-7  # thresholds of 0 or 1 are carried through the calibration as these


@dataclass(frozen=True)
class NewCalibration:
    """Per-label scale and bias on the raw logits, and the labels that kept the original's."""

    method: str
    scale: np.ndarray  # [L] float32, > 0
    bias: np.ndarray  # [L] float32
    kept: tuple[str, ...]

    def probabilities(self, raw: np.ndarray) -> np.ndarray:
        """``sigmoid(scale * raw + bias)`` in float64."""
        return sigmoid(np.asarray(raw, np.float64) * self.scale.astype(np.float64) + self.bias.astype(np.float64))


def nll(z: np.ndarray, targets: np.ndarray) -> float | None:
    """Mean binary cross-entropy of logits ``z`` over the known targets (NaN: unknown)."""
    known = ~np.isnan(targets)
    if not known.any():
        return None
    z, y = np.asarray(z, np.float64)[known], targets[known]
    return round(float(np.mean(np.logaddexp(0.0, z) - y * z)), 6)


def fit_new_calibration(raw: np.ndarray, targets: np.ndarray, site: CalibrationSite, method: str,
                        labels: Sequence[str]) -> NewCalibration:
    """The calibration ``method`` on the fit part's raw logits; labels it cannot fit keep the
    pair's own scale and bias (``none`` keeps none)."""
    if method not in CALIBRATIONS:
        raise TrainerError(f"--calibration must be one of {', '.join(CALIBRATIONS)}, not {method!r}")
    if method == "keep":
        return NewCalibration(method, site.scale.copy(), site.bias.copy(), tuple(labels))
    if method == "none":
        return NewCalibration(method, np.ones(len(labels), np.float32), np.zeros(len(labels), np.float32), ())
    fitted = fit_calibration(raw, targets, method, labels)
    kept = tuple(fitted.details.get("identity_for", ()))
    keep = np.array([label in kept for label in labels])
    scale = np.where(keep, site.scale, fitted.scale).astype(np.float32)
    bias = np.where(keep, site.bias, fitted.bias).astype(np.float32)
    return NewCalibration(method, scale, bias, kept)


def carried_threshold(threshold: float, site: CalibrationSite, new: NewCalibration, j: int) -> float:
    """The probability threshold of the new calibration that flags the same logits as
    ``threshold`` did under the old one."""
    t = min(max(float(threshold), _EDGE), 1.0 - _EDGE)
    logit = (np.log(t / (1.0 - t)) - float(site.bias[j])) / float(site.scale[j])
    return float(sigmoid(float(new.scale[j]) * logit + float(new.bias[j])))


def card_prevalence(card: ModelCard) -> np.ndarray:
    """Each label's prevalence as the card records it (``thresholds.per_label``, the threshold
    rules' prior), NaN where it records none: the small-sample guard shrinks toward it."""
    per_label = card.thresholds.get("per_label")
    entries = per_label if isinstance(per_label, dict) else {}
    values = [entries.get(label, {}).get("prevalence") if isinstance(entries.get(label), dict) else None
              for label in card.labels]
    return np.array([float(v) if isinstance(v, (int, float)) else np.nan for v in values], np.float64)


def new_thresholds(card: ModelCard, site: CalibrationSite, new: NewCalibration, targets: np.ndarray,
                   probabilities: np.ndarray, rule: str, where: str) -> dict[str, Any]:
    """The card's ``thresholds`` object: ``rule`` on the fit part's new probabilities; labels it
    cannot settle keep the original operating point, carried through the calibration change."""
    labels = card.labels
    chosen = choose_thresholds(targets, probabilities, labels, rule=parse_rule(rule), prior=card_prevalence(card))
    values, per_label, roc = dict(chosen.values), dict(chosen.per_label), dict(chosen.roc)
    original = card.threshold_values()
    original_roc = card.thresholds.get("roc") if isinstance(card.thresholds.get("roc"), dict) else {}
    carried = []
    for j, label in enumerate(labels):
        if not str(per_label[label].get("rule", "")).startswith("fallback"):
            continue
        carried.append(label)
        values[label] = round(carried_threshold(original[label], site, new, j), 6)
        per_label[label] = {"rule": "the original card's threshold, carried through the new calibration (the local "
                                    "data cannot settle this label: one class only, or not annotated)",
                            "original_threshold": original[label]}
        curve = original_roc.get(label) if isinstance(original_roc, dict) else None
        if isinstance(curve, dict) and isinstance(curve.get("threshold"), list):
            roc[label] = {**curve, "threshold": [round(carried_threshold(t, site, new, j), 6)
                                                 for t in curve["threshold"]]}
        else:
            roc.pop(label, None)
    return {
        "rule": (f"{chosen.rule}; here the validation split is {where}; labels the local data cannot settle keep "
                 "the original card's threshold carried through the new calibration"),
        "values": values,
        "per_label": per_label,
        "roc": roc,
        "carried_from_original": carried,
        "original": {"rule": card.thresholds.get("rule"), "values": original},
    }


def new_ood(card: ModelCard, mode: str, fit_scores: np.ndarray, fit_images: list[np.ndarray],
            where: str, seed: int) -> dict[str, Any]:
    """The card's ``ood`` object after ``mode`` (module doc)."""
    if mode not in OOD_MODES:
        raise TrainerError(f"--ood must be one of {', '.join(OOD_MODES)}, not {mode!r}")
    original = card.ood
    if mode == "keep":
        return dict(original)
    if mode == "refit":
        rng = np.random.default_rng(seed)
        chosen = sorted(rng.choice(len(fit_images), size=min(OOD_SAMPLE, len(fit_images)), replace=False))
        fitted = fit_ood([fit_images[k] for k in chosen])
        return {**fitted, "fitted_on": f"{len(chosen)} images of {where}",
                "original": {"method": original.get("method"), "threshold": original.get("threshold")}}
    if not has_check(original):
        return dict(original)  # no statistics to set a threshold for (the report says so)
    percentile = float(original.get("percentile", DEFAULT_PERCENTILE))
    threshold = float(f"{float(np.percentile(fit_scores, percentile)):.7g}")
    return {**original, "threshold": threshold, "original_threshold": original.get("threshold"),
            "threshold_fitted_on": (f"{percentile:g}th percentile of the scores of {len(fit_scores)} images of "
                                    f"{where} (the statistics are the original's)")}
