"""Measure the out-of-distribution check (viewer/core/ood.py) on real images; print one table.

Fits ``fit_ood`` on the first N NIH PNGs of ../shared/data/nih-sample/images (by name), then
scores, through the same ``preprocess`` the model uses:

* chest X-rays that must NOT be flagged: the held-out NIH PNGs and the real chest DICOMs;
* images that MUST be flagged: the ankle CR RG3, pydicom's and pydicom-data's CT, MR,
  ultrasound, NM and other test images, scikit-image's natural images, and the held-out chests
  rotated 90 degrees either way or turned upside down;
* for information only (no target): the held-out chests mirrored left-right (still a chest)
  and with inverted grey levels (what a mishandled MONOCHROME1 looks like).

Files that hold the same picture in several encodings (``693_J2KR``/``693_UNCR``/...) are
counted once: an image is dropped when its 32x32 thumbnail matches one already in the group.
The DICOM header (Modality) is read here only to name the groups; the check never sees it.

    .venv/bin/python bench/ood_eval.py [--size 224] [--train 300] [--markdown]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pydicom

from viewer.core.errors import CxrError
from viewer.core.ood import OodCheck, fit_ood
from viewer.core.preprocess import preprocess

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
NIH_IMAGES = SHARED / "nih-sample" / "images"
CHEST_DICOMS = ("RG1_UNCR.dcm", "RG1_J2KR.dcm", "nih_gcp_00000002_000.dcm")
ANKLE = "RG3_UNCR.dcm"
ANKLE_GROUP = "ankle CR RG3 (../shared/data RG3_UNCR + pydicom-data's encodings of it)"


@dataclass
class Group:
    name: str
    expect_ood: bool | None  # None: reported for information, no target
    images: list[np.ndarray] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    files: int = 0


def pip_test_files() -> list[Path]:
    """pydicom's bundled test files and the pydicom-data package's, both local (no download)."""
    import data_store
    import pydicom.data

    folders = [Path(pydicom.data.__file__).parent / "test_files", Path(data_store.__file__).parent / "data"]
    return sorted(p for folder in folders for p in folder.glob("*.dcm"))


def natural_image_files() -> list[Path]:
    import skimage.data

    folder = Path(skimage.data.data_dir)
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in {".png", ".jpg", ".jpeg"})


def modality_group(path: Path) -> str | None:
    """Which non-chest group a pip-installed DICOM test file belongs to (None: skip it)."""
    if path.name.startswith("RG1_"):
        return None  # the chest CR: counted among the chests via ../shared/data
    if path.name.startswith("RG3_"):
        return ANKLE_GROUP
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about its deliberately odd test files
        ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
    return {
        "CT": "CT (pydicom, pydicom-data)",
        "MR": "MR (pydicom, pydicom-data)",
        "US": "ultrasound (pydicom, pydicom-data)",
        "NM": "nuclear medicine (pydicom, pydicom-data)",
    }.get(str(ds.get("Modality", "")), "other DICOM: test patterns, SEG, RT dose, photo")


def load(path: Path, size: int) -> np.ndarray | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about its deliberately odd test files
        try:
            return preprocess(path, size, size)
        except (CxrError, ValueError):  # unreadable test files: not images the check can see
            return None


def add_unique(group: Group, image: np.ndarray, name: str) -> None:
    """Add ``image`` unless the group already holds the same picture (another encoding of it)."""
    group.files += 1
    thumb = cv2.resize(image, (32, 32), interpolation=cv2.INTER_AREA)
    for other in group.images:
        if np.abs(cv2.resize(other, (32, 32), interpolation=cv2.INTER_AREA) - thumb).mean() < 0.02:
            return
    group.images.append(image)
    group.names.append(name)


def transformed(name: str, expect: bool | None, chests: Iterable[np.ndarray], fn: Callable) -> Group:
    group = Group(name, expect)
    for image in chests:
        group.images.append(np.ascontiguousarray(fn(image)))
        group.files += 1
    group.names = [f"#{i}" for i in range(len(group.images))]
    return group


def build_groups(size: int, n_train: int) -> tuple[list[np.ndarray], list[Group]]:
    pngs = sorted(NIH_IMAGES.glob("*.png"))
    if len(pngs) <= n_train:
        raise SystemExit(f"need more than {n_train} PNGs in {NIH_IMAGES}, found {len(pngs)}")
    train = [preprocess(p, size, size) for p in pngs[:n_train]]
    held = Group("NIH PNG chest X-rays, held out", False)
    for p in pngs[n_train:]:
        held.images.append(preprocess(p, size, size))
        held.names.append(p.name)
        held.files += 1

    dicom_chest = Group("real chest DICOMs (RG1_UNCR, RG1_J2KR, nih_gcp_00000002_000)", False)
    for name in CHEST_DICOMS:
        dicom_chest.images.append(preprocess(SHARED / "dicom" / name, size, size))
        dicom_chest.names.append(name)
        dicom_chest.files += 1

    ankle = Group(ANKLE_GROUP, True)
    add_unique(ankle, preprocess(SHARED / "dicom" / ANKLE, size, size), ANKLE)

    by_name: dict[str, Group] = {ANKLE_GROUP: ankle}
    for path in pip_test_files():
        try:
            group_name = modality_group(path)
        except Exception:  # a header pydicom cannot parse at all: not an image
            continue
        image = load(path, size) if group_name else None
        if image is None:
            continue
        group = by_name.setdefault(group_name, Group(group_name, True))
        add_unique(group, image, path.name)

    natural = Group("natural images (scikit-image data)", True)
    for path in natural_image_files():
        image = load(path, size)
        if image is not None:
            add_unique(natural, image, path.name)

    chests = held.images + dicom_chest.images
    groups = [
        held,
        dicom_chest,
        *sorted(by_name.values(), key=lambda g: (g is not ankle, g.name)),
        natural,
        transformed("chests rotated 90 degrees clockwise", True, chests, lambda x: np.rot90(x, -1)),
        transformed("chests rotated 90 degrees anticlockwise", True, chests, np.rot90),
        transformed("chests upside down (flipped top-bottom)", True, chests, np.flipud),
        transformed("chests mirrored left-right (information)", None, chests, np.fliplr),
        transformed("chests with inverted grey levels (information)", None, chests, lambda x: 1.0 - x),
    ]
    return train, groups


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=224, help="model input size (default 224)")
    parser.add_argument("--train", type=int, default=300, help="NIH PNGs to fit on (default 300)")
    args = parser.parse_args(argv)
    if not NIH_IMAGES.is_dir():
        print(f"needs {NIH_IMAGES} (the project's shared real data), which is not present", file=sys.stderr)
        return 2

    start = time.perf_counter()
    train, groups = build_groups(args.size, args.train)
    fitted = fit_ood(train)
    check = OodCheck(fitted)
    threshold = check.threshold
    print(
        f"OOD check {fitted['method']}: fitted on {len(train)} NIH PNGs at {args.size}x{args.size}, "
        f"threshold {threshold:.3f} ({fitted['percentile']:g}th percentile of out-of-fold scores)\n"
    )
    print("| group | should be flagged | images (files) | flagged | rate | score/threshold: median | min-max |")
    print("|---|---|---:|---:|---:|---:|---|")
    totals = {True: [0, 0], False: [0, 0]}
    notes = []
    for group in groups:
        scores = np.array([check.score(x) for x in group.images]) / threshold
        flagged = int((scores > 1.0).sum())
        n = len(scores)
        if group.expect_ood is not None:
            totals[group.expect_ood][0] += flagged
            totals[group.expect_ood][1] += n
        expect = {True: "yes", False: "no", None: "(info)"}[group.expect_ood]
        files = f"{n} ({group.files})" if group.files != n else f"{n}"
        print(
            f"| {group.name} | {expect} | {files} | {flagged} | {flagged / n:.1%} | "
            f"{np.median(scores):.2f} | {scores.min():.2f}-{scores.max():.2f} |"
        )
        wrong = scores > 1.0 if group.expect_ood is False else scores <= 1.0 if group.expect_ood else None
        if wrong is not None and wrong.any():
            shown = ", ".join(f"{nm} ({s:.2f})" for nm, s, w in zip(group.names, scores, wrong) if w)
            notes.append(f"- {group.name}: {'flagged' if group.expect_ood is False else 'missed'}: {shown}")
    ood_hit, ood_n = totals[True]
    chest_hit, chest_n = totals[False]
    print(
        f"\nnon-chest flagged: {ood_hit}/{ood_n} = {ood_hit / ood_n:.1%} (target >= 95%); "
        f"real chest X-rays flagged: {chest_hit}/{chest_n} = {chest_hit / chest_n:.1%} (target <= 5%)"
    )
    if notes:
        print("\n" + "\n".join(notes))
    print(f"\n({time.perf_counter() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
