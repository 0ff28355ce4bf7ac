"""The held-out comparison as Markdown: the means with their paired intervals, then each label."""

from __future__ import annotations

from typing import Any

from .holdout import MEASURES

NAMES = {"ece": "ECE (10 bins)", "brier": "Brier score", "sensitivity": "Sensitivity at the pair's thresholds",
         "specificity": "Specificity at the pair's thresholds"}


def _number(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _change(entry: dict[str, Any]) -> str:
    text = "n/a" if entry["change"] is None else f"{entry['change']:+.3f}"
    interval = entry.get("change_ci95")
    return text + ("" if interval is None else f" ({interval[0]:+.3f} to {interval[1]:+.3f})")


def _arrow(entry: dict[str, Any] | None, digits: int = 3) -> str:
    if entry is None:
        return "n/a"
    return f"{_number(entry['before'], digits)} → {_number(entry['after'], digits)}"


def recalibration_markdown(report: dict[str, Any]) -> str:
    """The summary table (means over labels, change with its 95% interval) and the per-label table."""
    held, provenance = report["held_out"], report["recalibration"]
    split = provenance["split"]
    lines = [
        f"## Recalibration of `{provenance['original']['file']}` on `{provenance['data']['folder']}/`",
        "",
        f"Calibration `{provenance['calibration']}`, thresholds `{provenance['rule']}`, OOD `{provenance['ood']}`; "
        f"fitted on {split['fit_images']} images ({split['fit_patients']} patients), measured on "
        f"{held['images']} held-out images ({held['patients']} patients). Changes are after - before with a paired "
        f"patient-bootstrap 95% interval ({held['bootstrap']['resamples']} resamples).",
        "",
        "| Mean over labels | Original | Recalibrated | Change (95% CI) |",
        "|---|---|---|---|",
    ]
    for measure in MEASURES:
        entry = held["mean"].get(measure)
        if entry is not None:
            lines.append(f"| {NAMES[measure]} | {_number(entry['before'])} | {_number(entry['after'])} | "
                         f"{_change(entry)} |")
    ood = held.get("ood")
    if ood:
        lines.append(f"| Held-out images flagged out-of-distribution | {ood['flagged_before']}/{ood['images']} | "
                     f"{ood['flagged_after']}/{ood['images']} | |")
        if ood.get("note"):
            lines += ["", f"({ood['note']})"]
    lines += ["", "| Label | Pos/neg | ECE | Brier | Threshold | Sensitivity | Specificity |",
              "|---|---|---|---|---|---|---|"]
    carried = set(report["fitted"].get("thresholds_carried_for", ()))
    for label, entry in held["per_label"].items():
        if entry is None:
            lines.append(f"| {label} | not annotated | | | | | |")
            continue
        mark = " *" if label in carried else ""
        lines.append(
            f"| {label}{mark} | {entry['n_pos']}/{entry['n_neg']} | {_arrow(entry['ece'])} | "
            f"{_arrow(entry['brier'])} | {_arrow(entry['threshold'])} | {_arrow(entry['sensitivity'], 2)} | "
            f"{_arrow(entry['specificity'], 2)} |")
    if carried:
        lines += ["", "\\* one class only in the fit part (or not annotated): the original calibration and threshold "
                      "are kept for this label."]
    return "\n".join(lines) + "\n"
