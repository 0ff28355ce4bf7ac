"""The table: as text for the terminal and as Markdown for docs/benchmarks.md, with the machine."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from .common import Row


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _memory_gib() -> str:
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    return f"{int(line.split()[1]) / 1024 ** 2:.0f} GiB RAM"
    except OSError:
        pass
    return "RAM unknown"


LOAD_AT_START = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def _other_load() -> str:
    """What else was running that a reader should know about (the trainer, above all)."""
    try:
        found = subprocess.run(["pgrep", "-f", "cxr-train train"], capture_output=True, text=True, timeout=5)
        busy = [pid for pid in found.stdout.split() if pid.strip() and int(pid) != os.getpid()]
    except (OSError, subprocess.SubprocessError, ValueError):
        busy = []
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    text = f"1-minute load average {LOAD_AT_START:.2f} at the start, {load:.2f} at the end (the bench alone: about 1-2)"
    if busy:
        text += f"; a cxr-train training run was using the CPU meanwhile ({len(busy)} process(es))"
    return text


def machine_lines(model: Path, model_note: str, data: Path | None, quick: bool, seconds: float) -> list[str]:
    import cv2
    import numpy
    import onnxruntime

    versions = f"Python {platform.python_version()}, numpy {numpy.__version__}, OpenCV {cv2.__version__}, " \
               f"ONNX Runtime {onnxruntime.__version__}"
    try:
        import torch

        versions += f", torch {torch.__version__}"
    except ImportError:
        pass
    return [
        f"CXR Viewer benchmarks{' (QUICK MODE: smoke test, figures not meaningful)' if quick else ''}, "
        f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}, {seconds:.0f} s",
        f"Machine: {_cpu_model()}, {os.cpu_count()} cores, {_memory_gib()}, {platform.system()} "
        f"{platform.release()}; {_other_load()}",
        f"Software: {versions}",
        f"Model: {model.name} ({model_note}); NIH data: {data if data else 'not found (rows needing it are skipped)'}",
        "Every figure is a median over repetitions; each ratio is against a baseline measured in the same run.",
    ]


COLUMNS = ("#", "measurement", "ours", "baseline", "ratio", "target", "met", "note")


def _cells(row: Row) -> list[str]:
    ratio = "" if row.ratio is None else f"{row.ratio:.2f}"
    met = {True: "yes", False: "NO", None: ""}[row.met]
    return [row.item, row.what, row.ours, row.baseline, ratio, row.target, met, row.note]


def render_table(rows: list[Row]) -> str:
    """Markdown pipe table (readable in a terminal, pasteable into docs/benchmarks.md)."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "|".join("---" for _ in COLUMNS) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(c.replace("|", "/") for c in _cells(row)) + " |")
    return "\n".join(lines)


BEGIN, END = "<!-- bench:begin (written by python -m bench --write) -->", "<!-- bench:end -->"


def markdown(rows: list[Row], header: list[str]) -> str:
    """The generated block: the machine, the software and the table."""
    return "\n".join([BEGIN, *[f"{line}  " for line in header], "", render_table(rows), END])


def write_markdown(path: Path, rows: list[Row], header: list[str]) -> None:
    """Put the generated block into ``path``, keeping whatever is written around it by hand."""
    block = markdown(rows, header)
    old = path.read_text() if path.exists() else ""
    if BEGIN in old and END in old:
        text = old[: old.index(BEGIN)] + block + old[old.index(END) + len(END):]
    else:
        text = "# Benchmarks\n\nMade by `./run bench` (`python -m bench`).\n\n" + block + "\n" + old
    path.write_text(text)
