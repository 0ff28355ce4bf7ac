"""The training configuration: every option, its default, YAML loading and the resolved copy.

``TrainConfig`` is the single list of options; ``cli.py`` turns it into argparse options and a
``--config FILE.yaml`` supplies defaults (``parser.set_defaults(**cfg)``, as timm does). The
resolved configuration is saved beside the outputs so a run can be repeated or resumed.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

from viewer.core.errors import one_line

from .data.combined import parse_also, settle_also
from .data.readers import DATASETS, DEFAULT_UNCERTAINTY, WITH_UNCERTAINTY, check_dataset_options, settle_dataset
from .errors import TrainerError
from .evaluation.threshold_rules import DEFAULT_RULE, RULE_HELP, parse_rule
from .models.archs import ARCHITECTURES

ARCHS = tuple(ARCHITECTURES)  # the registry of trainer/models/archs.py, read without torch
OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("step", "plateau", "cosine", "constant")
AVERAGES = ("none", "ema", "swa")
MONITORS = ("val_loss", "val_auroc")
POS_WEIGHTS = ("posneg", "balanced", "sqrt", "none")
CALIBRATIONS = ("none", "temperature", "platt")
SPLITS = ("auto", "official", "random")
BAD_IMAGES = ("skip", "stop")
PROGRESS = ("auto", "on", "off")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
RESOLVED_NAME = "config.yaml"


def opt(default: Any, help_text: str) -> Any:
    """A config field with its command-line help (one place for both)."""
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"help": help_text})
    return field(default=default, metadata={"help": help_text})


@dataclass
class TrainConfig:
    """All options of ``cxr-train train``. Fractions are of patients, epochs may be fractional
    where said (warm-up), sizes are pixels of the square model input."""

    data: str = opt("", "folder of images (searched recursively), the dataset's label files in it or above "
                    "(NIH: Data_Entry_2017*.csv; CheXpert: train.csv, valid.csv; MIMIC-CXR-JPG, PadChest, VinDr-CXR, "
                    "RSNA, SIIM: their tables, see docs/trainer.md)")
    out: str = opt("", "output folder: checkpoints, logs, predictions, the ONNX pair (default runs/DATE-ARCH-SIZE)")
    labels_csv: str | None = opt(None, "the label file (NIH: the Data_Entry CSV), when it is not in --data or a "
                                 "parent folder")
    dataset: str = opt("auto", "which dataset --data holds: " + ", ".join(DATASETS) + ", or auto (from the label "
                       "files in or above --data; the run records what it found); the model's labels are its")
    uncertainty: str | None = opt(None, "CheXpert and MIMIC only: an uncertain finding counts as negative (zeros, "
                                  "the default), positive (ones), or is left out of the loss (ignore)")
    also_data: list[str] = opt([], "more data folders trained on together with --data, each NAME=DIR or DIR (its "
                               "dataset found from its label files): the model learns the union of their labels "
                               "through the label taxonomy; a label a dataset does not annotate is left out of the "
                               "loss for its images, never counted as negative")
    cache_dir: str | None = opt(None, "where the preprocessed pixels are cached (default OUT/cache)")
    no_cache: bool = opt(False, "decode every image in every epoch instead of caching (slow; a baseline)")
    bad_images: str = opt("skip", "an unreadable image: skip (named in the log and counted) or stop the run; "
                          "--skip-bad-images and --strict-images are short for the two")
    views: list[str] = opt([], "keep only these view positions, e.g. PA AP (default: all)")
    max_images: int | None = opt(None, "use at most this many labelled images, first by name (quick runs)")

    # split (by patient, so no patient is in two splits)
    split: str = opt("random", "random: by patient, stratified, --val/--test-fraction (70/10/20); official: "
                     "NIH's lists found in or above --data, or the split the dataset's label files publish "
                     "(MIMIC-CXR's split.csv; CheXpert's valid/ as test); auto: official if there is one, else random")
    split_lists: list[str] = opt([], "the official NIH lists: a folder holding train_val_list.txt and test_list.txt, "
                                 "or the two files (train_val first); test = test_list, validation drawn from "
                                 "train_val by patient (takes the place of --split)")
    split_file: str | None = opt(None, "reuse the split.csv of an earlier run")
    val_fraction: float = opt(0.1, "share of the patients for validation (with the official lists: of train_val)")
    test_fraction: float = opt(0.2, "share of the patients for test (random split)")

    # model
    arch: str = opt("densenet121", "network: " + ", ".join(ARCHS) + " (tiny: tests and smoke runs)")
    size: int = opt(224, "square input size of the model, pixels")
    weights: str | None = opt(None, "local weights file to start from (torchvision/CheXNet layout or a checkpoint)")
    drop_rate: float = opt(0.0, "dropout before the linear head")

    # optimisation
    epochs: int = opt(10, "epochs to train (at most: early stopping may end the run sooner)")
    batch_size: int = opt(16, "images per optimizer step")
    optimizer: str = opt("adam", "adam (the seeds'; weight decay as L2), adamw (decoupled weight decay) or sgd")
    lr: float = opt(1e-3, "initial learning rate")
    momentum: float = opt(0.9, "SGD momentum")
    nesterov: bool = opt(False, "SGD: Nesterov momentum instead of plain momentum")
    weight_decay: float = opt(1e-4, "weight decay (not on biases and normalisation parameters)")
    schedule: str = opt("step", "learning-rate schedule after warm-up: step (x --lr-decay every --step-epochs), "
                        "plateau (x --lr-decay when the validation loss stops falling), cosine, constant")
    warmup_epochs: float = opt(0.0, "linear warm-up, epochs (may be fractional); 0 = none")
    min_lr_ratio: float = opt(0.01, "cosine: final learning rate as a fraction of --lr")
    step_epochs: int = opt(2, "step: multiply the learning rate by --lr-decay every this many epochs")
    lr_decay: float = opt(0.1, "step and plateau: the factor each decay multiplies the learning rate by")
    plateau_patience: int = opt(1, "plateau: decay after this many epochs without a lower validation loss")
    label_smoothing: float = opt(0.0, "targets become y(1-e) + e/2")
    pos_weight: str = opt("posneg", "class-imbalance weighting of the loss per label, from the training split: "
                          "posneg (positives and negatives weighted so each class carries half of the label's "
                          "loss), balanced (positives x negatives/positives), sqrt (its square root), none")
    pos_weight_max: float = opt(20.0, "upper limit of the positive-to-negative weight ratio")
    grad_clip: float = opt(0.0, "clip the gradient norm to this; 0 = off")

    # augmentation (training only; validation and test see exactly what the viewer sees)
    cache_scale: float = opt(1.15, "cached training images are this much larger than --size (room to crop)")
    crop_scale: float = opt(0.7, "random crops keep at least this share of the cached image's area")
    rotate: float = opt(7.0, "random rotation, degrees either way")
    hflip: float = opt(0.5, "probability of a left-right flip")
    jitter: float = opt(0.1, "brightness/contrast jitter strength; 0 = off")
    aux_weight: float = opt(0.0, "weight of a training-only second head that learns what the label file says "
                            "besides the findings (any finding, sex, AP view, age); 0 = off; never exported")
    mixup: float = opt(0.0, "mixup: each batch blended with a shuffled copy of itself, images and targets, "
                       "weight ~ Beta(a, a) with this a (e.g. 0.2); 0 = off")

    # weight averaging and early stopping
    average: str = opt("none", "weights to keep: none, ema (exponential moving average), "
                       "swa (stochastic weight averaging)")
    ema_decay: float = opt(0.998, "EMA decay per optimizer step")
    swa_start: float = opt(0.75, "SWA averages the epochs after this share of --epochs")
    monitor: str = opt("val_loss", "validation figure that picks the kept epoch: "
                       "val_loss (lowest) or val_auroc (highest)")
    patience: int = opt(3, "early stopping: stop after this many epochs without a better --monitor; 0 = never")

    # after training
    calibration: str = opt("platt", "per-label calibration on validation, baked into the graph: "
                           "none, temperature, platt")
    threshold_rule: str = opt(DEFAULT_RULE, RULE_HELP)
    bootstrap: int = opt(1000, "bootstrap resamples (by patient) for the 95%% intervals of the test AUROCs")
    ood_sample: int = opt(300, "training images the out-of-distribution statistics are fitted on")
    gallery: int = opt(12, "test images drawn with their heatmaps in gallery.png; 0 = none")
    no_export: bool = opt(False, "stop after evaluation: no ONNX files")
    int8: bool = opt(False, "also export NAME-int8.onnx (+ sidecar): int8 weights and activations for faster CPU "
                     "inference, kept only if its test mean AUROC is at most 0.005 below the fp32 model's "
                     "(export_checks.json says by how much)")
    name: str = opt("model", "the exported files are NAME.onnx and NAME.gradcam.onnx")
    tried: list[str] = opt([], "notes for the card's training record: what was tried (repeatable)")

    # machine
    device: str = opt("auto", "cpu, cuda, or auto (cuda when torch sees a GPU)")
    precision: str = opt("auto", "auto (bf16 or fp16 on CUDA, fp32 on the CPU), fp32, bf16 (mixed precision with "
                         "channels-last; about 3-4x faster on CPUs with AMX/AVX-512 BF16), or fp16 (with a gradient "
                         "scaler; CUDA only, full precision on the CPU); validation and export stay fp32")
    seed: int = opt(0, "seed of the split, initialisation, batches and augmentation")
    workers: int = opt(-1, "data-loader / cache-building processes; 0: in the training process; -1 (auto): "
                       "several on CUDA (with pinned memory), none on the CPU where they would take the "
                       "training's cores; cache building uses the CPU's cores either way")
    threads: int = opt(0, "torch threads; 0 = torch's default")
    log_every: int = opt(20, "batches between progress lines when there is no progress bar; 0 = per epoch only")
    tensorboard: bool = opt(False, "TensorBoard logs in OUT/tensorboard: losses, learning rate, per-label "
                            "validation AUROC, Grad-CAM of a few validation images (needs the tensorboard package)")
    progress: str = opt("auto", "progress bar over each epoch's batches: auto (when stderr is a terminal), on, off")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def option_names() -> list[str]:
    """The names of all options, in declaration order."""
    return [f.name for f in fields(TrainConfig)]


def rename_legacy(values: dict[str, Any]) -> dict[str, Any]:
    """Option names of an earlier trainer in today's terms: ``skip_bad_images: bool`` became
    ``bad_images: skip|stop`` (config files and saved checkpoints may still hold the old key)."""
    values = dict(values)
    if "skip_bad_images" in values:
        legacy = values.pop("skip_bad_images")
        values.setdefault("bad_images", "skip" if legacy else "stop")
    return values


def config_from_dict(values: dict[str, Any], source: str = "configuration") -> TrainConfig:
    """A ``TrainConfig`` from a complete dict (the command line's, or a checkpoint's), refusing
    unknown keys (a typo must not pass silently)."""
    values = rename_legacy(values)
    if values.get("optimizer") == "sgd" and "nesterov" not in values:
        # saved by the earlier trainer, whose SGD was always Nesterov: resume it unchanged
        values["nesterov"] = True
    known = set(option_names())
    unknown = sorted(set(values) - known)
    if unknown:
        raise TrainerError(f"{source}: unknown option(s) {', '.join(unknown)}")
    values = dict(values)
    for name in ("views", "tried", "split_lists", "also_data"):  # YAML may give one string where a list is meant
        if isinstance(values.get(name), str):
            values[name] = [values[name]]
        elif values.get(name) is None and name in values:
            values[name] = []
    config = TrainConfig(**values)
    check_config(config)
    return config


def check_config(config: TrainConfig) -> None:
    """Refuse option values that cannot work, with the allowed choices."""
    choices = {
        "arch": ARCHS, "schedule": SCHEDULES, "average": AVERAGES, "monitor": MONITORS,
        "pos_weight": POS_WEIGHTS, "calibration": CALIBRATIONS, "split": SPLITS, "bad_images": BAD_IMAGES,
        "optimizer": OPTIMIZERS, "device": ("auto", "cpu", "cuda"), "precision": PRECISIONS,
        "progress": PROGRESS,
    }
    for name, allowed in choices.items():
        if getattr(config, name) not in allowed:
            raise TrainerError(f"--{name.replace('_', '-')} must be one of {', '.join(allowed)}, "
                               f"not {getattr(config, name)!r}")
    parse_rule(config.threshold_rule)  # TrainerError naming the rules
    # with --also-data the policy may be for another folder's dataset (NIH + CheXpert): settled per folder
    check_dataset_options(config.dataset, None if config.also_data else config.uncertainty)
    check_dataset_options("auto", config.uncertainty)
    if not 32 <= config.size <= 1024:
        raise TrainerError(f"--size must be between 32 and 1024 pixels, not {config.size}")
    if config.arch == "densenet121" and config.size < 32:
        raise TrainerError("densenet121 needs --size 32 or more")
    if config.cache_scale < 1.0:
        raise TrainerError("--cache-scale must be 1.0 or more (the cache is never smaller than the input)")
    if not 0.05 <= config.crop_scale <= 1.0:
        raise TrainerError("--crop-scale must be in [0.05, 1]")
    if not (0 <= config.val_fraction < 1 and 0 <= config.test_fraction < 1
            and config.val_fraction + config.test_fraction < 1):
        raise TrainerError("--val-fraction and --test-fraction must be in [0, 1) and sum to less than 1")
    positive = {"epochs": config.epochs, "batch_size": config.batch_size, "lr": config.lr}
    for name, value in positive.items():
        if not value > 0:
            raise TrainerError(f"--{name.replace('_', '-')} must be positive, not {value}")
    if not 0.0 <= config.label_smoothing < 0.5:
        raise TrainerError("--label-smoothing must be in [0, 0.5)")
    if not 0.0 < config.ema_decay < 1.0:
        raise TrainerError("--ema-decay must be in (0, 1)")
    if not 0.0 < config.lr_decay < 1.0:
        raise TrainerError("--lr-decay must be in (0, 1): each decay makes the learning rate smaller")
    if config.step_epochs < 1 or config.plateau_patience < 0 or config.patience < 0:
        raise TrainerError("--step-epochs must be 1 or more; --plateau-patience and --patience 0 or more")
    if config.aux_weight < 0:
        raise TrainerError("--aux-weight must be 0 (off) or positive, e.g. 0.3")
    if config.mixup < 0:
        raise TrainerError("--mixup must be 0 (off) or a positive Beta parameter such as 0.2")
    if config.workers < -1:
        raise TrainerError("--workers must be -1 (auto), 0 or more")
    if config.pos_weight_max < 1.0:
        raise TrainerError("--pos-weight-max must be 1 or more")
    if len(config.split_lists) > 2:
        raise TrainerError("--split-lists takes a folder, or the two files train_val_list.txt and test_list.txt")
    if config.split_lists and config.split_file:
        raise TrainerError("--split-lists and --split-file both give the split: pass one of them")


def with_dataset(config: TrainConfig) -> TrainConfig:
    """``config`` with ``--dataset auto`` replaced by the dataset found under ``--data`` and the
    uncertainty policy settled (``trainer.data.readers.settle_dataset``), as the run records them."""
    if not config.also_data:
        dataset, uncertainty = settle_dataset(config.dataset, config.uncertainty, config.data, config.labels_csv)
        if (dataset, uncertainty) == (config.dataset, config.uncertainty):
            return config
        return replace(config, dataset=dataset, uncertainty=uncertainty)
    dataset, _ = settle_dataset(config.dataset, None, config.data, config.labels_csv)
    also = settle_also(config.also_data, config.uncertainty)
    datasets = [dataset, *(parse_also(entry)[0] for entry in also)]
    uncertainty = (config.uncertainty or DEFAULT_UNCERTAINTY) if set(datasets) & set(WITH_UNCERTAINTY) else None
    settle_dataset(dataset, uncertainty if dataset in WITH_UNCERTAINTY else None, config.data, config.labels_csv)
    return replace(config, dataset=dataset, uncertainty=uncertainty, also_data=also)


def load_yaml(path: str | Path) -> dict[str, Any]:
    """The options in a YAML (or JSON) config file, with dashes in keys read as underscores."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TrainerError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise TrainerError(f"{path}: not a readable YAML config ({one_line(exc)})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise TrainerError(f"{path}: a config file must be a mapping of option: value")
    values = rename_legacy({str(key).replace("-", "_"): value for key, value in data.items()})
    unknown = sorted(set(values) - set(option_names()))
    if unknown:
        raise TrainerError(f"{path}: unknown option(s) {', '.join(unknown)}")
    return values


def save_resolved(config: TrainConfig, folder: Path) -> Path:
    """Write the resolved configuration as YAML beside the outputs (and as JSON for tools)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / RESOLVED_NAME
    path.write_text(yaml.safe_dump(config.to_dict(), sort_keys=False), encoding="utf-8")
    (folder / "config.json").write_text(json.dumps(config.to_dict(), indent=2), encoding="utf-8")
    return path
