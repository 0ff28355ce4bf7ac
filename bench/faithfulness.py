"""Row 10: heatmap faithfulness on the whole test split (``cxr-train report``'s section, at scale).

``cxr-train report`` tests the maps of 20 images per label so that it runs in minutes; this row
runs the same code (``trainer.report.sections.faithfulness_section``) on every image of the
model's test split for every label (``--quick``: 2 per label), and says the mean score over the
labels, how many labels' 95% intervals lie above zero (maps the model demonstrably uses) or
below it, and the time per tested image. Only with ``--only faithfulness``: about half an hour
on 2 cores for the demo model's 100 test images.
"""

from __future__ import annotations

import time

import numpy as np

from viewer.core.inference import Predictor

from .common import NO_SHARED, Row, Settings
from .quantized import find_split

THREADS = 2
WHAT = "heatmap faithfulness (deletion test, ROAD imputation), every test image per label"


def rows(settings: Settings) -> list[Row]:
    from trainer.report.sections import faithfulness_section, predict, select_images

    predictor = Predictor.open(settings.model, threads=THREADS, cache_size=0)
    split_hash = ((predictor.card.metrics or {}).get("split") or {}).get("hash")
    split = find_split(settings.model, split_hash, settings.split)
    if settings.data is None:
        return [Row("10", WHAT, note=NO_SHARED)]
    if split is None:
        return [Row("10", WHAT, note="skipped: the model's split.csv was not found (pass --split)")]
    selection, _ = select_images(settings.data, split_hash, split, "test")
    samples = selection.samples[:8] if settings.quick else selection.samples
    predictions = predict(predictor, samples)
    count = 2 if settings.quick else len(predictions.samples)
    started = time.perf_counter()
    section = faithfulness_section(predictor, predictions, predictor.labels, count, 1000, 0)
    seconds = time.perf_counter() - started
    entries = [e for e in section["per_label"].values() if e is not None]
    above = sum(1 for e in entries if e["ci95"] and e["ci95"][0] > 0)
    below = sum(1 for e in entries if e["ci95"] and e["ci95"][1] < 0)
    tested = section["images_tested"]
    best = max(section["per_label"], key=lambda k: (section["per_label"][k] or {"mean": -2})["mean"])
    worst = min(section["per_label"], key=lambda k: (section["per_label"][k] or {"mean": 2})["mean"])
    return [Row(
        "10", f"{WHAT} ({tested} images, {len(entries)} labels)",
        f"mean score {np.mean([e['mean'] for e in entries]):+.3f}", "0 = random removal", None,
        "", None,
        f"{above} labels with the 95% CI above 0, {below} below; best {best} "
        f"{section['per_label'][best]['mean']:+.3f}, worst {worst} {section['per_label'][worst]['mean']:+.3f}; "
        f"{seconds:.0f} s ({seconds / max(tested, 1):.1f} s per image, all its labels)",
    )]
