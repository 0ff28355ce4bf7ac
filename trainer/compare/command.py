"""``cxr-train compare``: two exported model pairs on the same labelled images.

    cxr-train compare --model A.onnx --model B.onnx --data DIR [--split-file split.csv --subset test]
                      [--markdown OUT.md] [--json OUT.json] [--top N]

The parser is added to ``cxr-train``'s; the work (``run.build_comparison``: ONNX Runtime,
scikit-learn) is imported when the command runs, so building ``cxr-train``'s parser stays fast.
Nothing is written beside the user's images or models: only the files asked for.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..data.readers import add_dataset_arguments
from ..data.split import SUBSETS
from ..errors import TrainerError
from ..evaluation.outputs import print_and_write


def add_compare_command(commands: Any) -> None:
    """Add ``compare`` to ``cxr-train``'s subcommands (``commands`` from ``add_subparsers``)."""
    parser = commands.add_parser(
        "compare", help="two exported models on the same images: paired AUROC difference, sensitivity at 90%% "
                        "specificity, flags that flip, the largest probability changes")
    parser.add_argument("--model", action="append", metavar="M.onnx",
                        help="an exported classifier (M.gradcam.onnx beside it); give --model twice: A, then B")
    parser.add_argument("--data", required=True, metavar="DIR",
                        help="labelled images (NIH, CheXpert, MIMIC-CXR, ...: the label file in it or above)")
    parser.add_argument("--labels-csv", metavar="FILE", help="the dataset's label file, if not found from --data")
    add_dataset_arguments(parser)
    parser.add_argument("--split-file", metavar="split.csv",
                        help="a run's split.csv, checked against both cards (default: every labelled image)")
    parser.add_argument("--subset", choices=SUBSETS, help="which split to compare on (default test; all without "
                                                          "a split file)")
    parser.add_argument("--top", type=int, default=10, metavar="N",
                        help="how many of the largest probability changes to list (default %(default)s)")
    parser.add_argument("--markdown", metavar="OUT.md", help="also write the tables here")
    parser.add_argument("--json", metavar="OUT.json", help="also write every figure here")
    parser.add_argument("--threads", type=int, default=0, help="ONNX Runtime threads; 0 = its default")
    parser.add_argument("--bootstrap", type=int, default=1000, help="resamples for the 95%% intervals")
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(run_command=run_compare_command)


def run_compare_command(args: argparse.Namespace) -> int:
    """Compare, print the tables, write the files asked for; problems raise ``CxrError``."""
    models = args.model or []
    if len(models) != 2:
        raise TrainerError(f"compare needs two models, --model A.onnx --model B.onnx (got {len(models)})")
    from .images import CHUNK
    from .markdown import comparison_markdown
    from .run import build_comparison

    def progress(done: int, total: int) -> None:
        if done == total or done % (CHUNK * 8) == 0:
            print(f"cxr-train compare: {done}/{total} images", file=sys.stderr)

    result = build_comparison(
        models[0], models[1], args.data, labels_csv=args.labels_csv, split_file=args.split_file,
        subset=args.subset, dataset=args.dataset, uncertainty=args.uncertainty, threads=args.threads or None,
        resamples=args.bootstrap, seed=args.seed, top=args.top, on_progress=progress)
    markdown = comparison_markdown(result)
    print_and_write("compare", markdown, result, args.markdown, args.json)
    return 0
