"""Row 5: the int8 model made by ``trainer.quantize`` against the fp32 model: speed and AUROC.

The int8 pair is made in this run (calibrated on training images of the model's split). Speed:
the bare classifier call of each, interleaved, batch of one, 2 threads. Answers: per-label AUROC
of both on the held-out test split of the model's run (``split.csv``, found by the split hash in
the card, or ``--split``) with the NIH labels, through ``Predictor`` as the viewer runs them.
"""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np

from trainer.evaluate import auroc
from trainer.quantize import quantize_pair
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


def _test_set(data: Path, split: Path) -> tuple[list[Path], np.ndarray, tuple[str, ...]]:
    from trainer.data import load_labelled_images

    with open(split, newline="", encoding="utf-8") as handle:
        test = {row["Image Index"] for row in csv.DictReader(handle) if row["split"] == "test"}
    table = load_labelled_images(data)
    chosen = [i for i, s in enumerate(table.samples) if s.image_index in test]
    return [table.samples[i].path for i in chosen], table.targets(chosen), table.labels


def _aurocs(predictor: Predictor, images: list[np.ndarray], targets: np.ndarray,
            labels: tuple[str, ...]) -> dict[str, float | None]:
    probabilities = np.stack([f.probabilities for f in predictor.predict_batch(images)])
    order = [predictor.labels.index(label) for label in labels]
    return {label: auroc(targets[:, j], probabilities[:, order[j]]) for j, label in enumerate(labels)}


def rows(settings: Settings) -> list[Row]:
    fp32 = Predictor.open(settings.model, threads=THREADS, cache_size=0)
    split_hash = ((fp32.card.metrics or {}).get("split") or {}).get("hash")
    split = find_split(settings.model, split_hash, settings.split)
    calibration = settings.data / "images" if settings.data is not None else real_dicoms()[0].parent
    quantized = quantize_pair(settings.model, calibration, settings.scratch / "int8",
                              split_csv=split if settings.data is not None else None,
                              images=8 if settings.quick else 64)
    int8 = Predictor.open(quantized.classifier_path, threads=THREADS, cache_size=0)

    height, width = fp32.input_size
    feeds = {CLASSIFIER_INPUT: np.random.default_rng(0).random((1, 1, height, width), dtype=np.float32)}
    outputs = list(CLASSIFIER_OUTPUTS)
    sessions = {f"{name}/{threads}": open_session(path, threads) for name, path in
                (("fp32", settings.model), ("int8", quantized.classifier_path)) for threads in (THREADS, 1)}
    repeats = settings.repeats(30, 3)
    times = interleaved({name: (lambda s=s: s.run(outputs, feeds)) for name, s in sessions.items()}, repeats)
    speedup = times[f"fp32/{THREADS}"] / times[f"int8/{THREADS}"]
    single = times["fp32/1"] / times["int8/1"]
    size_fp32, size_int8 = quantized.size_bytes
    result = [Row(
        "5", f"int8 classifier (trainer.quantize, static QDQ) vs fp32: speed, batch of 1",
        ms(times[f"int8/{THREADS}"]), f"{ms(times[f'fp32/{THREADS}'])} fp32", speedup, ">= 2x faster", speedup >= 2,
        f"ratio = fp32 / int8; {THREADS} threads (1 thread: {ms(times['int8/1'])} vs {ms(times['fp32/1'])}, "
        f"{single:.2f}x); files {size_int8 / 1e6:.1f} vs {size_fp32 / 1e6:.1f} MB; "
        f"calibrated on {quantized.calibration_images} images; median of {repeats}",
    )]

    what = "int8 vs fp32: mean AUROC on the held-out test split"
    if settings.data is None:
        return result + [Row("5", what, note=NO_SHARED)]
    if split is None:
        return result + [Row("5", what, note="skipped: the model's split.csv was not found (pass --split)")]
    paths, targets, labels = _test_set(settings.data, split)
    if settings.quick:
        paths, targets = paths[:16], targets[:16]
    images = [fp32.prepare(path) for path in paths]
    ours, base = _aurocs(int8, images, targets, labels), _aurocs(fp32, images, targets, labels)
    both = [label for label in labels if ours[label] is not None and base[label] is not None]
    if not both:
        return result + [Row("5", what, note="no label has both classes among these test images")]
    mean_int8 = float(np.mean([ours[x] for x in both]))
    mean_fp32 = float(np.mean([base[x] for x in both]))
    worst = max(both, key=lambda x: abs(ours[x] - base[x]))
    change = mean_int8 - mean_fp32
    return result + [Row(
        "5", f"{what} ({len(paths)} images, {len(both)} labels)", f"{mean_int8:.4f}", f"{mean_fp32:.4f} fp32",
        None, "change within +-0.005", abs(change) <= 0.005,
        f"change {change:+.4f}; largest per-label change {worst} {ours[worst] - base[worst]:+.4f}; split "
        f"{split.parent.name}/{split.name}; calibration on its train split",
    )]
