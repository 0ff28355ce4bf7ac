"""Decode + preprocessing against the plain path (issue 8 target: no slower).

Plain path: ``pydicom.pixels.pixel_array(path)`` or ``cv2.imread(path, IMREAD_UNCHANGED)``,
then one ``cv2.resize`` (INTER_AREA) to the model input. Ours: ``preprocess(path, size, size)``
(load_radiograph + window/photometric + the same resize). Both run interleaved in the same loop,
so machine noise hits them alike; the table shows medians and the ratio ours / plain.

    python bench/bench_decode.py [--repeats 40] [--size 224]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import cv2
from pydicom.pixels import pixel_array

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from viewer.core.loader import load_radiograph  # noqa: E402
from viewer.core.preprocess import preprocess  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def _cases() -> list[tuple[str, Path, str]]:
    cases = []
    pngs = sorted((SHARED / "nih-sample" / "images").glob("*.png"))
    big = next((p for p in pngs if cv2.imread(str(p), cv2.IMREAD_UNCHANGED).shape[0] == 1024), None)
    if big is not None:
        cases.append((f"NIH PNG 1024x1024 ({big.name})", big, "png"))
    rg1 = SHARED / "dicom" / "RG1_UNCR.dcm"
    if not rg1.exists():  # the same file ships in pydicom-data
        import data_store

        rg1 = Path(data_store.__file__).parent / "data" / "RG1_UNCR.dcm"
    cases.append(("RG1_UNCR.dcm 1841x1955 16-bit", rg1, "dicom"))
    return cases


def _plain(path: Path, kind: str, size: int) -> None:
    image = pixel_array(path) if kind == "dicom" else cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)


def _time(fn) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument("--size", type=int, default=224)
    args = parser.parse_args()
    rows = []
    for name, path, kind in _cases():
        for _ in range(3):  # warm the page cache and the libraries
            _plain(path, kind, args.size)
            preprocess(path, args.size, args.size)
        plain, ours, load = [], [], []
        for _ in range(args.repeats):
            plain.append(_time(lambda: _plain(path, kind, args.size)))
            ours.append(_time(lambda: preprocess(path, args.size, args.size)))
            load.append(_time(lambda: load_radiograph(path)))
        rows.append((name, statistics.median(plain), statistics.median(ours), statistics.median(load)))
    print(f"decode + preprocess to {args.size}x{args.size}, median of {args.repeats} interleaved runs")
    print(f"{'case':40s} {'plain ms':>9s} {'ours ms':>9s} {'ratio':>6s} {'(load only ms)':>15s}")
    for name, plain_ms, ours_ms, load_ms in rows:
        print(f"{name:40s} {plain_ms:9.2f} {ours_ms:9.2f} {ours_ms / plain_ms:6.2f} {load_ms:15.2f}")


if __name__ == "__main__":
    main()
