"""Our test figures beside the published per-label AUROCs on ChestX-ray14, as a Markdown table.

The three published columns are the per-label AUROCs that Rajpurkar et al. 2017 (CheXNet,
arXiv:1711.05225, Table 2) tabulate for:

* Wang et al. 2017, "ChestX-ray8: Hospital-scale chest X-ray database and benchmarks on
  weakly-supervised classification and localization of common thorax diseases", CVPR 2017
  (arXiv:1705.02315; ResNet-50);
* Yao et al. 2017, "Learning to diagnose from scratch by exploiting dependencies among labels",
  arXiv:1710.10501;
* CheXNet itself (DenseNet-121, ImageNet-pretrained, 224 px).

Each paper measured on its own test images (CheXNet on a random 20% of the patients), none on
this run's split, so the columns show the order of magnitude to expect, not a paired comparison.
The values were checked against the CheXNet paper's table as reproduced in the README of the
widely used re-implementation arnoweng/CheXNet.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PUBLISHED_SOURCES = {
    "Wang et al. 2017": "Wang et al., ChestX-ray8, CVPR 2017 (arXiv:1705.02315)",
    "Yao et al. 2017": "Yao et al., arXiv:1710.10501",
    "CheXNet": "Rajpurkar et al., CheXNet, arXiv:1711.05225",
}
PUBLISHED_TABLE = "Rajpurkar et al. 2017 (CheXNet, arXiv:1711.05225), Table 2"

# label -> (Wang et al. 2017, Yao et al. 2017, CheXNet), in the order of PUBLISHED_SOURCES
PUBLISHED_AUROC: dict[str, tuple[float, float, float]] = {
    "Atelectasis": (0.716, 0.772, 0.8094),
    "Cardiomegaly": (0.807, 0.904, 0.9248),
    "Effusion": (0.784, 0.859, 0.8638),
    "Infiltration": (0.609, 0.695, 0.7345),
    "Mass": (0.706, 0.792, 0.8676),
    "Nodule": (0.671, 0.717, 0.7802),
    "Pneumonia": (0.633, 0.713, 0.7680),
    "Pneumothorax": (0.806, 0.841, 0.8887),
    "Consolidation": (0.708, 0.788, 0.7901),
    "Edema": (0.835, 0.882, 0.8878),
    "Emphysema": (0.815, 0.829, 0.9371),
    "Fibrosis": (0.769, 0.767, 0.8047),
    "Pleural_Thickening": (0.708, 0.765, 0.8062),
    "Hernia": (0.767, 0.914, 0.9164),
}


def published_means() -> tuple[float, ...]:
    """Each paper's mean over the 14 labels (computed from the table, not quoted)."""
    columns = list(zip(*PUBLISHED_AUROC.values()))
    return tuple(sum(column) / len(column) for column in columns)


def _number(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _ece_cell(ece: Mapping[str, Any] | None, label: str | None) -> str:
    """``before -> after`` when the report has both, else the one value."""
    if not ece:
        return "n/a"
    if "before" in ece:
        pick = (lambda part: part["mean"]) if label is None else (lambda part: part["per_label"].get(label))
        return f"{_number(pick(ece['before']))} → {_number(pick(ece['after']))}"
    return _number(ece["mean"] if label is None else ece["per_label"].get(label))


def comparison_table(report: Mapping[str, Any], title: str) -> str:
    """A Markdown page: per label our test AUROC with its 95% interval, PR-AUC, sensitivity,
    specificity and F1 at the operating points, ECE, and the three published AUROCs.

    ``report``: the ``metrics`` of a training run (``evaluate_scores`` plus ``operating_points``
    and ``calibration_error``) or a report of ``evaluate_predictions``.
    """
    points = report.get("operating_points") or {}
    ece = report.get("calibration_error")
    ece_title = "ECE before → after calibration" if ece and "before" in ece else "ECE"
    names = list(PUBLISHED_SOURCES)
    lines = [
        f"# {title}: per-label results beside the published AUROCs",
        "",
        f"{report.get('n_images', 'n/a')} images. AUROC with a percentile bootstrap 95% interval "
        f"({report.get('bootstrap', {}).get('resamples', 0)} resamples by "
        f"{report.get('bootstrap', {}).get('unit', 'image')}); PR-AUC = average precision.",
    ]
    if points:
        lines.append(f"Sensitivity, specificity and F1 at the thresholds of: {points.get('rule', 'n/a')}.")
        per_image = points.get("per_image")
        if per_image:
            ratio = per_image.get("ratio")
            lines.append(f"Flags per image: {per_image['flags']:.2f} against {per_image['true_labels']:.2f} true "
                         f"labels per image (ratio {'n/a' if ratio is None else f'{ratio:.2f}'}; flags that "
                         "mean something come at 0.5x to 2x the true labels).")
    if ece:
        lines.append(f"ECE: {ece.get('bins', 10)} equal-width probability bins"
                     + (f", on the {ece['split']} split" if ece.get("split") else "") + ".")
    lines += [
        f"Published AUROCs as tabulated in {PUBLISHED_TABLE}: "
        + "; ".join(f"{k} = {v}" for k, v in PUBLISHED_SOURCES.items())
        + ". Each was measured on its own test images, not on these.",
        "",
        "| Label | Positives | AUROC (95% CI) | PR-AUC | Sensitivity | Specificity | F1 | "
        + ece_title + " | " + " | ".join(names) + " |",
        "|---|---:|---|---:|---:|---:|---:|---|" + "---:|" * len(names),
    ]
    per_point = points.get("per_label", {})
    precision = report.get("average_precision", {})
    for label, entry in report["auroc"].items():
        if entry is None:
            auroc_cell, positives = "n/a (one class only)", "n/a"
        else:
            ci = entry.get("ci95")
            auroc_cell = f"{entry['value']:.3f}" + (f" ({ci[0]:.3f}–{ci[1]:.3f})" if ci else "")
            positives = str(entry["n_pos"])
        point = per_point.get(label) or {}
        published = PUBLISHED_AUROC.get(label)
        lines.append(
            f"| {label.replace('_', ' ')} | {positives} | {auroc_cell} | {_number(precision.get(label))} | "
            f"{_number(point.get('sensitivity'))} | {_number(point.get('specificity'))} | "
            f"{_number(point.get('f1'))} | {_ece_cell(ece, label)} | "
            + " | ".join(_number(v, 4 if i == 2 else 3) for i, v in enumerate(published or (None,) * len(names)))
            + " |"
        )
    mean_point = points.get("mean", {})
    means = published_means()
    mean_ci = report.get("mean_auroc_ci95")
    mean_cell = _number(report.get("mean_auroc")) + (f" ({mean_ci[0]:.3f}–{mean_ci[1]:.3f})" if mean_ci else "")
    lines.append(
        f"| **Mean** ({report.get('labels_with_auroc', 'n/a')} labels) | | {mean_cell} | "
        f"{_number(report.get('mean_average_precision'))} | {_number(mean_point.get('sensitivity'))} | "
        f"{_number(mean_point.get('specificity'))} | {_number(mean_point.get('f1'))} | {_ece_cell(ece, None)} | "
        + " | ".join(_number(v, 4 if i == 2 else 3) for i, v in enumerate(means)) + " |"
    )
    lines.append(f"| **Micro-average** | | {_number(report.get('micro_auroc'))} | | | | | |"
                 + " |" * len(names))
    return "\n".join(lines) + "\n"
