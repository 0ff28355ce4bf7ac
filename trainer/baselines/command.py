"""``cxr-train baselines``: classical models on a network's features, beside the network.

    cxr-train baselines [--model M.onnx] --data DIR [--split-file split.csv] [--images N]
                        [--features pooled|pixels|both] [--markdown OUT.md] [--json OUT.json]

The parser is added to ``cxr-train``'s; the work (``run.run_baselines``: ONNX Runtime and
scikit-learn) is imported when the command runs, so building ``cxr-train``'s parser stays fast.
Nothing is written beside the user's images or model: only the files asked for.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..evaluation.outputs import print_and_write

FEATURE_CHOICES = {"pooled": ("pooled",), "pixels": ("pixels",), "both": ("pooled", "pixels")}
BASELINE_NAMES = ("RF", "kNN", "Tree", "SVM")  # models.BASELINES, without importing scikit-learn here


def add_baselines_command(commands: Any) -> None:
    """Add ``baselines`` to ``cxr-train``'s subcommands (``commands`` from ``add_subparsers``)."""
    parser = commands.add_parser(
        "baselines", help="random forest, kNN, decision tree and SVM on a model's pooled features and on pixels, "
                          "scored beside the model on its test images")
    parser.add_argument("--model", metavar="M.onnx",
                        help="an exported classifier (M.gradcam.onnx beside it); default: the bundled demo model")
    parser.add_argument("--data", required=True, metavar="DIR", help="NIH images (Data_Entry CSV in it or above)")
    parser.add_argument("--labels-csv", metavar="FILE", help="the Data_Entry CSV, if not found from --data")
    parser.add_argument("--split-file", metavar="split.csv",
                        help="the model's training run's split.csv (default: split.csv beside the model, else the "
                             "demo model's split if it is this model's, else a new patient-level split)")
    parser.add_argument("--images", type=int, metavar="N",
                        help="a quick run on N images: the first by name of the training and of the test "
                             "images, in the split's proportions")
    parser.add_argument("--features", choices=tuple(FEATURE_CHOICES), default="both",
                        help="what the baselines learn from: the model's pooled features, downsampled pixels, or both")
    parser.add_argument("--baselines", nargs="+", choices=BASELINE_NAMES, default=list(BASELINE_NAMES),
                        metavar="NAME", help=f"which classical models ({', '.join(BASELINE_NAMES)}; default all)")
    parser.add_argument("--pixel-size", type=int, default=32, metavar="PX",
                        help="side of the downsampled image of the pixel features (default %(default)s)")
    parser.add_argument("--markdown", metavar="OUT.md", help="also write the table here")
    parser.add_argument("--json", metavar="OUT.json", help="also write every measure and score here")
    parser.add_argument("--threads", type=int, default=0,
                        help="ONNX Runtime threads and scikit-learn jobs; 0 = their defaults")
    parser.add_argument("--bootstrap", type=int, default=1000, help="resamples for the 95%% intervals")
    parser.add_argument("--seed", type=int, default=0, help="seed of the models, the bootstrap and a new split")
    parser.set_defaults(run_command=run_baselines_command)


def run_baselines_command(args: argparse.Namespace) -> int:
    """Compare, print the table, write the files asked for; problems raise ``CxrError``."""
    from viewer.core.resources import demo_model_path

    from .run import run_baselines
    from .table import baselines_markdown

    model = Path(args.model) if args.model else demo_model_path()

    def progress(done: int, total: int) -> None:
        if done == total or done % 128 == 0:
            print(f"cxr-train baselines: features of {done}/{total} images", file=sys.stderr)

    def say(line: str) -> None:
        print(f"cxr-train baselines: {line}", file=sys.stderr)

    result = run_baselines(
        model, args.data, labels_csv=args.labels_csv, split_file=args.split_file, images=args.images,
        feature_sets=FEATURE_CHOICES[args.features], baselines=args.baselines, pixel_size=args.pixel_size,
        threads=args.threads or None, resamples=args.bootstrap, seed=args.seed, on_progress=progress, say=say)
    markdown = baselines_markdown(result)
    print_and_write("baselines", markdown, result, args.markdown, args.json)
    return 0
