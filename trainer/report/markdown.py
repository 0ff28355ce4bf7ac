"""The report as Markdown (``report.md``): one table per section, from the report's JSON form."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..evaluation import expert_labels, faithfulness, localize, subgroups


def _fmt(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _change(entry: dict[str, Any] | None) -> str:
    if entry is None or entry["change"] is None:
        return "–"
    ci = entry.get("ci95")
    return f"{entry['change']:+.4f}" + (f" ({ci[0]:+.3f} to {ci[1]:+.3f})" if ci else "")


def classification_markdown(section: dict[str, Any], labels: tuple[str, ...]) -> str:
    plain, tta = section["plain"], section.get("tta")
    header = "| label | pos/neg | AUROC | 95% CI | card's test AUROC |"
    rule = "|---|---:|---:|---|---:|"
    if tta:
        header += f" with TTA ({tta['mode']}) | change |"
        rule += "---:|---:|"
    lines = [header, rule]
    dataset, not_annotated = section.get("dataset", "nih"), set(section.get("not_annotated", ()))
    for label in labels:
        entry = plain["auroc"].get(label)
        card = section["card_test_auroc"].get(label)
        if entry is None:
            why = f"not annotated by {dataset}" if label in not_annotated else "one class"
            row = f"| {label} | {why} | – | – | {_fmt(card)} |"
        else:
            ci = entry.get("ci95")
            ci_text = f"{ci[0]:.3f}–{ci[1]:.3f}" if ci else "–"
            row = f"| {label} | {entry['n_pos']}/{entry['n_neg']} | {entry['value']:.3f} | {ci_text} | {_fmt(card)} |"
        if tta:
            other, change = tta["report"]["auroc"].get(label), tta["change"]["per_label"].get(label)
            row += f" {_fmt(other['value'] if other else None)} | {_change(change)} |"
        lines.append(row)
    mean = f"| mean | | {_fmt(plain['mean_auroc'])} | | {_fmt(section['card_mean_auroc'])} |"
    if tta:
        mean_change = {"change": tta["change"]["mean_change"], "ci95": tta["change"]["mean_change_ci95"]}
        mean += f" {_fmt(tta['report']['mean_auroc'])} | {_change(mean_change)} |"
    lines.append(mean)
    lines.append("")
    lines.append(f"{plain['n_images']} images labelled by {dataset}; intervals: {plain['bootstrap']['resamples']} "
                 f"bootstrap resamples by {plain['bootstrap']['unit']}. The card's AUROC (internal validation) was "
                 "measured on the run's test split by the trainer.")
    if dataset != "nih" or not_annotated:
        lines.append(f"External validation: the model's labels are paired with {dataset}'s through the label "
                     "taxonomy (trainer/data/taxonomy.py); a label it does not annotate has no figure, and a target "
                     "it leaves unknown (uncertain, under --uncertainty ignore) counts for no figure.")
    if tta:
        lines.append(f"TTA changed probabilities by at most {tta['max_abs_probability_change']:.4f}; the change in "
                     "AUROC has a paired bootstrap 95% interval (the same resamples with and without TTA).")
    return "\n".join(lines)


def report_markdown(report: dict[str, Any]) -> str:
    """The whole report as Markdown (what ``report.md`` holds)."""
    model, data, labels = report["model"], report["data"], tuple(report["model"]["labels"])
    if data.get("split_file"):
        check = ("its lists hash to the split in the model card" if data.get("matches_card")
                 else "the card records no split hash to check it against")
        split = f"`{data['subset']}` split of `{Path(data['split_file']).name}` ({check})"
    else:
        split = "all labelled images (no split file: may include images the model was trained on)"
    lines = [
        f"# Evaluation of `{model['name']}` ({model['arch']}, {model['input_size'][0]} px, model_id "
        f"{model['model_id'][:12]})", "",
        f"Images: {data['evaluated']} — {split}; data `{data['folder']}`.",
        f"Predictions: {report['run']['how']}.",
    ]
    if data["unreadable"]:
        lines.append(f"Left out, unreadable: {len(data['unreadable'])} — " + "; ".join(data["unreadable"].values()))
    dataset = data.get("dataset", "nih")
    title = "## Classification (AUROC)" + (f" on {dataset}'s labels: external validation" if dataset != "nih" else "")
    lines += ["", title, "", classification_markdown(report["classification"], labels)]
    box_file = Path((report["localization"] or {}).get("box_source") or "BBox_List_2017.csv").name
    lines += ["", f"## Localisation ({box_file}, Wang et al. 2017's protocol)", ""]
    if report["localization"] is None:
        lines.append(data["note_localization"])
    else:
        lines.append(localize.markdown(report["localization"]))
    if report.get("faithfulness"):
        lines += ["", "## Heatmap faithfulness (deletion test, ROAD imputation)", "",
                  faithfulness.markdown(report["faithfulness"], labels)]
    lines += ["", "## Subgroups (sex, age band, view position)", "",
              subgroups.markdown(report["subgroups"], labels)]
    lines += ["", "## Expert labels (Google 2019, radiologist-adjudicated)", ""]
    if report["expert_labels"] is None:
        lines.append(data["note_expert_labels"])
    else:
        lines.append(expert_labels.markdown(report["expert_labels"]))
    return "\n".join(lines) + "\n"
