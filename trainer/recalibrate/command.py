"""``cxr-train calibrate``: refit an exported pair's calibration, thresholds and OOD threshold on a
site's own labelled images, keeping the original.

    cxr-train calibrate --model NAME.onnx --data DIR [--labels-csv F] [--rule prevalence|youden|...]
                        [--calibration platt|temperature|none|keep] [--ood threshold|refit|keep]
                        [--holdout 0.5] [--out NEW.onnx] [--json F] [--markdown F]

The parser is added to ``cxr-train``'s; the work (``run.recalibrate``: ONNX, ONNX Runtime, torch
for the fit) is imported when the command runs, so building ``cxr-train``'s parser stays fast.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..data.readers import add_dataset_arguments
from ..data.split import SUBSETS
from ..evaluation.outputs import print_and_write
from ..evaluation.threshold_rules import DEFAULT_RULE

# fit.CALIBRATIONS, fit.OOD_MODES, without importing the fit here (--rule is checked by threshold_rules)
CALIBRATIONS = ("platt", "temperature", "none", "keep")
OOD_MODES = ("threshold", "refit", "keep")


def add_calibrate_command(commands: Any) -> None:
    """Add ``calibrate`` to ``cxr-train``'s subcommands (``commands`` from ``add_subparsers``)."""
    parser = commands.add_parser(
        "calibrate", help="recalibrate an exported pair on local labelled images (calibration, thresholds, OOD "
                          "threshold), writing a new pair and measuring the change on held-out patients")
    parser.add_argument("--model", required=True, metavar="NAME.onnx", help="the pair to recalibrate (kept unchanged)")
    parser.add_argument("--data", required=True, metavar="DIR",
                        help="local labelled images (NIH, CheXpert, MIMIC-CXR, ...: the label file in it or above)")
    parser.add_argument("--labels-csv", metavar="FILE", help="the dataset's label file, if not found from --data")
    add_dataset_arguments(parser)
    parser.add_argument("--split-file", metavar="split.csv",
                        help="with --subset: only that subset of the model's own split (e.g. its test images)")
    parser.add_argument("--subset", choices=SUBSETS, help="which subset of --split-file to use")
    parser.add_argument("--images", type=int, metavar="N", help="only the first N labelled images by name")
    parser.add_argument("--holdout", type=float, default=0.5,
                        help="share of patients held out to measure the change on (default %(default)s)")
    parser.add_argument("--calibration", choices=CALIBRATIONS, default="platt",
                        help="per-label calibration on the raw logits; keep: the model's own (default %(default)s)")
    parser.add_argument("--rule", default=DEFAULT_RULE, metavar="RULE",
                        help="how each label's threshold is chosen on the fit part, as cxr-train train's "
                             "--threshold-rule: prevalence (default), youden, specificity:S, sensitivity:S, fbeta:B")
    parser.add_argument("--ood", choices=OOD_MODES, default="threshold",
                        help="threshold: refit the OOD threshold only; refit: the OOD statistics too; keep")
    parser.add_argument("--out", metavar="NEW.onnx", help="the new pair (default NAME-local.onnx beside NAME.onnx)")
    parser.add_argument("--force", action="store_true", help="replace an existing NEW pair (never the original)")
    parser.add_argument("--json", metavar="OUT.json", help="also write the full report here")
    parser.add_argument("--markdown", metavar="OUT.md", help="also write the tables here")
    parser.add_argument("--threads", type=int, default=0, help="ONNX Runtime threads; 0 = its default")
    parser.add_argument("--bootstrap", type=int, default=1000, help="resamples for the 95%% intervals")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split and of the bootstrap")
    parser.set_defaults(run_command=run_calibrate_command)


def run_calibrate_command(args: argparse.Namespace) -> int:
    """Recalibrate, print the tables, write the files asked for; problems raise ``CxrError``."""
    from .run import recalibrate
    from .table import recalibration_markdown

    def progress(done: int, total: int) -> None:
        if done == total or done % 128 == 0:
            print(f"cxr-train calibrate: {done}/{total} images", file=sys.stderr)

    def say(line: str) -> None:
        print(f"cxr-train calibrate: {line}", file=sys.stderr)

    report = recalibrate(
        args.model, args.data, out=args.out, labels_csv=args.labels_csv, dataset=args.dataset,
        uncertainty=args.uncertainty, split_file=args.split_file, subset=args.subset, images=args.images,
        holdout=args.holdout, calibration=args.calibration, rule=args.rule, ood=args.ood, force=args.force,
        threads=args.threads or None, resamples=args.bootstrap, seed=args.seed, on_progress=progress, say=say)
    markdown = recalibration_markdown(report)
    print_and_write("calibrate", markdown, report, args.markdown, args.json)
    return 0
