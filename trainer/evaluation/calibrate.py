"""Per-label probability calibration on the validation split (temperature or Platt scaling).

``p_c = sigmoid(scale_c * logit_c + bias_c)`` with ``scale_c > 0``: positive weighting of the
loss and a small training set both leave raw sigmoid outputs far from observed frequencies, and
the viewer shows probabilities. The affine map is baked into the exported graph (recorded in the
card's ``calibration`` with ``applied_in_graph``). A positive scale keeps every AUROC and the
shape of every Grad-CAM map unchanged.

Validation splits are small (a rare finding may have two positives), so the fit is regularised
towards the identity (an L2 penalty on log-scale and bias), and labels with one class only in
validation keep the identity.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

PENALTY = 0.01  # L2 strength towards the identity, in units of the mean per-image loss


@dataclass(frozen=True)
class Calibration:
    """Per-label scale and bias applied to logits before the sigmoid."""

    method: str  # none, temperature, platt
    scale: np.ndarray  # [L] float32, > 0
    bias: np.ndarray  # [L] float32
    details: dict[str, Any]

    @classmethod
    def identity(cls, n_labels: int, method: str = "none") -> Calibration:
        return cls(method, np.ones(n_labels, np.float32), np.zeros(n_labels, np.float32), {})

    def apply(self, logits: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of ``logits`` [N, L]."""
        z = logits * self.scale[None, :] + self.bias[None, :]
        return 1.0 / (1.0 + np.exp(-z))

    def to_card(self, labels: Sequence[str]) -> dict[str, Any]:
        """The card's ``calibration`` object."""
        if self.method == "none":
            return {"method": "none", "applied_in_graph": False,
                    "note": "probabilities are the sigmoid of the network's logits"}
        return {
            "method": self.method,
            "applied_in_graph": True,
            "formula": "probability = sigmoid(scale * logit + bias), per label",
            "scale": {x: round(float(s), 6) for x, s in zip(labels, self.scale)},
            "bias": {x: round(float(b), 6) for x, b in zip(labels, self.bias)},
            "fitted_on": "validation split",
            "regularisation": f"L2 {PENALTY} towards scale 1, bias 0",
            **self.details,
        }


def _nll(logits: np.ndarray, targets: np.ndarray, scale: np.ndarray, bias: np.ndarray) -> float:
    """Mean BCE over the known targets (NaN: unknown, left out)."""
    known = ~np.isnan(targets)
    z = torch.from_numpy((logits * scale + bias).astype(np.float64)[known])
    return float(F.binary_cross_entropy_with_logits(z, torch.from_numpy(targets.astype(np.float64)[known])))


def fit_calibration(logits: np.ndarray, targets: np.ndarray, method: str, labels: Sequence[str]) -> Calibration:
    """Fit ``method`` (``none``, ``temperature``: scale only, ``platt``: scale and bias) per label."""
    n_labels = logits.shape[1]
    if method == "none" or len(logits) == 0:
        return Calibration.identity(n_labels, "none")
    if method not in ("temperature", "platt"):
        raise ValueError(f"unknown calibration {method!r}")
    x = torch.from_numpy(logits.astype(np.float64))
    # a NaN target is unknown (a label the dataset does not annotate): no part of its label's fit
    known_np = ~np.isnan(targets)
    y = torch.from_numpy(np.nan_to_num(targets.astype(np.float64)))
    known = torch.from_numpy(known_np.astype(np.float64))
    positives, counted = np.nansum(targets, axis=0), known_np.sum(axis=0)
    usable = torch.from_numpy((positives > 0) & (positives < counted))
    log_scale = torch.zeros(n_labels, dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(n_labels, dtype=torch.float64, requires_grad=True)
    params = [log_scale, bias] if method == "platt" else [log_scale]
    optimizer = torch.optim.LBFGS(params, lr=0.5, max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        z = x * log_scale.exp() + bias
        per_label = ((F.binary_cross_entropy_with_logits(z, y, reduction="none") * known).sum(dim=0)
                     / known.sum(dim=0).clamp(min=1.0))
        loss = (per_label * usable).sum() + PENALTY * (log_scale.square().sum() + bias.square().sum())
        loss.backward()
        return loss

    optimizer.step(closure)
    keep = usable.numpy()
    scale = np.where(keep, log_scale.detach().exp().numpy(), 1.0).astype(np.float32)
    shift = np.where(keep, bias.detach().numpy(), 0.0).astype(np.float32)
    identity = [label for label, k in zip(labels, keep) if not k]
    details = {
        "val_images": int(len(logits)),
        "val_nll_before": round(_nll(logits, targets, np.ones(n_labels), np.zeros(n_labels)), 6),
        "val_nll_after": round(_nll(logits, targets, scale, shift), 6),
        "identity_for": identity,  # one class only in validation: nothing to fit
    }
    return Calibration(method, scale, shift, details)
