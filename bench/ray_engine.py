"""Row 4-ray: ``cxr-viewer batch --engine ray`` on this machine against the single process.

The same folders of real images (row 4's mix), the same model, scored by ``run_batch`` with the
thread engine (2 ONNX Runtime threads, as row 4) and with the Ray engine on a local instance
(what ``--engine ray`` starts without ``--ray-address``: actors of one CPU and one thread each,
as many as the machine's CPUs hold). The CSVs must be equal. The ratio is Ray's images/s over
the single process's for the whole command (Ray's start and its actors opening the model
included). The note gives the rate once running, start-up cancelled: each engine also scores
half the folder, and (n - n/2) / (time(n) - time(n/2)) is what the second half of the images
cost, which is where a cluster's extra nodes would add. Every run twice, the engines and sizes
in turn, and the median time of each. On one machine Ray can only add
overhead: the row measures what that costs, not a speed-up.
"""

from __future__ import annotations

import importlib.util
import statistics
import time
from collections.abc import Callable

from viewer.core.batch import BatchEngine, ThreadEngine, run_batch

from .common import Row, Settings, make_folder, nih_images, real_dicoms

THREADS = 2
WHAT = "cxr-viewer batch --engine ray (local instance) vs the single process"


def rows(settings: Settings) -> list[Row]:
    if importlib.util.find_spec("ray") is None:
        return [Row("4-ray", WHAT, note="skipped: the ray extra is not installed (pip install 'cxr-viewer[ray]')")]
    from viewer.core.batch_ray import RayEngine

    count = 16 if settings.quick else 120
    nih = nih_images(settings.data, limit=count)
    sources = nih[: count - count // 4] + [p for p in real_dicoms() if p.name.startswith("RG")]
    folders = {size: settings.scratch / f"ray-batch-{size}" for size in (count // 2, count)}
    for size, folder in folders.items():
        make_folder(folder, sources, size, per_subfolder=size)  # the half: the whole one's first files

    def seconds(name: str, size: int, engine: BatchEngine) -> tuple[float, bytes]:
        out = settings.scratch / f"{name}-{size}.csv"
        start = time.perf_counter()
        summary = run_batch(folders[size], out, settings.model, threads=THREADS, engine=engine, overwrite=True)
        took = time.perf_counter() - start
        if not summary.finished or summary.ok != size:
            raise RuntimeError(f"{name}: {summary.ok} of {size} images scored ({summary.errors} errors)")
        return took, out.read_bytes()

    runs: dict[tuple[str, int], list[float]] = {}
    csvs: dict[str, bytes] = {}
    engines: dict[str, Callable[[], BatchEngine]] = {"threads": ThreadEngine, "ray": RayEngine}
    for _ in range(settings.repeats(2, quick=1)):  # in turn, so a burst of load hits both alike
        for size in folders:
            for name, make in engines.items():
                took, csvs[f"{name}-{size}"] = seconds(name, size, make())
                runs.setdefault((name, size), []).append(took)
    times = {name: {size: statistics.median(runs[name, size]) for size in folders} for name in engines}
    if csvs[f"ray-{count}"] != csvs[f"threads-{count}"] or csvs[f"ray-{count // 2}"] != csvs[f"threads-{count // 2}"]:
        raise RuntimeError("the Ray engine's CSV differs from the single process's")
    whole = {name: count / times[name][count] for name in times}
    running = {name: (count - count // 2) / (times[name][count] - times[name][count // 2]) for name in times}
    pngs = len(nih[: count - count // 4])
    return [Row(
        "4-ray", f"{WHAT}, {count} images ({pngs} NIH PNGs + chest DICOMs)",
        f"{whole['ray']:.1f} images/s", f"{whole['threads']:.1f} images/s single process ({THREADS} threads)",
        whole["ray"] / whole["threads"], "", None,
        f"ratio = Ray / single process, whole commands (Ray's start and its actors opening the model included: "
        f"{times['ray'][count]:.1f} vs {times['threads'][count]:.1f} s); once running (the second {count - count // 2} "
        f"images, start-up cancelled): Ray {running['ray']:.1f} vs {running['threads']:.1f} images/s "
        f"({running['ray'] / running['threads']:.2f}x); one machine, so one node; CSVs equal byte for byte",
    )]
