"""``cxr-train report``: the evaluations the literature reports, for one exported model pair.

    cxr-train report --model M.onnx --data DIR [--split-file split.csv] [--subset test]
                     [--out DIR] [--tta none|flip|tencrop] [--faithfulness-images N]

The command's parser is added to ``cxr-train``'s; what it measures is ``sections.build_report``
and ``report.md`` is ``markdown.report_markdown``. Those read images and run the model (the
viewer's loader, ONNX Runtime), so they are imported when the command runs: building
``cxr-train``'s parser stays as fast as it was.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from ..data.readers import add_dataset_arguments
from ..data.split import SUBSETS
from ..evaluation.tta import TTA_MODES


def write_report(report: dict[str, Any], out: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Write ``report.json`` and ``report.md`` into ``out``; return their paths."""
    from .markdown import report_markdown

    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    json_path, md_path = folder / "report.json", folder / "report.md"
    json_path.write_text(json.dumps(report, indent=1, allow_nan=False), encoding="utf-8")
    md_path.write_text(report_markdown(report), encoding="utf-8")
    return json_path, md_path


def add_report_command(commands: Any) -> None:
    """Add ``report`` to ``cxr-train``'s subcommands (``commands`` from ``add_subparsers``)."""
    parser = commands.add_parser(
        "report", help="evaluate an exported model: AUROC (+TTA), localisation, subgroups, expert labels, "
                       "heatmap faithfulness")
    parser.add_argument("--model", required=True, metavar="M.onnx", help="classifier with M.gradcam.onnx beside it")
    parser.add_argument("--data", required=True, metavar="DIR",
                        help="labelled images (NIH, CheXpert, MIMIC-CXR, ...: the label file in it or above)")
    parser.add_argument("--labels-csv", metavar="FILE", help="the dataset's label file, if not found from --data")
    add_dataset_arguments(parser)
    parser.add_argument("--split-file", metavar="split.csv",
                        help="the training run's split.csv (default: split.csv beside the model, if any)")
    parser.add_argument("--subset", choices=SUBSETS,
                        help="which split to evaluate (default test; all without a split file)")
    parser.add_argument("--out", metavar="DIR",
                        help="where report.json and report.md go (default runs/report-NAME-TIME)")
    parser.add_argument("--tta", choices=TTA_MODES, default="none", help="test-time augmentation to compare with")
    parser.add_argument("--bbox-csv", metavar="FILE",
                        help="box list (NIH BBox_List_2017.csv, VinDr-CXR, RSNA), if not found from --data")
    parser.add_argument("--expert-labels", metavar="FILE",
                        help="Google's adjudicated labels CSV, if not found from --data")
    parser.add_argument("--threads", type=int, default=0, help="ONNX Runtime threads; 0 = its default")
    parser.add_argument("--bootstrap", type=int, default=1000, help="resamples for the 95%% intervals")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--faithfulness-images", type=int, default=20, metavar="N",
                        help="images per label for the heatmap faithfulness test (0 = skip it)")
    parser.set_defaults(run_command=run_report_command)


def run_report_command(args: argparse.Namespace) -> int:
    """Build, write and print the report; expected problems raise ``CxrError`` for the CLI."""
    from .markdown import report_markdown
    from .sections import CHUNK, build_report

    model = Path(args.model)
    split_file = args.split_file
    if split_file is None and (model.parent / "split.csv").is_file():
        split_file = model.parent / "split.csv"
        print(f"cxr-train report: using {split_file} (the split of the run beside the model)", file=sys.stderr)
    out = Path(args.out) if args.out else Path("runs") / f"report-{model.stem}-{time.strftime('%Y%m%d-%H%M%S')}"

    def progress(done: int, total: int) -> None:
        if done == total or done % (CHUNK * 8) == 0:
            print(f"cxr-train report: {done}/{total} images", file=sys.stderr)

    report = build_report(
        model, args.data, labels_csv=args.labels_csv, split_file=split_file, subset=args.subset, tta=args.tta,
        bbox_csv=args.bbox_csv, expert_csv=args.expert_labels, threads=args.threads or None,
        resamples=args.bootstrap, seed=args.seed, on_progress=progress, dataset=args.dataset,
        uncertainty=args.uncertainty, faithfulness_images=max(args.faithfulness_images, 0),
    )
    json_path, md_path = write_report(report, out)
    print(report_markdown(report))
    print(f"cxr-train report: wrote {json_path} and {md_path}", file=sys.stderr)
    return 0
