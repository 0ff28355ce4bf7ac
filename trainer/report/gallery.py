"""A picture of what the exported model does: test images with their Grad-CAM and NIH boxes.

The gallery runs the exported ONNX pair through ``viewer.core`` (``ModelPair``, ``heatmap``), so
it shows what the viewer will show, not what PyTorch computed. Images with ground-truth boxes
come first, then positives of as many different findings as possible.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: the trainer never opens a window
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

from viewer.core.boxes import BoxTable
from viewer.core.findings import flagged
from viewer.core.heatmap import normalize_to_uint8, upsample
from viewer.core.model import ModelPair


@dataclass(frozen=True)
class GalleryItem:
    """One test image: its name, prepared pixels [H, W] and true findings."""

    name: str
    pixels: np.ndarray
    labels: tuple[str, ...]


def pick_items(candidates: Sequence[GalleryItem], count: int, boxes: BoxTable | None) -> list[GalleryItem]:
    """Up to ``count`` items: those with boxes first, then one positive per finding, then any."""
    chosen: list[GalleryItem] = []
    names: set[str] = set()

    def take(item: GalleryItem) -> None:
        if len(chosen) < count and item.name not in names:
            chosen.append(item)
            names.add(item.name)

    for item in candidates:
        if boxes is not None and item.name in boxes:
            take(item)
    shown = {label for item in chosen for label in item.labels}
    for item in candidates:
        if any(label not in shown for label in item.labels):
            take(item)
            shown.update(item.labels)
    for item in candidates:
        take(item)
    return chosen


def write_gallery(
    model_path: Path, items: Sequence[GalleryItem], out: Path, boxes: BoxTable | None = None, columns: int = 4
) -> Path:
    """Draw each item with the heatmap of its most probable true finding (or of the most
    probable finding when it has none) and that finding's boxes; save a PNG at ``out``."""
    pair = ModelPair.open(model_path, threads=1)
    thresholds = pair.card.threshold_values()
    labels = list(pair.labels)
    rows = max(1, -(-len(items) // columns))
    figure, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 3.9 * rows), squeeze=False)
    for axis in axes.ravel():
        axis.axis("off")
    for axis, item in zip(axes.ravel(), items):
        batch = np.ascontiguousarray(item.pixels[None, None], np.float32)
        probabilities, features = pair.classify(batch)
        heatmaps = pair.gradcam(features)[0]
        probs = probabilities[0]
        true = [x for x in item.labels if x in labels]
        shown = max(true, key=lambda x: probs[labels.index(x)]) if true else labels[int(np.argmax(probs))]
        c = labels.index(shown)
        height, width = item.pixels.shape
        overlay = normalize_to_uint8(upsample(heatmaps[c], height, width))
        axis.imshow(item.pixels, cmap="gray", vmin=0, vmax=1)
        # colour where the map is warm, nothing where it is zero: a flat map leaves the image clear
        rgba = plt.get_cmap("jet")(overlay / 255.0)
        rgba[..., 3] = 0.6 * overlay / 255.0
        axis.imshow(rgba)
        # boxes in each original's own pixels (VinDr-CXR) cannot be placed without its size, unknown here
        for box in (boxes.for_image(item.name, width, height) if boxes is not None and not boxes.in_image_pixels
                    else []):
            if box.shows(shown):
                axis.add_patch(Rectangle((box.x, box.y), box.w, box.h, fill=False, edgecolor="lime", linewidth=1.5))
        flag = "flagged" if flagged(probs[c], thresholds[shown]) else "not flagged"
        if not overlay.any():
            flag += ", map all zero"
        truth = "true: " + (", ".join(true) if true else "No Finding")
        axis.set_title(f"{item.name}\n{shown} p={probs[c]:.2f} ({flag})\n{truth}", fontsize=7)
    figure.suptitle(f"{pair.card.name}: Grad-CAM on test images (green: NIH boxes)", fontsize=10)
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=110)
    plt.close(figure)
    return out
