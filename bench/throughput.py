"""Row 4: ``cxr-viewer batch`` throughput on 2 cores against what its parts allow.

The batch (``viewer.core.batch.run_batch``, what ``cxr-viewer batch`` calls, with 2 ONNX Runtime
threads) runs over a folder of real images; its images/s is compared with
``1 / (decode + preprocess + classifier + sidecar)``, the parts timed one image at a time on the
same files in the same run (classifier and sidecar with the same 2 threads). Above 1.0 the batch
overlaps decoding with the model or gains from batching several images per call. Opening the
model (sessions + a test run) is paid once per batch whatever its size: it is timed on its own
and the ratio is taken on the rest, the total being in the note.
"""

from __future__ import annotations

import time

import numpy as np

from viewer.core.batch import run_batch
from viewer.core.inference import Predictor
from viewer.core.model import ModelPair
from viewer.core.preprocess import preprocess, to_model_batch

from .common import Row, Settings, make_folder, ms, nih_images, real_dicoms

THREADS = 2


def rows(settings: Settings) -> list[Row]:
    count = 8 if settings.quick else 120
    nih = nih_images(settings.data, limit=count)
    # mostly NIH PNGs (what a batch over the NIH download sees) and real chest DICOMs
    sources = nih[: count - count // 4] + [p for p in real_dicoms() if p.name.startswith("RG")]
    folder = settings.scratch / "batch"
    files = make_folder(folder, sources, count, per_subfolder=count)
    pair = ModelPair.open(settings.model, THREADS)
    height, width = pair.card.input.height, pair.card.input.width

    parts: dict[str, list[float]] = {"decode+preprocess": [], "classifier": [], "sidecar": []}
    for path in files[:2]:  # warm-up
        pair.gradcam(pair.classify(to_model_batch([preprocess(path, height, width)]))[1])
    for path in files:  # the parts, one image at a time
        start = time.perf_counter()
        image = preprocess(path, height, width)
        decoded = time.perf_counter()
        _, features = pair.classify(to_model_batch([image]))
        classified = time.perf_counter()
        pair.gradcam(features)
        end = time.perf_counter()
        parts["decode+preprocess"].append((decoded - start) * 1000)
        parts["classifier"].append((classified - decoded) * 1000)
        parts["sidecar"].append((end - classified) * 1000)
    start = time.perf_counter()
    Predictor.open(settings.model, threads=THREADS, cache_size=0)
    opening = time.perf_counter() - start
    summary = run_batch(folder, settings.scratch / "batch.csv", settings.model, threads=THREADS)
    if summary.ok != count:
        raise RuntimeError(f"the batch read {summary.ok} of {count} images ({summary.errors} errors)")
    # means, not medians: throughput is total work over total time
    per_image = {name: float(np.mean(values)) for name, values in parts.items()}
    parts_rate = 1000 / sum(per_image.values())
    batch_rate = count / (summary.seconds - opening)
    total_rate = count / summary.seconds
    ratio = batch_rate / parts_rate
    detail = ", ".join(f"{name} {ms(value)}" for name, value in per_image.items())
    pngs = len(nih[: count - count // 4])
    return [Row(
        "4",
        f"cxr-viewer batch on {THREADS} cores, {count} images ({pngs} NIH PNGs + chest DICOMs)",
        f"{batch_rate:.1f} images/s", f"{parts_rate:.1f} images/s = 1 / ({detail})", ratio, ">= 0.9",
        ratio >= 0.9,
        f"ratio = batch / parts; batch time includes the scan and the CSV, not the {opening:.1f} s of opening "
        f"the model once (with it: {total_rate:.1f} images/s, {total_rate / parts_rate:.2f}x)",
    )]
