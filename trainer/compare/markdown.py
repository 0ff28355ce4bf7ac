"""A comparison as Markdown: what was compared on which images, the table per label with the
mean row, then the largest probability changes.

Numbers as the other tables write them: three decimals, an interval as ``(low–high)``, a signed
difference ``+0.012 (-0.020–+0.041)``; "n/a" with the reason where there is no figure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def _number(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def difference_cell(value: float | None, ci: Sequence[float] | None) -> str:
    """``+0.012 (-0.020–+0.041)``: the difference B - A and its 95% interval."""
    if value is None:
        return "n/a"
    return _number(value, True) + (f" ({ci[0]:+.3f}–{ci[1]:+.3f})" if ci else "")


def flips_cell(flips: Mapping[str, int]) -> str:
    """``12 (3 pos.)``: images flagged by one model only, and how many of them are positives."""
    return f"{flips['images']} ({flips['positives']} pos.)" if flips["images"] else "0"


def _header(result: Mapping[str, Any]) -> list[str]:
    models, data, run = result["models"], result["data"], result["run"]
    lines = [f"# `{Path(models['a']['path']).name}` (A) against `{Path(models['b']['path']).name}` (B)", ""]
    for key in ("a", "b"):
        model = models[key]
        lines.append(f"- {key.upper()}: `{model['path']}` ({model['arch']}, {model['input_size'][1]}x"
                     f"{model['input_size'][0]} px, {len(model['labels'])} labels)")
    rules = [models[key]["thresholds_rule"] or "not stated" for key in ("a", "b")]
    lines.append(f"- Flags at each card's own thresholds: {rules[0]}" if rules[0] == rules[1] else
                 f"- Flags at each card's own thresholds: A's {rules[0]}; B's {rules[1]}")
    subset = data["subset"] if data.get("split_file") is None else (
        f"'{data['subset']}' of `{Path(data['split_file']).name}` (hash {data['split_hash'][:12]}"
        + (", the split both models were trained with)" if all(data["split_matches_card"].values()) else ")"))
    lines.append(f"- Images: {data['evaluated']} labelled {data['dataset']} images of `{data['folder']}`, {subset}"
                 + (f"; {len(data['unreadable'])} unreadable, left out" if data["unreadable"] else ""))
    lines.append(f"- AUROC difference B − A with a paired bootstrap 95% interval ({run['bootstrap']} resamples by "
                 f"patient, seed {run['seed']}, the same draws for both models); sensitivity at "
                 f"{run['specificity']:.0%} specificity: {result['sensitivity_rule']}")
    lines.append("- Flagged by A only / B only: images one model flags and the other does not (how many of them "
                 "are positives in brackets)")
    for note in data["notes"]:
        lines.append(f"- Note: {note}")
    pairing = result["pairing"]
    renamed = [f"{p['a']} = {p['b']} ({p['how']})" for p in pairing["pairs"] if p["how"] != "same name"]
    if renamed:
        lines.append(f"- Paired by finding: {'; '.join(renamed)}")
    for key in ("a", "b"):
        only = pairing[f"only_{key}"]
        if only:
            lines.append(f"- Only {key.upper()} has (not compared): {', '.join(only)}")
    if data["not_annotated"]:
        lines.append(f"- Not annotated by {data['dataset']} (no figures): {', '.join(data['not_annotated'])}")
    for name, why in data["unreadable"].items():
        lines.append(f"- Unreadable: `{name}`: {why}")
    return lines


def comparison_markdown(result: Mapping[str, Any]) -> str:
    """The page for a ``run.build_comparison`` result."""
    lines = _header(result) + [
        "",
        "| Label | Pos | Neg | AUROC A | AUROC B | B − A (95% CI) | Sens@90%Spec A | Sens@90%Spec B "
        "| Flagged by A only | Flagged by B only |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, entry in result["per_label"].items():
        lines.append(
            f"| {name} | {entry['n_pos']} | {entry['n_neg']} | {_number(entry['auroc_a'])} | "
            f"{_number(entry['auroc_b'])} | {difference_cell(entry['difference'], entry['difference_ci95'])} | "
            f"{_number(entry['sensitivity_at_90_specificity_a'])} | "
            f"{_number(entry['sensitivity_at_90_specificity_b'])} | "
            f"{flips_cell(entry['flagged_by_a_only'])} | {flips_cell(entry['flagged_by_b_only'])} |")
    mean = result["mean"]
    lines.append(
        f"| **Mean** ({mean['labels']} labels) | | | {_number(mean['auroc_a'])} | {_number(mean['auroc_b'])} | "
        f"{difference_cell(mean['difference'], mean['difference_ci95'])} | "
        f"{_number(mean['sensitivity_at_90_specificity_a'])} | {_number(mean['sensitivity_at_90_specificity_b'])} | "
        f"{mean['flagged_by_a_only']} | {mean['flagged_by_b_only']} |")
    changes = result["top_changes"]
    if changes:
        lines += ["", f"Largest probability changes from A to B ({len(changes)}):", "",
                  "| Image | Label | P(A) | P(B) | B − A | Flag A | Flag B | Truth |",
                  "|---|---|---:|---:|---:|:---:|:---:|:---:|"]
        truth = {1: "positive", 0: "negative", None: "unknown"}
        for c in changes:
            lines.append(f"| `{c['image']}` | {c['label']} | {c['probability_a']:.3f} | {c['probability_b']:.3f} | "
                         f"{c['change']:+.3f} | {'yes' if c['flag_a'] else 'no'} | {'yes' if c['flag_b'] else 'no'} | "
                         f"{truth[c['target']]} |")
    return "\n".join(lines) + "\n"
