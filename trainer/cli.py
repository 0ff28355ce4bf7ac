"""``cxr-train``: train, evaluate and export from the command line.

    cxr-train train --data DIR [--out DIR] [--config FILE.yaml] [options]  (train, evaluate, export)
    cxr-train train --resume OUT/checkpoints/last.pt                       (continue a run)
    cxr-train evaluate --predictions P.csv --data DIR [--json OUT]
    cxr-train export --checkpoint OUT/checkpoints/model.pt [--out DIR]
    cxr-train report --model M.onnx --data DIR [--split-file split.csv]     (trainer/report)
    cxr-train baselines [--model M.onnx] --data DIR [--split-file F] [--markdown F]  (trainer/baselines)
    cxr-train quantize M.onnx --data DIR --out DIR                          (an int8 copy of a pair)
    cxr-train calibrate --model M.onnx --data DIR [--out NEW.onnx]          (trainer/recalibrate: local recalibration)
    cxr-train compare --model A.onnx --model B.onnx --data DIR [--json F]   (trainer/compare)

Options of ``train`` come from ``TrainConfig``; a ``--config`` YAML file sets their defaults and
the command line overrides it. Expected problems (``CxrError``) end the program with one line on
stderr and exit status 1, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
import types
import typing
from dataclasses import fields
from pathlib import Path
from typing import Any

from viewer.core.errors import CxrError
from viewer.core.process_settings import configure_process

from . import __version__
from .config import TrainConfig, check_config, config_from_dict, load_yaml
from .data.readers import add_dataset_arguments
from .errors import TrainerError
from .export.int8 import DEFAULT_IMAGES

log = logging.getLogger("trainer")

# Options a resumed run may change: they do not change what is computed.
RESUME_MAY_CHANGE = {"out", "workers", "threads", "log_every", "cache_dir", "progress"}
EXIT_ERROR = 1
EXIT_INTERRUPTED = 130


def _option_type(hint: Any) -> tuple[type, bool]:
    """(element type, is a list) of a resolved ``TrainConfig`` type such as ``int | None``."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and len(args) == 1:
        hint = args[0]
    if typing.get_origin(hint) is list:
        return typing.get_args(hint)[0], True
    return hint, False


def add_train_options(parser: argparse.ArgumentParser, suppress: bool = False) -> None:
    """One ``--option`` per ``TrainConfig`` field (``suppress``: no defaults, to see what was typed)."""
    parser.add_argument("--config", metavar="FILE.yaml", help="YAML file of option defaults")
    parser.add_argument("--resume", metavar="LAST.pt", help="continue the run of this checkpoint exactly")
    parser.add_argument("--stop-after", type=int, metavar="N",
                        help="stop after N more epochs, as if interrupted (continue later with --resume)")
    hints = typing.get_type_hints(TrainConfig)  # the annotations are strings (postponed evaluation)
    for item in fields(TrainConfig):
        flag = "--" + item.name.replace("_", "-")
        kind, is_list = _option_type(hints[item.name])
        kwargs: dict[str, Any] = {"dest": item.name, "help": item.metadata.get("help")}
        if suppress:
            kwargs["default"] = argparse.SUPPRESS
        elif not is_list:
            kwargs["default"] = item.default
        if kind is bool:
            parser.add_argument(flag, action="store_true", **kwargs)
        elif is_list:
            parser.add_argument(flag, nargs="+" if item.name in ("views", "split_lists", "also_data") else None,
                                action="append" if item.name == "tried" else "store", type=kind, **kwargs)
        else:
            parser.add_argument(flag, type=kind, **kwargs)
    # --bad-images under the names of its two choices (--skip-bad-images was once the only way)
    for flag, choice in (("--skip-bad-images", "skip"), ("--strict-images", "stop")):
        parser.add_argument(flag, dest="bad_images", action="store_const", const=choice, default=argparse.SUPPRESS,
                            help=f"same as --bad-images {choice}")


def build_parser(train_defaults: dict[str, Any] | None = None) -> argparse.ArgumentParser:
    """The ``cxr-train`` parser; ``train_defaults`` (from ``--config``) replace the built-in defaults."""
    parser = argparse.ArgumentParser(prog="cxr-train", description="Train, evaluate and export CXR Viewer models.")
    parser.add_argument("--version", action="version", version=f"cxr-train {__version__}")
    commands = parser.add_subparsers(dest="command", required=True,
                                     metavar="{train,evaluate,export,report,baselines,quantize,calibrate,compare}")

    train = commands.add_parser("train", help="train a model, evaluate it and export the ONNX pair",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_train_options(train)
    if train_defaults:
        train.set_defaults(**train_defaults)  # timm's pattern: the file sets defaults, flags override

    evaluate = commands.add_parser("evaluate", help="score a predictions CSV (cxr-viewer batch) against a "
                                                    "dataset's labels (NIH, CheXpert, MIMIC-CXR, ...)")
    evaluate.add_argument("--predictions", required=True, metavar="P.csv",
                          help="CSV with 'Image Index' (and 'path') and prob_<Label> (or <Label>) columns")
    evaluate.add_argument("--data", metavar="DIR",
                          help="the images' folder, whose label file is in it or above (NIH needs only its "
                               "Data_Entry CSV; other datasets' images must be here, rows matched by 'path')")
    evaluate.add_argument("--labels-csv", metavar="FILE", help="the dataset's label file itself")
    add_dataset_arguments(evaluate)
    evaluate.add_argument("--json", metavar="OUT", help="also write the full report as JSON here")
    evaluate.add_argument("--markdown", metavar="OUT.md",
                          help="also write the table beside Wang et al. 2017, Yao et al. 2017 and CheXNet here")
    evaluate.add_argument("--roc", metavar="OUT.png", help="also draw the ROC curves here")
    evaluate.add_argument("--bootstrap", type=int, default=1000, help="resamples for the 95%% intervals")
    evaluate.add_argument("--seed", type=int, default=0)

    export = commands.add_parser("export", help="evaluate and export a checkpoint of an earlier run")
    export.add_argument("--checkpoint", required=True, metavar="FILE.pt", help="model.pt, best.pt or last.pt")
    export.add_argument("--out", metavar="DIR", help="where to write (default: the run's folder)")
    export.add_argument("--data", metavar="DIR", help="the run's data folder, if it moved")
    export.add_argument("--name", help="NAME of NAME.onnx (default: the run's)")
    export.add_argument("--threads", type=int, default=0, help="torch threads; 0 = torch's default")
    export.add_argument("--int8", action="store_true",
                        help="also write NAME-int8.onnx (+ sidecar), kept if its test mean AUROC "
                             "is at most 0.005 lower")
    from .report.command import add_report_command  # localisation, subgroups, expert labels, TTA (docs/evaluation.md)

    add_report_command(commands)
    from .baselines.command import add_baselines_command  # classical models beside a network (docs/evaluation.md)

    add_baselines_command(commands)
    from .recalibrate.command import add_calibrate_command  # a pair recalibrated on local images (docs/evaluation.md)

    add_calibrate_command(commands)
    from .compare.command import add_compare_command  # two models on the same images (docs/evaluation.md)

    add_compare_command(commands)
    quantize = commands.add_parser("quantize", help="an int8 copy of an exported pair for the CPU, calibrated on "
                                                    "images of --data (python -m trainer.quantize is the same)")
    add_quantize_options(quantize)
    return parser


def add_quantize_options(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``cxr-train quantize`` (and of ``python -m trainer.quantize``)."""
    parser.add_argument("model", help="NAME.onnx of an exported pair (NAME.gradcam.onnx beside it)")
    parser.add_argument("--data", required=True, help="folder of images to calibrate on")
    parser.add_argument("--out", required=True, help="folder for NAME-int8.onnx and NAME-int8.gradcam.onnx")
    parser.add_argument("--name", help="file stem of the result (default: the model's stem + -int8)")
    parser.add_argument("--split", help="a run's split.csv: calibrate on its training images only")
    parser.add_argument("--images", type=int, default=DEFAULT_IMAGES, help="calibration images (default %(default)s)")


def run_quantize(args: argparse.Namespace) -> int:
    """Write the int8 pair and say where it went; expected problems raise ``CxrError``."""
    from .export.int8.quantize import quantize_pair  # ONNX Runtime's quantiser only when asked

    result = quantize_pair(args.model, args.data, args.out, name=args.name, split_csv=args.split,
                           images=args.images)
    fp32_size, int8_size = result.size_bytes
    print(f"wrote {result.classifier_path} ({int8_size / 1e6:.1f} MB, fp32 {fp32_size / 1e6:.1f} MB) and "
          f"{result.sidecar_path.name}; calibrated on {result.calibration_images} images; largest "
          f"probability difference from fp32 on them {result.max_probability_difference:.4f}")
    return 0


def resolve_train_config(args: argparse.Namespace, argv: list[str]) -> TrainConfig:
    """Defaults < ``--config`` file < command line; with ``--resume``, the checkpoint's config."""
    typed = argparse.ArgumentParser(add_help=False)
    add_train_options(typed, suppress=True)
    given, _ = typed.parse_known_args(argv)
    explicit = {k: v for k, v in vars(given).items() if k not in ("config", "resume", "stop_after")}
    if args.resume:
        from .training.checkpoints import load_checkpoint  # torch is imported only when needed

        saved = load_checkpoint(args.resume)["config"]
        changed = sorted(k for k, v in explicit.items() if k not in RESUME_MAY_CHANGE and saved.get(k) != v)
        if changed:
            raise TrainerError(
                f"--resume continues the saved configuration; these options differ from it: "
                f"{', '.join('--' + k.replace('_', '-') for k in changed)} (start a new run to change them)"
            )
        values = {**saved, **{k: v for k, v in explicit.items() if k in RESUME_MAY_CHANGE}}
        return config_from_dict(values, source=args.resume)
    values = {f.name: getattr(args, f.name) for f in fields(TrainConfig)}
    values["views"] = values["views"] or []
    values["tried"] = values["tried"] or []
    for name in ("data", "labels_csv", "cache_dir", "weights", "split_file"):
        if values[name]:  # the saved config must still work from another folder (export, resume)
            values[name] = str(Path(values[name]).absolute())
    values["split_lists"] = [str(Path(p).absolute()) for p in values["split_lists"] or []]
    values["also_data"] = values["also_data"] or []  # made absolute when settled (config.with_dataset)
    if not values["out"]:
        # runs/ is git-ignored: a run without --out never writes next to the user's images
        values["out"] = str(Path("runs") / f"{time.strftime('%Y%m%d-%H%M%S')}-{values['arch']}-{values['size']}px")
    config = config_from_dict(values)
    if not config.data:
        raise TrainerError("cxr-train train needs --data DIR: the folder of images (the dataset's label files in it "
                           "or above)")
    check_config(config)
    return config  # --dataset auto becomes the dataset found in train_run (with_dataset), as config.yaml records it


def _configure_logging(out: Path | None) -> None:
    """Log lines to stderr and ``OUT/train.log``; under torchrun only the main process (rank 0)
    logs, the others say only warnings and errors, to stderr."""
    main_process = int(os.environ.get("RANK", "0")) == 0
    root = logging.getLogger("trainer")
    root.setLevel(logging.INFO if main_process else logging.WARNING)
    for handler in list(root.handlers):  # a second run in one process (tests) starts afresh
        root.removeHandler(handler)
        handler.close()
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(logging.Formatter("%(message)s"))
    root.addHandler(console)
    if out is not None and main_process:
        out.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(out / "train.log", encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        root.addHandler(handler)
    root.propagate = False


def _train(args: argparse.Namespace, argv: list[str]) -> int:
    config = resolve_train_config(args, argv)
    _configure_logging(Path(config.out))
    from .pipeline.run import OtherProcess, train_run  # heavy imports (torch, onnx) only for commands that need them

    summary = train_run(config, resume=args.resume, stop_after=args.stop_after)
    if not isinstance(summary, OtherProcess):  # the other processes of a torchrun have nothing to report
        print(json.dumps(summary.to_dict(), indent=1))
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from .evaluation.predictions import evaluate_predictions, format_report

    report = evaluate_predictions(args.predictions, args.data, args.labels_csv, args.bootstrap, args.seed,
                                  args.dataset, args.uncertainty)
    print(format_report(report))
    skipped = report.rows_not_ok + report.rows_not_in_labels
    if skipped:
        print(f"({report.rows_not_ok} rows without status ok and {report.rows_not_in_labels} "
              f"images without {report.dataset} labels were left out)")
    if report.not_annotated:
        print(f"({report.dataset} does not annotate {', '.join(report.not_annotated)}: no figures for them)")
    if args.json:
        Path(args.json).write_text(json.dumps(report.to_dict(), indent=1), encoding="utf-8")
    if args.markdown or args.roc:
        from .evaluation.predictions import scored_predictions
        from .evaluation.published import comparison_table
        from .evaluation.roc_plot import plot_roc_curves

        name = Path(args.predictions).name
        if args.markdown:
            Path(args.markdown).write_text(comparison_table(report.to_dict(), f"`{name}`"), encoding="utf-8")
        if args.roc:
            scored = scored_predictions(args.predictions, args.data, args.labels_csv, args.dataset, args.uncertainty)
            plot_roc_curves(scored.targets, scored.scores, scored.labels, Path(args.roc), f"{name}: ROC curves")
    return 0


def _export(args: argparse.Namespace) -> int:
    _configure_logging(Path(args.out) if args.out else None)
    from .pipeline.run import export_checkpoint

    summary = export_checkpoint(args.checkpoint, args.out, args.data, args.name, args.threads, args.int8)
    print(json.dumps(summary.to_dict(), indent=1))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run ``cxr-train``; returns the exit status."""
    configure_process()
    argv = list(sys.argv[1:] if argv is None else argv)
    defaults = None
    if argv and argv[0] == "train":
        # --config supplies defaults, so it is read before the real parse
        pre = argparse.ArgumentParser(add_help=False)
        pre.add_argument("--config")
        known, _ = pre.parse_known_args(argv[1:])
        if known.config:
            try:
                defaults = load_yaml(known.config)
            except TrainerError as exc:
                print(f"cxr-train: error: {exc}", file=sys.stderr)
                return EXIT_ERROR
    parser = build_parser(defaults)
    args = parser.parse_args(argv)
    try:
        if args.command == "train":
            return _train(args, argv[1:])
        if args.command == "evaluate":
            return _evaluate(args)
        if args.command in ("report", "baselines", "calibrate", "compare"):
            return args.run_command(args)
        if args.command == "quantize":
            return run_quantize(args)
        return _export(args)
    except CxrError as exc:
        print(f"cxr-train: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as exc:  # the machine's problem (permissions, a full disk), not a bug to trace
        print(f"cxr-train: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("cxr-train: interrupted (a training run continues with --resume OUT/checkpoints/last.pt)",
              file=sys.stderr)
        return EXIT_INTERRUPTED
