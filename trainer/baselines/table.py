"""The comparison as Markdown: one row per finding, one column per model (the network first).

Cells are written as ``cxr-train evaluate --markdown`` and the report write a network's AUROC
(``trainer.evaluation.published.comparison_table``): three decimals and the percentile
bootstrap 95% interval, ``0.712 (0.601–0.815)``; "n/a" with the reason where there is no AUROC.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def auroc_cell(entry: Mapping[str, Any] | None, not_evaluable: str | None = None) -> str:
    """``value (low–high)``; the reason when the finding has no AUROC in this column."""
    if not_evaluable:
        return f"n/a ({not_evaluable})"
    if entry is None:
        return "n/a (one class only)"
    ci = entry.get("ci95")
    return f"{entry['value']:.3f}" + (f" ({ci[0]:.3f}–{ci[1]:.3f})" if ci else "")


def mean_cell(report: Mapping[str, Any]) -> str:
    """The mean AUROC over the column's findings with its interval."""
    mean, ci = report.get("mean_auroc"), report.get("mean_auroc_ci95")
    if mean is None:
        return "n/a"
    return f"{mean:.3f}" + (f" ({ci[0]:.3f}–{ci[1]:.3f})" if ci else "")


def baselines_markdown(result: Mapping[str, Any]) -> str:
    """The page: what was compared on which images, then the table (``result`` as ``run_baselines``
    returns it)."""
    columns: Sequence[Mapping[str, Any]] = result["columns"]
    labels: Sequence[str] = result["model"]["labels"]
    data, run, model = result["data"], result["run"], result["model"]
    positives = result["positives"]
    cap = data.get("images_cap")
    lines = [
        f"# Classical baselines beside the network `{model['file']}` ({model['arch']})",
        "",
        f"Test: {data['test_images']} images; the baselines trained on {data['train_images']} ({data['trained_on']}). "
        f"Split: {data['chosen_because']}"
        + (f" (`{Path(data['split_file']).name}`)" if data.get("split_file") else "")
        + (f" (capped at {cap} images: the first by name of each side)" if cap else "") + ".",
        f"AUROC with a percentile bootstrap 95% interval ({run['bootstrap']} resamples by patient, seed "
        f"{run['seed']}, the same draws in every column). Features: {run['features_described']}.",
    ]
    if data.get("note"):
        lines.append(f"Note: {data['note']}.")
    lines += [
        "",
        "| Label | Positives (train / test) | " + " | ".join(c["title"] for c in columns) + " |",
        "|---|---:|" + "---|" * len(columns),
    ]
    for label in labels:
        cells = [auroc_cell(c["report"]["auroc"].get(label), c["not_evaluable"].get(label)) for c in columns]
        count = positives[label]
        lines.append(f"| {label.replace('_', ' ')} | {count['train']} / {count['test']} | " + " | ".join(cells) + " |")
    lines.append("| **Mean** | | " + " | ".join(mean_cell(c["report"]) for c in columns) + " |")
    lines.append("| Findings in the mean | | " + " | ".join(str(c["report"]["labels_with_auroc"]) for c in columns)
                 + " |")
    return "\n".join(lines) + "\n"
