"""Heatmap faithfulness over a fixed subset of images: ``viewer.core.map_faithfulness`` per label.

For each label the report tests the maps of ``count`` images (default ``DEFAULT_IMAGES``): the
images labelled positive for it first, the most probable first, then, where there are fewer
positives, the other images the model finds most probable for it (a map of a finding the model
does not see says little). Each image is tested once, for every label that chose it, so its
random removals serve all of them. Per label: the mean score with a percentile bootstrap 95%
interval over the images, the mean probability before, after removing the top 20% of the map
and after removing 20% at random, and the mean curves.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from viewer.core.map_faithfulness import FRACTIONS, NOISE, RANDOM_DRAWS, SUMMARY_FRACTION, faithfulness_of_image

DEFAULT_IMAGES = 20

Classifier = Callable[[np.ndarray], np.ndarray]
Progress = Callable[[int, int], None]


def choose_images(targets: np.ndarray, probabilities: np.ndarray, label: int, count: int) -> list[int]:
    """Rows to test for ``label``: positives by probability (highest first), then the others."""
    order = np.argsort(-probabilities[:, label], kind="stable")
    positives = [int(i) for i in order if targets[i, label] == 1]
    others = [int(i) for i in order if targets[i, label] != 1]
    return (positives + others)[:max(count, 0)]


def _interval(scores: np.ndarray, resamples: int, seed: int) -> list[float] | None:
    """Percentile bootstrap 95% interval of the mean over images; None below 2 images."""
    if scores.size < 2 or resamples < 1:
        return None
    rng = np.random.default_rng(seed)
    means = scores[rng.integers(0, scores.size, (resamples, scores.size))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return [round(float(low), 4), round(float(high), 4)]


def evaluate_faithfulness(
    prepare: Callable[[int], np.ndarray],
    heatmaps: np.ndarray,
    probabilities: np.ndarray,
    targets: np.ndarray,
    labels: Sequence[str],
    classify: Classifier,
    *,
    batch: int | None = None,
    count: int = DEFAULT_IMAGES,
    resamples: int = 1000,
    seed: int = 0,
    on_progress: Progress | None = None,
) -> dict[str, Any]:
    """The report's faithfulness section. ``prepare(i)`` gives row i's prepared image [H, W];
    ``heatmaps`` [N, L, h, w] are the rows' raw maps, ``probabilities`` [N, L] and ``targets``
    [N, L] (1 = positive) choose the images; ``classify`` runs the classifier on [n, 1, H, W]."""
    started = time.perf_counter()
    chosen = {label: choose_images(targets, probabilities, k, count) for k, label in enumerate(labels)}
    wanted: dict[int, list[int]] = {}
    for k, label in enumerate(labels):
        for row in chosen[label]:
            wanted.setdefault(row, []).append(k)
    results: dict[int, dict[int, Any]] = {}
    for done, row in enumerate(sorted(wanted), start=1):
        maps = {k: heatmaps[row, k] for k in wanted[row]}
        results[row] = faithfulness_of_image(prepare(row), maps, labels, classify, seed=seed, batch=batch)
        if on_progress:
            on_progress(done, len(wanted))
    at = int(np.argmin([abs(f - SUMMARY_FRACTION) for f in FRACTIONS]))
    per_label: dict[str, Any] = {}
    for k, label in enumerate(labels):
        tested = [results[row][k] for row in chosen[label]]
        if not tested:
            per_label[label] = None
            continue
        scores = np.array([t.score for t in tested])
        per_label[label] = {
            "n": len(tested),
            "positives": int(sum(targets[row, k] == 1 for row in chosen[label])),
            "mean": round(float(scores.mean()), 4),
            "ci95": _interval(scores, resamples, seed),
            "original": round(float(np.mean([t.original for t in tested])), 4),
            "map_at_summary": round(float(np.mean([t.map_curve[at] for t in tested])), 4),
            "random_at_summary": round(float(np.mean([t.random_curve[at] for t in tested])), 4),
            "map_curve": [round(float(v), 4) for v in np.mean([t.map_curve for t in tested], axis=0)],
            "random_curve": [round(float(v), 4) for v in np.mean([t.random_curve for t in tested], axis=0)],
        }
    return {
        "fractions": list(FRACTIONS), "summary_fraction": FRACTIONS[at], "random_draws": RANDOM_DRAWS,
        "noise": NOISE, "seed": seed, "images_per_label": count, "images_tested": len(wanted),
        "bootstrap": resamples, "seconds": round(time.perf_counter() - started, 1), "per_label": per_label,
        "how": "deletion test with ROAD's noisy linear imputation (viewer.core.map_faithfulness): the "
               "probability after removing the map's top pixels against removing as many pixels as random "
               "blobs of the map's grid; score = normalised area between the two curves",
    }


def markdown(section: dict[str, Any], labels: Sequence[str]) -> str:
    """The faithfulness table of ``report.md``."""
    percent = f"{section['summary_fraction'] * 100:.0f}%"
    lines = [f"| label | images (positive) | faithfulness | 95% CI | probability | top {percent} of map removed | "
             f"random {percent} removed |", "|---|---:|---:|---|---:|---:|---:|"]
    for label in labels:
        entry = section["per_label"].get(label)
        if entry is None:
            lines.append(f"| {label} | 0 | – | – | – | – | – |")
            continue
        ci = entry["ci95"]
        ci_text = f"{ci[0]:+.2f} to {ci[1]:+.2f}" if ci else "–"
        lines.append(f"| {label} | {entry['n']} ({entry['positives']}) | {entry['mean']:+.3f} | {ci_text} | "
                     f"{entry['original']:.3f} | {entry['map_at_summary']:.3f} | {entry['random_at_summary']:.3f} |")
    fractions = ", ".join(f"{f * 100:.0f}%" for f in section["fractions"])
    lines += ["", f"{section['images_tested']} images tested, up to {section['images_per_label']} per label (positives "
              "first, then the most probable), in "
              f"{section['seconds']:.0f} s. Removed: the map's top {fractions} of the pixels, filled by ROAD's "
              f"noisy linear imputation (Rong et al. 2022; noise {section['noise']}), against as many pixels "
              f"removed as random blobs of the map's grid ({section['random_draws']} draws). Score: the area "
              "between the two probability curves, divided by the fraction range and the probability before, "
              "in [-1, 1]; positive = the map points at pixels the model uses, about 0 = no better than "
              f"random. Interval: {section['bootstrap']} bootstrap resamples of the images."]
    return "\n".join(lines)
