"""Fuzzing the loader on mutated real files, each case in a worker process with a time limit.

``mutated_files()`` is a hypothesis strategy: a real DICOM (pydicom's own test files: native,
big endian, implicit, deflated, RLE, JPEG baseline/lossless, JPEG-LS, JPEG 2000, multi-frame,
colour) or a real PNG/JPEG (NIH ChestX-ray14 images from ../shared/data when present, else a
generated chest phantom), changed by a few mutations: bytes set, flipped, inserted, deleted,
duplicated or spliced from another file, the file cut short, a DICOM element's value or length
replaced by a boundary value (Rows, Columns, BitsAllocated, the transfer syntax, the pixel data
length...), any header value the viewer reads re-encoded with a hostile value of its VR
(``hostile_dicom``: inf, 1e999, empty, multi-valued, wrongly encoded, random bytes), and PNG
chunk CRCs recomputed afterwards so the damage reaches the decoder instead of stopping at the
checksum.

``LoaderWorker`` runs the folder scan on each case, then ``load_radiograph`` (and ``preprocess``
and the tags panel's header listing on what loads) in a child process under a memory limit: a
case that takes longer than the time limit is a hang, a child that dies is a crash, and any
exception other than the project's own (``CxrError``), or any from the scan, is a failure.
Used by tests/reliability/test_fuzz.py (CI) and bench/fuzz_loader.py (long runs).
"""

from __future__ import annotations

import json
import os
import pickle
import select
import struct
import subprocess
import sys
import tempfile
import zlib
from dataclasses import dataclass
from functools import cache, lru_cache
from io import BytesIO
from pathlib import Path

from hypothesis import strategies as st

from tests.reliability.hostile_dicom import hostile_cases, set_element

REPO = Path(__file__).resolve().parents[2]
SHARED_NIH = REPO.parent / "shared" / "data" / "nih-sample"
DICOM_SOURCES = (
    "MR_small.dcm", "CT_small.dcm", "MR_small_bigendian.dcm", "MR_small_implicit.dcm", "MR_small_padded.dcm",
    "image_dfl.dcm", "MR_small_RLE.dcm", "SC_rgb_rle.dcm", "SC_rgb_small_odd_jpeg.dcm", "SC_rgb_jpeg_gdcm.dcm",
    "JPGLosslessP14SV1_1s_1f_8b.dcm", "MR_small_jpeg_ls_lossless.dcm", "MR_small_jp2klossless.dcm",
    "JPEG2000.dcm", "emri_small.dcm", "liver_1frame.dcm",
)
# DICOM elements whose values decide how (and how much) pixel data is read.
INTERESTING_TAGS = (
    0x00020010, 0x00080016, 0x00280002, 0x00280004, 0x00280006, 0x00280008, 0x00280010, 0x00280011,
    0x00280100, 0x00280101, 0x00280102, 0x00280103, 0x00281050, 0x00281051, 0x00281052, 0x00281053,
    0x00281056, 0x00283010, 0x7FE00010,
)
BOUNDARY_VALUES = (0, 1, 2, 7, 8, 12, 15, 16, 17, 31, 32, 33, 64, 255, 256, 0x7FFF, 0x8000, 0xFFFF,
                   0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF)


# -- the seed files ----------------------------------------------------------------------------
@lru_cache(maxsize=1)
def sources() -> dict[str, bytes]:
    """name -> bytes of every seed file; the name's suffix is the file's."""
    import cv2
    import numpy as np
    import pydicom.data
    from data_store import __file__ as data_store_file

    folders = (Path(pydicom.data.__file__).parent / "test_files", Path(data_store_file).parent / "data")
    out: dict[str, bytes] = {}
    for name in DICOM_SOURCES:
        path = next((f / name for f in folders if (f / name).is_file()), None)
        if path is not None:
            out[name] = path.read_bytes()
    pngs = sorted(SHARED_NIH.glob("images/*.png"))[:2] if SHARED_NIH.is_dir() else []
    if pngs:  # real NIH radiographs, made small so that each case decodes in milliseconds
        greys = [cv2.resize(cv2.imread(str(p), cv2.IMREAD_GRAYSCALE), (192, 192), interpolation=cv2.INTER_AREA)
                 for p in pngs]
        origin = "nih"
    else:
        from tests.reliability.corpus import chest_pixels

        greys = [(chest_pixels(192, 192, seed=s) >> 4).astype(np.uint8) for s in (0, 1)]
        origin = "phantom"
    out[f"{origin}_8bit.png"] = cv2.imencode(".png", greys[0])[1].tobytes()
    out[f"{origin}_16bit.png"] = cv2.imencode(".png", greys[1].astype(np.uint16) * 16)[1].tobytes()
    out[f"{origin}_rgb.png"] = cv2.imencode(".png", cv2.cvtColor(greys[0], cv2.COLOR_GRAY2BGR))[1].tobytes()
    out[f"{origin}.jpg"] = cv2.imencode(".jpg", greys[1])[1].tobytes()
    out[f"{origin}_progressive.jpg"] = cv2.imencode(".jpg", greys[0], [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])[1].tobytes()
    from tests.reliability.corpus import chest_pixels as chest
    from tests.reliability.corpus import dicom_dataset

    buffer = BytesIO()
    dicom_dataset(chest(128, 112)).save_as(buffer, enforce_file_format=True)
    out["generated_chest.dcm"] = buffer.getvalue()
    return out


@cache
def element_fields(name: str) -> tuple[tuple[int, int, int], ...]:
    """(value offset, value length, bytes in the length field) of the interesting elements."""
    import pydicom

    data = sources()[name]
    try:
        ds = pydicom.dcmread(BytesIO(data), force=True, defer_size=256)
    except Exception:
        return ()
    found = []
    for dataset in (ds.file_meta, ds):
        for tag in INTERESTING_TAGS:
            try:
                raw = dataset.get_item(tag)
            except Exception:
                continue
            tell = getattr(raw, "value_tell", None)
            if tell is None:
                continue
            short = (not raw.is_implicit_VR) and raw.VR not in ("OB", "OW", "OF", "OD", "SQ", "UN", "UT", "UC")
            found.append((tell, raw.length if raw.length != 0xFFFFFFFF else 0, 2 if short else 4))
    return tuple(found)


# -- mutations ---------------------------------------------------------------------------------
def fix_png_crcs(data: bytearray) -> None:
    """Recompute the CRC of every complete PNG chunk (stops at the first impossible length)."""
    at = 8
    while at + 12 <= len(data):
        length = struct.unpack(">I", data[at : at + 4])[0]
        end = at + 8 + length
        if end + 4 > len(data):
            return
        data[end : end + 4] = struct.pack(">I", zlib.crc32(bytes(data[at + 4 : end])))
        at = end + 4


@st.composite
def mutated_files(draw: st.DrawFn) -> tuple[str, bytes]:
    """(seed file name, mutated bytes)."""
    pool = sources()
    name = draw(st.sampled_from(sorted(pool)))
    data = bytearray(pool[name])
    fields = element_fields(name) if name.endswith(".dcm") else ()
    for _ in range(draw(st.integers(1, 4))):
        size = len(data)
        action = draw(st.sampled_from(
            ["set", "flip", "insert", "delete", "duplicate", "truncate", "splice", "header", "field", "field",
             "length", "value", "value"]))
        at = draw(st.integers(0, max(0, size - 1)))
        if action == "set" and data:
            data[at] = draw(st.integers(0, 255))
        elif action == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif action == "header" and data:  # where sizes, lengths and syntaxes live
            at = draw(st.integers(0, max(0, min(size, 1500) - 1)))
            data[at] = draw(st.sampled_from([0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF, draw(st.integers(0, 255))]))
        elif action == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
        elif action == "delete":
            del data[at : at + draw(st.integers(1, 256))]
        elif action == "duplicate":
            n = draw(st.integers(1, 512))
            data[at:at] = data[at : at + n]
        elif action == "truncate":
            del data[at:]
        elif action == "splice":  # the middle of another seed file
            other = pool[draw(st.sampled_from(sorted(pool)))]
            start = draw(st.integers(0, max(0, len(other) - 1)))
            data[at : at + draw(st.integers(1, 512))] = other[start : start + draw(st.integers(1, 512))]
        elif action in ("field", "length") and fields:
            tell, length, length_bytes = draw(st.sampled_from(fields))
            value = draw(st.sampled_from(BOUNDARY_VALUES))
            if action == "length":  # the element's length field, just before its value
                fmt = "<H" if length_bytes == 2 else "<I"
                start, width = tell - length_bytes, length_bytes
                data[start : start + width] = struct.pack(fmt, value & (0xFFFF if width == 2 else 0xFFFFFFFF))
            elif length in (2, 4):
                data[tell : tell + length] = struct.pack("<H" if length == 2 else "<I",
                                                         value & (0xFFFF if length == 2 else 0xFFFFFFFF))
            elif length:  # text values (IS, DS, UI, CS): digits, a sign, junk
                text = draw(st.sampled_from([b"0", b"-1", b"65535", b"1e308", b"nan", b"1.2.840.10008.1.2.4.50",
                                             b"MONOCHROME1", b"RGB", b"\xff\xfe"]))
                data[tell : tell + length] = text[:length].ljust(length, b" ")
        elif action == "value" and name.endswith(".dcm"):  # a header value the viewer reads, made hostile
            keyword, vr, value = draw(st.sampled_from(hostile_cases()))
            if draw(st.integers(0, 3)) == 0:
                value = draw(st.binary(max_size=64))
            try:
                data = bytearray(set_element(bytes(data), keyword, vr, value))
            except (ValueError, struct.error):  # not explicit little endian with a preamble (any more)
                pass
    if name.endswith(".png") and draw(st.booleans()):
        fix_png_crcs(data)
    return name, bytes(data)


# -- running the loader on one case in a child ----------------------------------------------------
@dataclass
class Outcome:
    kind: str  # "loaded", "refused" (ImageLoadError/CxrError), "escaped", "bad", "hang", "crash"
    detail: str = ""

    @property
    def failed(self) -> bool:
        return self.kind in ("escaped", "bad", "hang", "crash")


class LoaderWorker:
    """A child interpreter that loads one case at a time; restarted after a hang or a crash."""

    def __init__(self, timeout: float = 20.0, memory_limit: int = 3 << 30) -> None:
        self.timeout = timeout
        self.memory_limit = memory_limit
        self.folder = Path(tempfile.mkdtemp(prefix="cxr-fuzz-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None))
        self.process: subprocess.Popen[bytes] | None = None
        self.restarts = 0

    def _start(self) -> subprocess.Popen[bytes]:
        env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
        log = open(self.folder / "worker.log", "ab")
        try:
            return subprocess.Popen(
                [sys.executable, "-m", "tests.reliability.fuzzing", str(self.folder), str(self.memory_limit)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, env=env, cwd=REPO,
            )
        finally:
            log.close()

    def run(self, name: str, data: bytes) -> Outcome:
        if self.process is None or self.process.poll() is not None:
            self.process = self._start()
        payload = pickle.dumps((name, data))
        try:
            assert self.process.stdin is not None and self.process.stdout is not None
            self.process.stdin.write(struct.pack("<I", len(payload)) + payload)
            self.process.stdin.flush()
            ready, _, _ = select.select([self.process.stdout], [], [], self.timeout)
            line = self.process.stdout.readline() if ready else None
        except (BrokenPipeError, OSError):
            line = b""
        if line is None:
            self._kill()
            return Outcome("hang", f"no answer within {self.timeout:g} s")
        if not line:
            code = self.process.wait()
            self.process = None
            self.restarts += 1
            return Outcome("crash", f"the worker died (exit status {code})")
        answer = json.loads(line)
        return Outcome(answer["kind"], answer.get("detail", ""))

    def _kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None
            self.restarts += 1

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._kill()
        self.process = None
        for path in self.folder.iterdir():
            path.unlink()
        self.folder.rmdir()

    def __enter__(self) -> LoaderWorker:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _serve(folder: Path, memory_limit: int) -> None:
    """The worker's loop: read a case from stdin, answer one JSON line on stdout."""
    import resource
    import warnings

    import numpy as np

    from viewer.core.dicom_values import header_rows
    from viewer.core.errors import CxrError, display_name
    from viewer.core.loader import load_radiograph
    from viewer.core.preprocess import preprocess
    from viewer.core.scan import ScannedImage, SkippedFile, scan_folder

    resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))  # runaway allocation -> MemoryError
    warnings.simplefilter("ignore")  # damaged files make pydicom warn on every case; outcomes are what count
    stdin, stdout = sys.stdin.buffer, sys.stdout
    while header := stdin.read(4):
        name, data = pickle.loads(stdin.read(struct.unpack("<I", header)[0]))
        path = folder / f"case_{name}"
        path.write_bytes(data)
        try:  # the scan reads the same header first: it may skip the file, never raise
            listed = list(scan_folder(path))
            if len(listed) != 1 or not isinstance(listed[0], (ScannedImage, SkippedFile)):
                raise AssertionError(f"the scan listed {listed!r}")
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            stdout.write(json.dumps({"kind": "escaped", "detail": f"scan: {type(exc).__name__}: {exc}"[:500]}) + "\n")
            stdout.flush()
            continue
        try:
            radiograph = load_radiograph(path)
            if radiograph.header is not None:
                header_rows(radiograph.header)  # what the tags panel lists
            grey = preprocess(radiograph, 64, 64)
            if grey.shape != (64, 64) or grey.dtype != np.float32 or not np.isfinite(grey).all() or (
                grey.min() < 0 or grey.max() > 1
            ):
                answer = {"kind": "bad", "detail": f"preprocess gave {grey.shape} {grey.dtype} "
                                                   f"{np.nanmin(grey)}..{np.nanmax(grey)}"}
            else:
                answer = {"kind": "loaded", "detail": f"{radiograph.pixels.shape}"}
        except CxrError as exc:
            named = display_name(path.name) in str(exc)
            answer = {"kind": "refused" if named else "bad",
                      "detail": str(exc) if named else f"the message does not name the file: {exc}"}
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            answer = {"kind": "escaped", "detail": f"{type(exc).__module__}.{type(exc).__name__}: {exc}"[:500]}
        stdout.write(json.dumps(answer) + "\n")
        stdout.flush()


if __name__ == "__main__":
    _serve(Path(sys.argv[1]), int(sys.argv[2]))
