"""Localisation on ground-truth boxes: Wang et al. 2017's protocol and the pointing game.

The boxes are NIH's ``BBox_List_2017.csv`` (Wang et al.'s own), VinDr-CXR's or RSNA Pneumonia's
(``viewer.core.boxes`` reads all three). VinDr-CXR's boxes, in each original image's pixels,
are scaled to the 1024x1024 space below from that image's size; RSNA's are drawn in it. Wang et
al.'s table is printed beside NIH's boxes only.

Every box is made by THE heatmap-to-box function of the viewer (``viewer.core.heatmap``): a
finding's raw Grad-CAM map is upsampled bilinearly to the 1024x1024 pixel space the NIH boxes
were drawn in, normalised to [0, 255] by its own minimum and maximum, and each 8-connected
region at or above 60 and at or above 180 (``WANG_THRESHOLDS``) becomes a detected box. Wang et
al.'s maps were 32x32 (the output of their transition layer); ours have the model's feature
resolution (7x7 for DenseNet121 at 224 px), so our boxes are coarser. Their boxes, like ours,
were compared in the 1024x1024 space.

Per finding that has a ground-truth box on an image (an *(image, finding) pair*, scored with
that finding's map, whatever its probability):

* a ground-truth box is **localised at T(IoBB)** when some detected box (at either threshold)
  has IoBB > T, IoBB being the intersection over the DETECTED box's area
  (``Agreement.localized``, the viewer's criterion); likewise **at T(IoU)** with IoU > T.
  Accuracy = localised boxes / boxes (Wang's "Acc.").
* **false positives at T** (our reading of Wang's "AFP"): the detected boxes of a pair that reach
  T with none of that pair's ground-truth boxes, averaged over pairs. A box found at both
  thresholds with the same coordinates counts once.
* **pointing game** (Zhang et al. 2016, without their 15-pixel tolerance): a hit when the
  upsampled map's maximum lies inside one of the pair's ground-truth boxes; rate = hits / pairs.

``WANG_2017`` holds the published table this is printed beside.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from viewer.core.boxes import SOURCE_SIZE, BoxTable
from viewer.core.heatmap import WANG_THRESHOLDS, Agreement, Box, agreement, iobb, iou

# The thresholds the report's tables show, and all those Wang et al. published (JSON has them all).
REPORTED_T: tuple[float, ...] = (0.1, 0.25, 0.5)
WANG_T_IOBB: tuple[float, ...] = (0.1, 0.25, 0.5, 0.75, 0.9)
WANG_T_IOU: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
MEASURES = ("iobb", "iou")

# The eight findings that have boxes, in the order of Wang et al.'s tables.
BOX_LABELS: tuple[str, ...] = (
    "Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule", "Pneumonia", "Pneumothorax",
)


def _row(*values: float) -> dict[str, float]:
    return dict(zip(BOX_LABELS, values))


# Wang X, Peng Y, Lu L, Lu Z, Bagheri M, Summers RM. ChestX-ray8 (CVPR 2017; arXiv:1705.02315).
# Transcribed from the paper's text: Table 4 (T(IoBB), the same in the CVPR paper) and Table 7
# of the arXiv version's supplementary material (T(IoU) alone). ImageNet-pretrained ResNet-50,
# 32x32 maps, the paper's 1,600 boxes on 983 images (the released file has 984 boxes on 880).
# Nothing is interpolated: a threshold they did not use has no entry.
WANG_2017: dict[str, Any] = {
    "source": "Wang et al. 2017, ChestX-ray8, CVPR 2017 / arXiv:1705.02315: Table 4 (T(IoBB)) and "
              "supplementary Table 7 (T(IoU)); accuracy (Acc.) and average false positives (AFP) per finding",
    "iobb": {
        0.1: {"acc": _row(0.7277, 0.9931, 0.7124, 0.7886, 0.4352, 0.1645, 0.7500, 0.4591),
              "afp": _row(0.8323, 0.3506, 0.7998, 0.5589, 0.6423, 0.6047, 0.9055, 0.4776)},
        0.25: {"acc": _row(0.5500, 0.9794, 0.5424, 0.5772, 0.2823, 0.0506, 0.5583, 0.3469),
               "afp": _row(0.9167, 0.4553, 0.8598, 0.6077, 0.6707, 0.6158, 0.9614, 0.5000)},
        0.5: {"acc": _row(0.2833, 0.8767, 0.3333, 0.4227, 0.1411, 0.0126, 0.3833, 0.1836),
              "afp": _row(1.0203, 0.5630, 0.9268, 0.6585, 0.6941, 0.6189, 1.0132, 0.5285)},
        0.75: {"acc": _row(0.1666, 0.7260, 0.2418, 0.3252, 0.1176, 0.0126, 0.2583, 0.1020),
               "afp": _row(1.0619, 0.6616, 0.9603, 0.6921, 0.7043, 0.6199, 1.0569, 0.5396)},
        0.9: {"acc": _row(0.1333, 0.6849, 0.2091, 0.2520, 0.0588, 0.0126, 0.2416, 0.0816),
              "afp": _row(1.0752, 0.7226, 0.9797, 0.7124, 0.7144, 0.6199, 1.0732, 0.5437)},
    },
    "iou": {
        0.1: {"acc": _row(0.6888, 0.9383, 0.6601, 0.7073, 0.4000, 0.1392, 0.6333, 0.3775),
              "afp": _row(0.8943, 0.5996, 0.8343, 0.6250, 0.6666, 0.6077, 1.0203, 0.4949)},
        0.2: {"acc": _row(0.4722, 0.6849, 0.4509, 0.4796, 0.2588, 0.0506, 0.3500, 0.2346),
              "afp": _row(0.9827, 0.7205, 0.9096, 0.6849, 0.6941, 0.6158, 1.0793, 0.5173)},
        0.3: {"acc": _row(0.2444, 0.4589, 0.3006, 0.2764, 0.1529, 0.0379, 0.1666, 0.1326),
              "afp": _row(1.0417, 0.7815, 0.9472, 0.7236, 0.7073, 0.6168, 1.1067, 0.5325)},
        0.4: {"acc": _row(0.0944, 0.2808, 0.2026, 0.1219, 0.0705, 0.0126, 0.0750, 0.0714),
              "afp": _row(1.0783, 0.8140, 0.9705, 0.7489, 0.7164, 0.6189, 1.1239, 0.5427)},
        0.5: {"acc": _row(0.0500, 0.1780, 0.1111, 0.0650, 0.0117, 0.0126, 0.0333, 0.0306),
              "afp": _row(1.0884, 0.8354, 0.9919, 0.7571, 0.7215, 0.6189, 1.1291, 0.5478)},
        0.6: {"acc": _row(0.0222, 0.0753, 0.0457, 0.0243, 0.0000, 0.0126, 0.0166, 0.0306),
              "afp": _row(1.0935, 0.8506, 1.0051, 0.7632, 0.7226, 0.6189, 1.1321, 0.5478)},
        0.7: {"acc": _row(0.0055, 0.0273, 0.0196, 0.0000, 0.0000, 0.0000, 0.0083, 0.0204),
              "afp": _row(1.0965, 0.8577, 1.0090, 0.7663, 0.7226, 0.6199, 1.1331, 0.5488)},
    },
}


def wang_value(measure: str, t: float, label: str, kind: str = "acc") -> float | None:
    """Wang et al.'s published value, or None where they published none (e.g. T(IoU) = 0.25)."""
    return WANG_2017[measure].get(t, {}).get(kind, {}).get(label)


@dataclass(frozen=True)
class PairResult:
    """One finding's map on one image against that finding's ground-truth boxes there.

    ``iobb``/``iou`` are [detected, ground truth] matrices; ``agreements`` one per ground-truth
    box, as the viewer computes them.
    """

    image: str
    label: str
    agreements: tuple[Agreement, ...]
    detected: tuple[Box, ...]
    iobb: np.ndarray
    iou: np.ndarray

    @property
    def gt(self) -> tuple[Box, ...]:
        return tuple(a.box for a in self.agreements)

    @property
    def pointing_hit(self) -> bool:
        return any(a.pointing_hit for a in self.agreements)

    def localized(self, measure: str, t: float) -> list[bool]:
        """For each ground-truth box: does some detected box exceed ``t`` by ``measure``?"""
        if measure == "iobb":
            return [a.localized(t) for a in self.agreements]
        return [any(value > t for value in a.iou.values()) for a in self.agreements]

    def false_positives(self, measure: str, t: float) -> int:
        """Detected boxes that exceed ``t`` with none of the pair's ground-truth boxes."""
        matrix = self.iobb if measure == "iobb" else self.iou
        if matrix.shape[0] == 0:
            return 0
        return int((matrix.max(axis=1) <= t).sum())


def localize_pair(
    image: str,
    label: str,
    heatmap: np.ndarray,
    gt_boxes: Sequence[Box],
    image_size: tuple[int, int] = (SOURCE_SIZE, SOURCE_SIZE),
    thresholds: Sequence[int] = WANG_THRESHOLDS,
) -> PairResult:
    """Score one raw map [h, w] against the boxes (pixels of ``image_size`` = (height, width))."""
    if not gt_boxes:
        raise ValueError(f"{image}: no ground-truth box for {label}")
    agreements = tuple(agreement(heatmap, box, image_size, thresholds) for box in gt_boxes)
    # the same map gives the same regions for every ground-truth box: take them once, and a box
    # found at both thresholds once (it would otherwise be two false positives)
    detected = tuple(dict.fromkeys(b for t in thresholds for b in agreements[0].boxes[t]))
    return PairResult(
        image=image,
        label=label,
        agreements=agreements,
        detected=detected,
        iobb=np.array([[iobb(d, a.box) for a in agreements] for d in detected],
                      np.float64).reshape(-1, len(agreements)),
        iou=np.array([[iou(d, a.box) for a in agreements] for d in detected],
                     np.float64).reshape(-1, len(agreements)),
    )


def localize_images(
    image_names: Sequence[str],
    heatmaps: np.ndarray,
    labels: Sequence[str],
    boxes: BoxTable,
    size: int = SOURCE_SIZE,
    image_sizes: Sequence[tuple[int, int]] | None = None,
) -> tuple[list[PairResult], dict[str, int]]:
    """Every (image, finding) pair of ``boxes`` among ``image_names``; maps [N, L, h, w].

    Returns the pairs and, per finding the model has no output for, the boxes left out. A box
    belongs to each model output that one of its names matches by ``labels.match_label`` (the
    card's own spelling; a VinDr Nodule/Mass box to Nodule and to Mass). Boxes are compared in
    the ``size`` x ``size`` space: NIH's and RSNA's are drawn in it (1024), VinDr-CXR's are
    scaled to it from each image's own pixels, so they need ``image_sizes``, the (width,
    height) of each image as read. Scaling both axes to a square keeps IoBB, IoU and the
    pointing game as they were in the image's pixels (ratios of areas of axis-aligned boxes).
    """
    if boxes.in_image_pixels and image_sizes is None:
        raise ValueError(f"{boxes.source or 'the box list'}: boxes in each image's own pixels need the image sizes")
    pairs: list[PairResult] = []
    no_output: dict[str, int] = {}
    for n, name in enumerate(image_names):
        if name not in boxes:
            continue
        by_label: dict[str, tuple[str, list[Box]]] = {}  # finding -> (model output, its boxes)
        original = image_sizes[n] if image_sizes is not None else None
        for gt in boxes.for_image(name, size, size, original):
            outputs = gt.outputs(labels)
            if not outputs:
                no_output[gt.label] = no_output.get(gt.label, 0) + 1
            for output, label in outputs.items():
                by_label.setdefault(label, (output, []))[1].append(gt.box)
        for label, (output, gts) in by_label.items():
            pairs.append(localize_pair(name, label, heatmaps[n, list(labels).index(output)], gts, (size, size)))
    return pairs, no_output


def _rate(hits: int, total: int) -> float | None:
    return round(hits / total, 4) if total else None


def _key(t: float) -> str:
    return f"{t:g}"


def summarize(
    pairs: Iterable[PairResult],
    t_iobb: Sequence[float] = WANG_T_IOBB,
    t_iou: Sequence[float] = tuple(sorted(set(WANG_T_IOU) | set(REPORTED_T))),
) -> dict[str, Any]:
    """Accuracy, false positives and pointing game per finding and over all findings.

    ``{"per_label": {label: entry}, "all": entry}``; each entry has ``pairs``, ``boxes``,
    ``images``, ``empty_maps`` (flat maps, which detect nothing), ``accuracy``/``localized``/``afp``
    keyed by measure then threshold (as text, e.g. ``"0.25"``), and ``pointing`` (``hits``,
    ``pairs``, ``rate``). Rates are None over nothing.
    """
    pairs = list(pairs)
    groups: dict[str, list[PairResult]] = {}
    for pair in pairs:
        groups.setdefault(pair.label, []).append(pair)
    order = [x for x in BOX_LABELS if x in groups] + sorted(x for x in groups if x not in BOX_LABELS)
    thresholds = {"iobb": tuple(t_iobb), "iou": tuple(t_iou)}

    def entry(items: list[PairResult]) -> dict[str, Any]:
        n_boxes = sum(len(p.agreements) for p in items)
        result: dict[str, Any] = {"pairs": len(items), "boxes": n_boxes,
                                  "images": len({p.image for p in items}),
                                  "localized": {}, "accuracy": {}, "afp": {}}
        for measure in MEASURES:
            for name in ("localized", "accuracy", "afp"):
                result[name][measure] = {}
            for t in thresholds[measure]:
                hits = sum(sum(p.localized(measure, t)) for p in items)
                result["localized"][measure][_key(t)] = hits
                result["accuracy"][measure][_key(t)] = _rate(hits, n_boxes)
                fps = sum(p.false_positives(measure, t) for p in items)
                result["afp"][measure][_key(t)] = _rate(fps, len(items))
        # a map that is flat (Grad-CAM all zero after its ReLU: nothing speaks for the finding)
        # has no region at all; a map that is not has at least its maximum's region
        result["empty_maps"] = sum(not p.detected for p in items)
        hits = sum(p.pointing_hit for p in items)
        result["pointing"] = {"hits": hits, "pairs": len(items), "rate": _rate(hits, len(items))}
        return result

    return {"per_label": {label: entry(groups[label]) for label in order}, "all": entry(pairs)}


def pair_records(pairs: Iterable[PairResult]) -> list[dict[str, Any]]:
    """Each pair as plain JSON: its boxes, the detected ones, the best IoBB/IoU per box, the hit."""
    records = []
    for p in pairs:
        records.append({
            "image": p.image, "label": p.label,
            "gt_boxes": [[round(v, 1) for v in b] for b in p.gt],
            "detected_boxes": [[round(v, 1) for v in b] for b in p.detected],
            "best_iobb": [round(float(v), 4) for v in (p.iobb.max(axis=0) if len(p.detected) else np.zeros(len(p.gt)))],
            "best_iou": [round(float(v), 4) for v in (p.iou.max(axis=0) if len(p.detected) else np.zeros(len(p.gt)))],
            "pointing_hit": p.pointing_hit,
        })
    return records


def evaluate_localization(
    image_names: Sequence[str], heatmaps: np.ndarray, labels: Sequence[str], boxes: BoxTable,
    image_sizes: Sequence[tuple[int, int]] | None = None,
) -> dict[str, Any]:
    """The localisation section of the report: summary, each pair, and Wang et al.'s table.

    ``image_sizes``: (width, height) of each image as read, needed for VinDr-CXR's boxes.
    """
    pairs, no_output = localize_images(image_names, heatmaps, labels, boxes, image_sizes=image_sizes)
    summary = summarize(pairs)
    space = ("the boxes scaled to it from each image's own pixels" if boxes.in_image_pixels
             else "the boxes' space")
    return {
        "protocol": (f"maps upsampled to 1024x1024 ({space}), normalised to [0,255], regions >= 60 and "
                     ">= 180 (8-connected) as boxes: viewer.core.heatmap; a box is localised when IoBB (or IoU) "
                     "> T for some detected box; pointing game = the map's maximum inside a box of the pair"),
        "box_source": str(boxes.source) if boxes.source else None,
        "box_format": boxes.format.key,
        "box_dataset": boxes.format.title,
        "images_evaluated": len(image_names),
        "images_with_boxes": len({p.image for p in pairs}),
        "boxes_without_model_output": no_output,
        **summary,
        "pairs_detail": pair_records(pairs),
        "wang_2017": _wang_json(),
    }


def _wang_json() -> dict[str, Any]:
    out: dict[str, Any] = {"source": WANG_2017["source"]}
    for measure in MEASURES:
        out[measure] = {_key(t): v for t, v in WANG_2017[measure].items()}
    return out


# -- Markdown --------------------------------------------------------------------------------------------
def _cell(entry: dict[str, Any] | None, measure: str, t: float) -> str:
    if entry is None or not entry["boxes"]:
        return "–"
    hits = entry["localized"][measure][_key(t)]
    return f"{entry['accuracy'][measure][_key(t)]:.2f} ({hits}/{entry['boxes']})"


def _wang_cell(measure: str, t: float, label: str | None) -> str:
    if label is None:
        return ""
    value = wang_value(measure, t, label)
    return "n/p" if value is None else f"{value:.2f}"


def markdown(section: dict[str, Any], thresholds: Sequence[float] = REPORTED_T) -> str:
    """Accuracy tables (ours beside Wang et al.'s) and the pointing game, as Markdown."""
    per_label = section["per_label"]
    lines = [f"{section['all']['boxes']} ground-truth boxes of {section['all']['pairs']} (image, finding) pairs on "
             f"{section['images_with_boxes']} of the {section['images_evaluated']} images evaluated."]
    if section["all"]["empty_maps"]:
        lines.append(f"{section['all']['empty_maps']} of the {section['all']['pairs']} maps are empty (Grad-CAM zero "
                     "everywhere after its ReLU): they detect nothing and point nowhere.")
    if section["boxes_without_model_output"]:
        lines.append("Boxes of findings the model has no output for (left out): " + ", ".join(
            f"{k} {v}" for k, v in section["boxes_without_model_output"].items()))
    if section.get("box_format", "nih") != "nih":
        return _other_dataset_markdown(section, lines, thresholds)
    for measure, title in (("iobb", "T(IoBB)"), ("iou", "T(IoU)")):
        lines += ["", f"**Accuracy at {title}** — ours as accuracy (localised/boxes), Wang et al. 2017 beside it"
                  + (" (n/p: they published T(IoU) = 0.1, 0.2, ... 0.7 only)" if measure == "iou" else ""), ""]
        header = "| finding | boxes | " + " | ".join(f"{title}={t:g} ours | Wang" for t in thresholds) + " |"
        lines += [header, "|---|---:|" + "---:|---:|" * len(thresholds)]
        rows = list(BOX_LABELS) + [x for x in per_label if x not in BOX_LABELS]
        for label in rows:
            entry = per_label.get(label)
            boxes = entry["boxes"] if entry else 0
            cells = " | ".join(f"{_cell(entry, measure, t)} | {_wang_cell(measure, t, label)}" for t in thresholds)
            lines.append(f"| {label} | {boxes} | {cells} |")
        total = section["all"]
        total_cells = " | ".join(f"{_cell(total, measure, t)} | " for t in thresholds)
        lines.append(f"| all | {total['boxes']} | " + total_cells + "|")
    return "\n".join(lines + _pointing_lines(section))


def _pointing_lines(section: dict[str, Any]) -> list[str]:
    lines = ["", "**Pointing game** (the map's maximum inside a ground-truth box of that finding)", "",
             "| finding | pairs | hits | rate |", "|---|---:|---:|---:|"]
    for label, entry in list(section["per_label"].items()) + [("all", section["all"])]:
        point = entry["pointing"]
        rate = "–" if point["rate"] is None else f"{point['rate']:.2f}"
        lines.append(f"| {label} | {point['pairs']} | {point['hits']} | {rate} |")
    return lines


def _other_dataset_markdown(section: dict[str, Any], lines: list[str], thresholds: Sequence[float]) -> str:
    """The tables for VinDr-CXR's or RSNA's boxes: ours alone, as Wang et al. scored NIH's boxes."""
    lines = lines + ["", f"Boxes of {section.get('box_dataset', 'another dataset')}: Wang et al. 2017 scored NIH's "
                     "boxes, so their values are not shown beside these. Each radiologist's box counts as a box; "
                     "a box of two findings (VinDr-CXR's Nodule/Mass) counts under each, and in 'all' twice."]
    for measure, title in (("iobb", "T(IoBB)"), ("iou", "T(IoU)")):
        lines += ["", f"**Accuracy at {title}** (localised/boxes)", "",
                  "| finding | boxes | " + " | ".join(f"{title}={t:g}" for t in thresholds) + " |",
                  "|---|---:|" + "---:|" * len(thresholds)]
        for label, entry in list(section["per_label"].items()) + [("all", section["all"])]:
            cells = " | ".join(_cell(entry, measure, t) for t in thresholds)
            lines.append(f"| {label} | {entry['boxes']} | {cells} |")
    return "\n".join(lines + _pointing_lines(section))
