"""Tiny generated NIH-like data sets for the trainer tests: 64 px PNGs and a Data_Entry CSV."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from viewer.core.nih import NIH_LABELS

HEADER = ("Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position,"
          "OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y]\n")


def make_dataset(root: Path, patients: int = 24, per_patient: int = 2, size: int = 64, seed: int = 0) -> Path:
    """Write ``root/images/*.png`` and ``root/Data_Entry_2017_v2020.csv``; return ``root``.

    Every finding has positives. Each positive label brightens its own region of the image, so a
    network can learn something in a few steps (the tests only need real, varied inputs).
    """
    rng = np.random.default_rng(seed)
    images = root / "images"
    images.mkdir(parents=True, exist_ok=True)
    rows = []
    n = 0
    for patient in range(1, patients + 1):
        for follow_up in range(per_patient):
            labels = [NIH_LABELS[n % len(NIH_LABELS)]] if n % 3 else []
            if n % 5 == 1:
                labels.append(NIH_LABELS[(n * 7) % len(NIH_LABELS)])
            labels = sorted(set(labels), key=NIH_LABELS.index)
            name = f"{patient:08d}_{follow_up:03d}.png"
            pixels = rng.normal(100, 20, (size, size))
            for label in labels:
                j = NIH_LABELS.index(label)
                y, x = divmod(j, 4)
                pixels[y * 16:(y + 1) * 16, x * 16:(x + 1) * 16] += 80
            cv2.imwrite(str(images / name), np.clip(pixels, 0, 255).astype(np.uint8))
            text = "|".join(labels) if labels else "No Finding"
            rows.append(f"{name},{text},{follow_up},{patient},{40 + patient % 30},{'MF'[patient % 2]},PA,"
                        f"{size},{size},0.143,0.143\n")
            n += 1
    (root / "Data_Entry_2017_v2020.csv").write_text(HEADER + "".join(rows), encoding="utf-8")
    return root
