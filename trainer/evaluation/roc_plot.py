"""ROC curves as a PNG: one small panel per label, with its AUROC and, when given, the operating
point chosen on validation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: the trainer never opens a window
import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import roc_curve

from viewer.core.findings import flagged

from .metrics import auroc, known_rows


def plot_roc_curves(
    targets: np.ndarray,
    scores: np.ndarray,
    labels: Sequence[str],
    out: Path,
    title: str,
    thresholds: Mapping[str, float] | None = None,
    columns: int = 4,
) -> Path:
    """Draw each label's ROC curve on ``targets``/``scores`` [N, L]; labels with one class only
    get an empty panel that says so. ``thresholds`` mark each label's operating point."""
    rows = max(1, -(-len(labels) // columns))
    figure, axes = plt.subplots(rows, columns, figsize=(3.0 * columns, 3.0 * rows), squeeze=False)
    for axis in axes.ravel()[len(labels):]:
        axis.axis("off")
    for j, (axis, label) in enumerate(zip(axes.ravel(), labels)):
        known_true, label_scores = known_rows(targets[:, j], scores[:, j])  # unknown targets (NaN) left out
        y = known_true > 0.5
        axis.plot([0, 1], [0, 1], color="0.7", linewidth=0.8, linestyle="--")
        axis.set_xlim(0, 1)
        axis.set_ylim(0, 1.01)
        axis.set_aspect("equal")
        axis.tick_params(labelsize=6)
        if y.all() or not y.any():
            axis.set_title(f"{label}\n(one class only: no curve)", fontsize=8)
            continue
        fpr, tpr, _ = roc_curve(y, label_scores)
        axis.plot(fpr, tpr, color="tab:blue", linewidth=1.2)
        if thresholds is not None and label in thresholds:
            flags = flagged(label_scores, thresholds[label])
            axis.plot([flags[~y].mean()], [flags[y].mean()], "o", color="tab:red", markersize=4)
        axis.set_title(f"{label}\nAUROC {auroc(y, label_scores):.3f} ({int(y.sum())} pos)", fontsize=8)
    for axis in axes[-1]:
        axis.set_xlabel("1 - specificity", fontsize=7)
    for axis in axes[:, 0]:
        axis.set_ylabel("sensitivity", fontsize=7)
    note = "; red: the operating point chosen on validation" if thresholds is not None else ""
    figure.suptitle(f"{title}{note}", fontsize=9)
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=100)
    plt.close(figure)
    return out
