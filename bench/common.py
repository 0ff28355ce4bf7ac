"""What every benchmark section shares: the run's settings, the rows of the table, timing, inputs.

Timing is interleaved: the candidates of one comparison run in turn inside one loop, so a burst
of load from elsewhere on the machine hits all of them alike; each figure is the median.
"""

from __future__ import annotations

import csv
import os
import shutil
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CXR_SHARED_DATA", ROOT.parent / "shared" / "data"))
NO_SHARED = "skipped: no shared data"


@dataclass
class Row:
    """One line of the table. ``ratio`` is ours / baseline unless the note says otherwise."""

    item: str  # "1i", "2", ...: the numbering of the targets in docs/design.md
    what: str
    ours: str = ""
    baseline: str = ""
    ratio: float | None = None
    target: str = ""
    met: bool | None = None  # None: no target, or not measured
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Settings:
    """The run's options, as every section sees them."""

    model: Path
    model_note: str
    data: Path | None  # the NIH sample folder, or None without shared data
    quick: bool
    scratch: Path  # a private temporary folder for generated inputs
    split: Path | None = None  # split.csv of the model's run (held-out images for row 5)
    extra: dict[str, Any] = field(default_factory=dict)

    def repeats(self, full: int, quick: int = 3) -> int:
        return quick if self.quick else full


def skipped(item: str, what: str, reason: str = NO_SHARED) -> Row:
    return Row(item, what, note=reason)


def ms(value: float) -> str:
    return f"{value:.1f} ms" if value >= 10 else f"{value:.2f} ms"


def interleaved(candidates: dict[str, Callable[[], Any]], repeats: int, warmup: int = 2) -> dict[str, float]:
    """Median wall time in ms of each candidate, run in turn ``repeats`` times after ``warmup``."""
    for _ in range(warmup):
        for fn in candidates.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(repeats):
        for name, fn in candidates.items():
            start = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - start) * 1000)
    return {name: statistics.median(values) for name, values in times.items()}


def rg1_path() -> Path:
    """RG1_UNCR.dcm (1955 x 1841 CR, MONOCHROME1) from the pydicom-data package: needs no shared data."""
    import data_store

    return Path(data_store.__file__).parent / "data" / "RG1_UNCR.dcm"


def real_dicoms() -> list[Path]:
    """A few real radiograph-like DICOM files shipped by pydicom-data (different patients)."""
    import data_store

    folder = Path(data_store.__file__).parent / "data"
    # CR chests uncompressed and JPEG 2000, an MR and an ultrasound: several patients and syntaxes
    names = ("RG1_UNCR.dcm", "RG3_UNCR.dcm", "RG1_J2KR.dcm", "RG3_J2KR.dcm", "MR2_UNCR.dcm", "US1_UNCR.dcm")
    return [folder / n for n in names if (folder / n).exists()]


def nih_images(data: Path | None, size: int | None = None, limit: int | None = None) -> list[Path]:
    """NIH sample PNGs listed in MANIFEST.csv (of ``size`` x ``size`` when given), in file order."""
    if data is None:
        return []
    manifest = data / "MANIFEST.csv"
    found = []
    with open(manifest, newline="") as handle:
        for row in csv.DictReader(handle):
            if size is None or (int(row["width"]) == size and int(row["height"]) == size):
                path = data / "images" / row["image"]
                if path.exists():
                    found.append(path)
    found.sort()
    return found[:limit] if limit else found


def link_or_copy(source: Path, target: Path) -> None:
    """A hard link when the file system allows it (1,000 copies of a 7 MB DICOM cost nothing), else a copy."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def make_folder(folder: Path, sources: Iterable[Path], count: int, per_subfolder: int = 100) -> list[Path]:
    """``count`` files cycling through ``sources``, each under its own name (so no cache mistakes
    one for another), ``per_subfolder`` to a folder as an export tree would have them."""
    sources = list(sources)
    paths = []
    for i in range(count):
        source = sources[i % len(sources)]
        target = folder / f"batch{i // per_subfolder:02d}" / f"{i:04d}_{source.name}"
        link_or_copy(source, target)
        paths.append(target)
    return paths


def rss_mib() -> tuple[float, float]:
    """(current, peak) resident memory of this process in MiB, from /proc/self/status."""
    values = {}
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, amount = line.split(":")
                values[key] = int(amount.split()[0]) / 1024
    return values.get("VmRSS", float("nan")), values.get("VmHWM", float("nan"))


def family_rss_mib(pid: int | None = None, *, children: bool = True) -> float:
    """Resident memory in MiB of process ``pid`` (this one by default) and, with ``children``,
    of every process under it (a window's worker processes), from /proc: VmRSS summed."""
    pid = os.getpid() if pid is None else pid
    total, stack = 0.0, [pid]
    while stack:
        current = stack.pop()
        try:
            with open(f"/proc/{current}/status") as handle:
                total += next((int(line.split()[1]) / 1024 for line in handle if line.startswith("VmRSS:")), 0.0)
        except OSError:  # it ended meanwhile
            continue
        if children:
            stack.extend(_children(current))
    return total


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                found += [int(child) for child in handle.read().split()]
        except OSError:
            continue
    return found
