"""One folder holding every kind of hostile file, through ``cxr-viewer batch`` at once.

A row for every file that is or claims to be an image: ``ok`` for every good one, ``ok`` with a
note where the problem was recoverable, an ``error`` with a clear message where the image cannot
be shown; the label file, the folder link and the folder past the path limit in the summary line;
no traceback; nothing written through the link planted at the output; no identifier from the
patient-named folders; and the batch's peak memory bounded although the folder holds a 2 GB
DICOM, a 2 GB PNG, 2 GB behind undefined-length pixel data, two deflate bombs and a 1 GB label
CSV.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from tests.reliability.corpus import chest_pixels, dicom_dataset, encode, save
from tests.reliability.hostile_dicom import dicom_bytes, set_element
from tests.reliability.hostile_sizes import (
    MB,
    deflate_bomb,
    huge_csv_line,
    sparse_dicom,
    sparse_png,
    undefined_length_pixels,
)
from tests.reliability.test_hostile_paths import enter, png_bytes, write_at
from tests.reliability.test_privacy import ALICE, identified
from viewer.core.predictions_csv import restore

pytestmark = pytest.mark.timeout(600)
REPO = Path(__file__).resolve().parents[2]
MAX_PEAK_MEMORY = 1 << 30  # the batch's whole process, model and decoders included
FAMILY, GIVEN = ALICE.name.split("^")

GOOD = ["good.dcm", "good.png", "<b>x <img src=good.png>.png", '=HYPERLINK("http:__x","y").png', "series_inf.dcm",
        "enhanced.dcm", "nih/00000001_000.png", f"{FAMILY}_{GIVEN}_{ALICE.patient_id}/{ALICE.birth}_CHEST/IM000001.dcm"]
NOTED = {"frames_inf.dcm": "NumberOfFrames", "short_lut.dcm": "VOI LUT", "huge_window.dcm": "window 1"}
REFUSED = {"huge_slope.dcm": "rescale slope", "bomb.dcm": "inflates to more than",
           "bomb_long_meta.dcm": "inflates to more than", "sparse.dcm": "zeros where its dataset should start",
           "sparse.png": "far more than its declared", "undefined.dcm": "undefined length"}


def _deep_png(root: Path) -> None:
    """A PNG in a folder whose path passes the system's limit (built a level at a time)."""
    limit = os.pathconf(root, "PC_PATH_MAX")
    near, fd = root, os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    while len(os.fsencode(near)) < limit:
        name = "d" * min(200, max(1, limit - len(os.fsencode(near))))
        fd = enter(fd, name)
        near = near / name
    write_at(fd, "deep.png", png_bytes(4))
    os.close(fd)


def hostile_folder(root: Path) -> Path:
    root.mkdir(parents=True)
    pixels = chest_pixels(64, 56)
    png = encode(".png", (pixels >> 4).astype(np.uint8))
    seed = dicom_bytes(dicom_dataset(pixels))
    (root / "good.dcm").write_bytes(seed)
    for name in ("good.png", "<b>x <img src=good.png>.png", '=HYPERLINK("http:__x","y").png'):
        (root / name).write_bytes(png)
    (root / "frames_inf.dcm").write_bytes(set_element(seed, "NumberOfFrames", "IS", b"inf"))
    (root / "series_inf.dcm").write_bytes(set_element(seed, "SeriesNumber", "IS", b"1e999"))
    ds = dicom_dataset(pixels)
    item = Dataset()
    item.LUTDescriptor = [4096, 0, 12]
    item.add_new("LUTData", "US", list(range(0, 400, 4)))
    ds.VOILUTSequence = Sequence([item])
    save(ds, root / "short_lut.dcm")
    ds = dicom_dataset(pixels)
    group, transform = Dataset(), Dataset()
    transform.RescaleSlope, transform.RescaleIntercept = 1, -1024
    group.PixelValueTransformationSequence = Sequence([transform])
    ds.SharedFunctionalGroupsSequence = Sequence([group])
    save(ds, root / "enhanced.dcm")
    ds = dicom_dataset(pixels)
    ds.RescaleSlope, ds.RescaleIntercept = "1e39", "0"
    save(ds, root / "huge_slope.dcm")
    ds = dicom_dataset(pixels)
    ds.WindowCenter, ds.WindowWidth = "600", "1e300"
    save(ds, root / "huge_window.dcm")
    deflate_bomb(root / "bomb.dcm", 300 * MB)
    deflate_bomb(root / "bomb_long_meta.dcm", 300 * MB, long_meta=True)
    sparse_dicom(root / "sparse.dcm")
    sparse_png(root / "sparse.png")
    undefined_length_pixels(root / "undefined.dcm", encapsulated=False)
    (root / "nih").mkdir()
    (root / "nih" / "00000001_000.png").write_bytes(png)
    huge_csv_line(root / "nih" / "Data_Entry_2017.csv", "Image Index,Finding Labels,Follow-up #,Patient ID")
    (root / "escape").symlink_to("/etc")
    save(identified(pixels, ALICE), root / GOOD[-1])
    _deep_png(root)
    return root


def test_a_folder_of_every_hostile_kind_through_the_batch(tmp_path: Path, tiny_model: Path) -> None:
    folder = hostile_folder(tmp_path / "hostile")
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    victim = outputs / "someone's image.png"
    victim.write_bytes(encode(".png", np.full((8, 8), 7, np.uint8)))
    original = victim.read_bytes()
    out = outputs / "out.csv"
    (outputs / "out.csv.partial").symlink_to(victim)
    # The child's own peak (VmHWM: ru_maxrss would keep the peak of the pytest process it forked from).
    wrapper = ("import sys\nfrom viewer.__main__ import main\ncode = main(sys.argv[1:])\n"
               "peak = next(line for line in open('/proc/self/status') if line.startswith('VmHWM'))\n"
               "print('peak-kb', peak.split()[1], file=sys.stderr)\nsys.exit(code)\n")
    done = subprocess.run([sys.executable, "-c", wrapper, "batch", str(folder), "--out", str(out), "--model",
                           str(tiny_model)], capture_output=True, text=True, timeout=600, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-3000:]
    peak = int(done.stderr.split("peak-kb")[-1].split()[0]) * 1024
    assert peak < MAX_PEAK_MEMORY, f"peak memory {peak / MB:.0f} MB"
    assert victim.read_bytes() == original and not out.is_symlink()

    with open(out, newline="", encoding="utf-8") as handle:
        rows = {restore(row["path"]): row for row in csv.DictReader(handle)}
    scrubbed = {path.replace("[removed]", ""): row for path, row in rows.items()}
    wrong = []
    for name in GOOD:
        row = rows.get(name) or next((r for p, r in scrubbed.items() if name.endswith(p.split("/")[-1])
                                      and "CHEST" in p and "CHEST" in name), None)
        if row is None or row["status"] != "ok":
            wrong.append(f"{name}: {row and (row['status'], row['error'])}")
    for name, fragment in NOTED.items():
        row = rows[name]
        if row["status"] != "ok" or fragment not in row["notes"]:
            wrong.append(f"{name}: expected ok with a note on {fragment!r}, got {row['status']} {row['notes']!r}")
    for name, fragment in REFUSED.items():
        row = rows[name]
        if row["status"] != "error" or fragment not in row["error"] or "unexpected" in row["error"]:
            wrong.append(f"{name}: expected an error with {fragment!r}, got {row['status']} {row['error']!r}")
    deep = [row for path, row in rows.items() if path.endswith("deep.png")]
    if deep:  # the image past the limit has a row only if its folder was entered
        wrong += [f"deep.png: {row['status']} {row['error']}" for row in deep if row["status"] != "error"]
    assert not wrong, "\n".join(wrong)
    assert len(rows) == len(GOOD) + len(NOTED) + len(REFUSED) + len(deep)
    with open(out, newline="", encoding="utf-8") as handle:
        cells = [cell for row in csv.reader(handle) for cell in row[:2]]
    assert not any(cell.startswith(("=", "+", "-", "@")) for cell in cells)
    summary = done.stdout + done.stderr
    assert "Data_Entry_2017.csv" in summary and "not followed" in summary and "longer than the system allows" in summary
    assert not ALICE.leaks(out.read_text(encoding="utf-8") + summary)
