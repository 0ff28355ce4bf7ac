"""Row 5: the exporter's int8 model (``cxr-train export --int8``) against the fp32 model.

The int8 pair is made in this run by ``trainer.export.int8.variant.make_int8_variant``, the function
the exporter calls: calibrated on training images of the model's split (``split.csv``, found by
the split hash in the card, or ``--split``), both pairs measured on its test images through the
viewer's own path. Speed: the bare classifier call of each, interleaved, batch of one, 2
threads. Without the NIH sample, only the speed of a pair calibrated on real DICOMs.
"""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np

from trainer.export.int8.quantize import quantize_pair
from trainer.export.int8.variant import make_int8_variant
from viewer.core.inference import Predictor
from viewer.core.model import CLASSIFIER_INPUT, CLASSIFIER_OUTPUTS, open_session

from .common import NO_SHARED, ROOT, Row, Settings, interleaved, ms, real_dicoms

THREADS = 2


def _split_digest(path: Path) -> str:
    """``trainer.split.split_hash`` computed from a split.csv alone."""
    with open(path, newline="", encoding="utf-8") as handle:
        lines = sorted(f"{row['split']}\t{row['Image Index']}\n" for row in csv.DictReader(handle))
    return hashlib.sha256("".join(lines).encode("utf-8")).hexdigest()


def find_split(model: Path, wanted_hash: str | None, given: Path | None) -> Path | None:
    """The split.csv of the run that made ``model``: ``given``, else the one whose hash the card names."""
    if given is not None:
        return given
    if not wanted_hash:
        return None
    candidates = [model.parent / "split.csv", *ROOT.glob("configs/*split*.csv"), *ROOT.glob("runs/*/split.csv"),
                  *ROOT.parent.glob("runs/*/split.csv")]
    for path in candidates:
        try:
            if path.is_file() and _split_digest(path) == wanted_hash:
                return path
        except (OSError, KeyError):
            continue
    return None


def _split_paths(data: Path, split: Path) -> tuple[list[Path], list[Path], np.ndarray]:
    """The model run's training image paths, test image paths and test targets."""
    from trainer.data.nih import load_labelled_images
    from trainer.data.split import read_split_csv

    table = load_labelled_images(data)
    parts = read_split_csv(split, table.samples)  # the trainer's reading (refuses unlisted images)
    return ([table.samples[i].path for i in parts.train], [table.samples[i].path for i in parts.test],
            table.targets(parts.test))


def _speed_row(settings: Settings, fp32_path: Path, int8_path: Path, sizes: tuple[int, int],
               calibration_images: int, made_by: str) -> Row:
    height, width = Predictor.open(fp32_path, threads=1, cache_size=0).input_size
    feeds = {CLASSIFIER_INPUT: np.random.default_rng(0).random((1, 1, height, width), dtype=np.float32)}
    outputs = list(CLASSIFIER_OUTPUTS)
    sessions = {f"{name}/{threads}": open_session(path, threads) for name, path in
                (("fp32", fp32_path), ("int8", int8_path)) for threads in (THREADS, 1)}
    repeats = settings.repeats(30, 3)
    times = interleaved({name: (lambda s=s: s.run(outputs, feeds)) for name, s in sessions.items()}, repeats)
    speedup = times[f"fp32/{THREADS}"] / times[f"int8/{THREADS}"]
    single = times["fp32/1"] / times["int8/1"]
    size_fp32, size_int8 = sizes
    return Row(
        "5", f"int8 classifier ({made_by}, static QDQ) vs fp32: speed, batch of 1",
        ms(times[f"int8/{THREADS}"]), f"{ms(times[f'fp32/{THREADS}'])} fp32", speedup, ">= 2x faster", speedup >= 2,
        f"ratio = fp32 / int8; {THREADS} threads (1 thread: {ms(times['int8/1'])} vs {ms(times['fp32/1'])}, "
        f"{single:.2f}x); files {size_int8 / 1e6:.1f} vs {size_fp32 / 1e6:.1f} MB; "
        f"calibrated on {calibration_images} images; median of {repeats}",
    )


def rows(settings: Settings) -> list[Row]:
    fp32 = Predictor.open(settings.model, threads=THREADS, cache_size=0)
    split_hash = ((fp32.card.metrics or {}).get("split") or {}).get("hash")
    split = find_split(settings.model, split_hash, settings.split)
    what = "int8 vs fp32: mean AUROC on the held-out test split"
    if settings.data is None or split is None:
        # no labelled test images: the speed of an int8 pair calibrated on real DICOMs only
        quantized = quantize_pair(settings.model, real_dicoms()[0].parent, settings.scratch / "int8",
                                  images=8 if settings.quick else 64)
        speed = _speed_row(settings, settings.model, quantized.classifier_path, quantized.size_bytes,
                           quantized.calibration_images, "trainer.quantize")
        why = NO_SHARED if settings.data is None else "skipped: the model's split.csv was not found (pass --split)"
        return [speed, Row("5", what, note=why)]

    # the exporter's own variant (cxr-train export --int8): calibrated on the run's training
    # images, both pairs measured on its test images through the viewer's path
    train, test, targets = _split_paths(settings.data, split)
    if settings.quick:
        test, targets = test[:16], targets[:16]
    report = make_int8_variant(settings.model, train, test, targets, settings.scratch / "int8",
                               max_auroc_drop=1.0,  # keep the files: this row measures, the exporter decides
                               calibration_count=8 if settings.quick else 64, threads=THREADS)
    speed = _speed_row(settings, settings.model, Path(report["files"]["classifier"]),
                       (report["size_bytes"]["fp32"], report["size_bytes"]["int8"]),
                       report["calibration_images"], "cxr-train export --int8")
    mean = report["mean_auroc"]
    if mean["change"] is None:
        return [speed, Row("5", what, note="no label has both classes among these test images")]
    changes = {label: entry["change"] for label, entry in report["auroc"].items()
               if entry is not None and entry.get("change") is not None}
    worst = max(changes, key=lambda label: abs(changes[label]))
    return [speed, Row(
        "5", f"{what} ({len(test)} images, {report['labels_with_auroc']} labels)", f"{mean['int8']:.4f}",
        f"{mean['fp32']:.4f} fp32", None, "change within +-0.005", abs(mean["change"]) <= 0.005,
        f"change {mean['change']:+.4f}; largest per-label change {worst} {changes[worst]:+.4f}; split "
        f"{split.parent.name}/{split.name}; calibration on its train split",
    )]
