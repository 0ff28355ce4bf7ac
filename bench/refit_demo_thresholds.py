"""Refit the demo model's thresholds with the default rule, from its own validation predictions.

The weights stay as they are: the bundled classifier is run (through the viewer's own
preprocessing and ONNX session) on the 50 validation and 100 test images of its split
(``configs/demo-split.csv``) in ``../shared/data/nih-sample``; the thresholds are chosen on
validation by ``trainer.evaluation.thresholds.choose_thresholds`` (the default rule, the training
split's prevalence as the guard's prior), measured once on test, and written into the card of
both ONNX files with ``viewer.core.onnx_card.write_card``. The classifier's outputs are checked
to be bit-identical before and after.

    .venv/bin/python -m bench.refit_demo_thresholds            # report only
    .venv/bin/python -m bench.refit_demo_thresholds --write    # and rewrite the two cards
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

from trainer.evaluation.metrics import operating_points
from trainer.evaluation.thresholds import DEFAULT_RULE, choose_thresholds, prevalence
from viewer.core.findings import flags_at
from viewer.core.model import ModelPair, sidecar_path_for
from viewer.core.model_card import ModelCard
from viewer.core.nih import read_data_entry
from viewer.core.onnx_card import read_card, write_card
from viewer.core.preprocess import preprocess

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO / "resources" / "models" / "demo.onnx"
SPLIT = REPO / "configs" / "demo-split.csv"
DATA = REPO.parent / "shared" / "data" / "nih-sample"
FITTED_ON = ("refitted after training (issue 23) from this model's predictions on the 50 validation "
             "images of configs/demo-split.csv by bench/refit_demo_thresholds.py; the weights are unchanged")


def split_names(split_csv: Path) -> dict[str, list[str]]:
    """Image names of each split of ``split_csv`` (Image Index, Patient ID, split)."""
    names: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    with open(split_csv, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            names[row["split"].strip()].append(row["Image Index"])
    return names


def targets(names: list[str], labels: tuple[str, ...], data: Path) -> np.ndarray:
    """The [N, L] NIH targets of ``names`` from the Data_Entry file."""
    entries = read_data_entry(data / "Data_Entry_2017_v2020.csv")
    return np.array([[float(label in entries[n].labels) for label in labels] for n in names], np.float64)


def predict(pair: ModelPair, names: list[str], data: Path, batch: int = 10) -> np.ndarray:
    """The classifier's probabilities [N, L] for the images ``names``, prepared as the viewer does."""
    height, width = pair.card.input.height, pair.card.input.width
    out = []
    for start in range(0, len(names), batch):
        images = np.stack([preprocess(data / "images" / n, height, width) for n in names[start:start + batch]])
        out.append(pair.classify(images[:, None])[0])
    return np.concatenate(out)


def refit(card: ModelCard, names: dict[str, list[str]], probs: dict[str, np.ndarray], data: Path) -> ModelCard:
    """``card`` with thresholds chosen on validation by the default rule and the test operating points."""
    labels = card.labels
    chosen = choose_thresholds(targets(names["val"], labels, data), probs["val"], labels, rule=DEFAULT_RULE,
                               prior=prevalence(targets(names["train"], labels, data)))
    points = operating_points(targets(names["test"], labels, data), probs["test"], chosen.values, labels, chosen.rule)
    thresholds = {**chosen.to_card(), "fitted_on": FITTED_ON}
    metrics = {**card.metrics, "operating_points": points.to_dict()}
    return ModelCard.from_dict({**card.to_dict(), "thresholds": thresholds, "metrics": metrics}, "the refitted card")


def table(card: ModelCard) -> str:
    """The Markdown table of each label's threshold, validation and test figures."""
    points = card.metrics["operating_points"]
    lines = ["| finding | threshold | val positives | val sensitivity | val specificity | test sensitivity "
             "| test specificity | test flagged / positives |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for label in card.labels:
        entry, test = card.thresholds["per_label"][label], points["per_label"][label]

        def cell(v: float | None) -> str:
            return "n/a" if v is None else f"{v:.2f}"

        lines.append(f"| {label.replace('_', ' ')} | {card.thresholds['values'][label]:.3f} | "
                     f"{entry['val_positives']} | {cell(entry['val_sensitivity'])} | "
                     f"{cell(entry['val_specificity'])} | "
                     f"{cell(test['sensitivity'])} | {cell(test['specificity'])} | "
                     f"{test['tp'] + test['fp']} / {test['tp'] + test['fn']} |")
    per_image = points["per_image"]
    lines.append(f"\nTest: {per_image['flags']:.2f} flags per image against {per_image['true_labels']:.2f} true "
                 f"labels per image (ratio {per_image['ratio']:.2f}), {per_image['images']} images.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the cards of both demo ONNX files")
    parser.add_argument("--data", type=Path, default=DATA, help="the NIH sample (default ../shared/data/nih-sample)")
    args = parser.parse_args(argv)
    if not (args.data / "Data_Entry_2017_v2020.csv").is_file():
        print(f"{args.data}: no NIH sample (Data_Entry_2017_v2020.csv) here", file=sys.stderr)
        return 2
    names = split_names(SPLIT)
    pair = ModelPair.open(MODEL, threads=2)
    probs = {name: predict(pair, names[name], args.data) for name in ("val", "test")}
    card = refit(pair.card, names, probs, args.data)
    now = flags_at(probs["test"], pair.card.threshold_values(), pair.labels).sum(axis=1).mean()
    print(f"the bundled card's thresholds: {now:.2f} flags per test image ({pair.card.thresholds['rule'][:40]}...)")
    print(table(card))
    if args.write:
        some = np.stack([preprocess(args.data / "images" / n, 224, 224) for n in names["test"][:4]])[:, None]
        before = pair.classify(some)
        for path in (MODEL, sidecar_path_for(MODEL)):
            write_card(path, card)
        after_pair = ModelPair.open(MODEL, threads=2)
        after = after_pair.classify(some)
        assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True)), "outputs changed"
        assert read_card(sidecar_path_for(MODEL)) == after_pair.card == card
        print(f"wrote the card into {MODEL.name} and {sidecar_path_for(MODEL).name}; outputs bit-identical")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
