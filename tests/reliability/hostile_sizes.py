"""Files whose cost would follow their size on disk rather than the image they declare, and a
child process that measures what reading one costs: bytes read (``rchar`` of /proc/self/io)
and the growth of its peak memory (``VmHWM``, reset through /proc/self/clear_refs: the
``ru_maxrss`` of a child keeps the peak of the process it was forked from), never seconds.

Big files are sparse (``truncate``): 2 GB of zeros cost no disk, but a reader that reads them
pays in full. The deflate bomb is a real deflated DICOM whose dataset inflates to hundreds of MB.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian

from tests.reliability.corpus import chest_pixels, dicom_dataset, encode, png_chunk, save_claiming
from tests.reliability.hostile_dicom import dataset_start, dicom_bytes, encode_element, insertion_point

REPO = Path(__file__).resolve().parents[2]
GB = 1 << 30
MB = 1 << 20


def sparse(path: Path, head: bytes, size: int) -> Path:
    """``head`` followed by zeros up to ``size`` bytes, without writing the zeros."""
    path.write_bytes(head)
    os.truncate(path, size)
    return path


def sparse_dicom(path: Path, size: int = 2 * GB) -> Path:
    """A valid preamble and file meta, then nothing but zeros up to ``size``."""
    data = dicom_bytes(dicom_dataset(chest_pixels(64, 56)))
    return sparse(path, data[: dataset_start(data)], size)


def sparse_png(path: Path, size: int = 2 * GB) -> Path:
    """A PNG signature and a valid 64 x 56 IHDR, then zeros up to ``size``."""
    ihdr = png_chunk(b"IHDR", struct.pack(">IIBBBBB", 64, 56, 8, 0, 0, 0, 0))
    return sparse(path, b"\x89PNG\r\n\x1a\n" + ihdr, size)


def undefined_length_pixels(path: Path, *, encapsulated: bool, size: int = 2 * GB) -> Path:
    """A DICOM whose pixel data has undefined length and is followed by zeros up to ``size``:
    native data (invalid with undefined length), or one real JPEG fragment with no delimiter."""
    pixels = (chest_pixels(64, 56) >> 4).astype(np.uint8)
    ds = dicom_dataset(None)
    ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.PhotometricInterpretation = 64, 56, 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    if encapsulated:
        head = save_claiming(ds, "1.2.840.10008.1.2.4.50")  # JPEG baseline
        jpeg = encode(".jpg", pixels)
        jpeg += b"\0" * (len(jpeg) % 2)
        items = struct.pack("<HHI", 0xFFFE, 0xE000, 0) + struct.pack("<HHI", 0xFFFE, 0xE000, len(jpeg)) + jpeg
        body = struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OB", 0, 0xFFFFFFFF) + items
    else:
        head = save_claiming(ds, ExplicitVRLittleEndian)
        body = struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OW", 0, 0xFFFFFFFF) + pixels.tobytes()
    return sparse(path, head + body, size)


def deflate_bomb(path: Path, inflated: int = 600 * MB, *, long_meta: bool = False) -> Path:
    """A real deflated DICOM whose dataset holds a private element of ``inflated`` zero bytes
    (about 1 MB on disk per GB inflated). ``long_meta`` puts the transfer syntax past byte
    4096 (a 5,000-character Media Storage SOP Instance UID before it)."""
    ds = dicom_dataset(chest_pixels(64, 56))
    if long_meta:
        ds.file_meta.MediaStorageSOPInstanceUID = "1." + "2" * 5000
    plain = save_claiming(ds, DeflatedExplicitVRLittleEndian)
    start = dataset_start(plain)
    body = plain[start:]
    cut = insertion_point(plain, 0x00090010) - start
    squeeze = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    with open(path, "wb") as out:
        out.write(plain[:start])
        out.write(squeeze.compress(body[:cut] + encode_element(0x00090010, "LO", b"BOMB")))
        out.write(squeeze.compress(struct.pack("<HH2sHI", 0x0009, 0x1000, b"OB", 0, inflated)))
        zeros = bytes(16 * MB)
        for _ in range(inflated // len(zeros)):
            out.write(squeeze.compress(zeros))
        out.write(squeeze.compress(bytes(inflated % len(zeros)) + body[cut:]))
        out.write(squeeze.flush())
    return path


def huge_csv_line(path: Path, header: str, size: int = GB) -> Path:
    """A CSV whose header is valid and whose second line runs to ``size`` bytes (NUL-sparse)."""
    return sparse(path, (header + "\n").encode(), size)


_CHILD = r"""
import json, sys
from pathlib import Path
from viewer.core.process_settings import configure_process
configure_process()
from viewer.core.boxes import BoxTable
from viewer.core.errors import CxrError
from viewer.core.loader import load_radiograph
from viewer.core.scan import scan_folder

def status(field):
    with open("/proc/self/status") as lines:
        return int(next(line for line in lines if line.startswith(field)).split()[1]) * 1024

def rchar():
    with open("/proc/self/io") as io:
        return int(next(line for line in io if line.startswith("rchar")).split()[1])

def run(what, path):
    if what == "load":
        try:
            return "loaded: " + "; ".join(load_radiograph(path).notes)
        except CxrError as exc:
            return "refused: " + str(exc)
    if what == "scan":
        return " | ".join(f"{type(item).__name__}: {getattr(item, 'reason', '')}" for item in scan_folder(path))
    if what == "boxes":
        try:
            return f"read {len(BoxTable.load(path))}"
        except CxrError as exc:
            return "refused: " + str(exc)

what, path, warm = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
run(what, warm)  # the imports and caches a first call pays are not the file's cost
with open("/proc/self/clear_refs", "w") as clear:
    clear.write("5")  # the peak resident set (VmHWM) starts again from now
resident, before = status("VmRSS"), rchar()
result = run(what, path)
read = rchar() - before
print(json.dumps({"read": read, "memory": status("VmHWM") - resident, "result": result}))
"""


def cost(what: str, path: Path, warm_up: Path, timeout: float = 300) -> dict[str, object]:
    """Bytes read, peak memory growth and the outcome of ``what`` ("load", "scan", "boxes") on
    ``path``, in a fresh child after the same call on ``warm_up`` (a good file of the kind)."""
    done = subprocess.run([sys.executable, "-c", _CHILD, what, str(path), str(warm_up)], capture_output=True,
                          text=True, timeout=timeout, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])
