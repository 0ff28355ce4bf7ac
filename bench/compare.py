"""Old code against new, side by side: ``python -m bench.compare COMMIT [--rounds 2] [--only ...]``.

A refactoring must not make a row of the benchmark table worse. Timing the old tree in one
run and the new one later would compare two different machines (these are shared and noisy),
so this runs ``python -m bench`` section by section, alternating the old tree (a temporary git
worktree at COMMIT) and this one, ``--rounds`` times each, and prints, per row, the median of
each side's figure and the change. A row whose figure is worse by more than ``--limit``
(default 10%) is marked, and the exit status is 1 when any is.

Which way is better is read from the figure's unit: times and memory (ms, s, MiB) are better
lower, rates (/s) and AUROCs (a bare number) better higher.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .common import ROOT, SHARED

SECTIONS = ("decode", "inference", "ui", "scan", "batch", "quantize", "trainer", "memory")
_NUMBER = re.compile(r"^\s*(?:peak\s+)?(-?\d+(?:\.\d+)?)\s*(ms|s|MiB|images/s|/s)?")


@dataclass(frozen=True)
class Figure:
    """The leading number of a row's ``ours`` cell and which way is better."""

    value: float
    higher_is_better: bool


def parse_figure(text: str) -> Figure | None:
    """``"11.3 ms"`` -> 11.3, lower better; ``"590/s in the window"`` -> 590, higher better;
    ``"0.6484"`` (an AUROC) -> higher better; None when the cell holds no number."""
    match = _NUMBER.match(text or "")
    if match is None:
        return None
    unit = match.group(2) or ""
    return Figure(float(match.group(1)), higher_is_better=unit.endswith("/s") or unit == "")


def change(old: Figure, new: Figure) -> float:
    """How much worse ``new`` is than ``old``, as a fraction (negative: better)."""
    if old.value == 0:
        return 0.0
    worse = (old.value - new.value) if old.higher_is_better else (new.value - old.value)
    return worse / abs(old.value)


def run_bench(tree: Path, section: str, extra: list[str], scratch: Path) -> list[dict[str, object]]:
    """One ``python -m bench --only SECTION`` in ``tree``; its rows."""
    out = scratch / f"{tree.name}-{section}.json"
    # both sides read the same real data (the temporary worktree has no ../shared beside it)
    env = {**os.environ, "PYTHONPATH": str(tree), "CXR_SHARED_DATA": str(SHARED)}
    subprocess.run([sys.executable, "-m", "bench", "--only", section, "--json", str(out), *extra],
                   cwd=tree, env=env, check=True, stdout=subprocess.DEVNULL)
    rows: list[dict[str, object]] = json.loads(out.read_text())
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__.splitlines()[0])
    parser.add_argument("commit", help="the old code: a commit, branch or tag of this repository")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each side per section (default 2)")
    parser.add_argument("--only", help=f"comma-separated sections of {','.join(SECTIONS)}")
    parser.add_argument("--limit", type=float, default=0.10, help="worse than this fraction is marked (default 0.10)")
    parser.add_argument("--quick", action="store_true", help="pass --quick to the bench (a smoke test of this tool)")
    args = parser.parse_args(argv)
    sections = [s.strip() for s in args.only.split(",")] if args.only else list(SECTIONS)
    extra = ["--quick"] if args.quick else []

    with tempfile.TemporaryDirectory(prefix="cxr-compare-") as tmp:
        scratch = Path(tmp)
        old_tree = scratch / "old"
        subprocess.run(["git", "worktree", "add", "--detach", "-q", str(old_tree), args.commit], cwd=ROOT, check=True)
        try:
            figures: dict[tuple[str, str], dict[str, list[Figure]]] = {}
            for section in sections:
                for round_ in range(args.rounds):
                    print(f"[compare] {section}, round {round_ + 1}/{args.rounds}", file=sys.stderr, flush=True)
                    for side, tree in (("old", old_tree), ("new", ROOT)):
                        for row in run_bench(tree, section, extra, scratch):
                            figure = parse_figure(str(row.get("ours", "")))
                            if figure is not None:
                                key = (str(row["item"]), str(row["what"]))
                                figures.setdefault(key, {"old": [], "new": []})[side].append(figure)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(old_tree)], cwd=ROOT, check=False)

    print(f"| # | measurement | old ({args.commit}) | new | worse by | over {args.limit:.0%} |")
    print("|---|---|---:|---:|---:|---|")
    failed = False
    for (item, what), sides in figures.items():
        if not sides["old"] or not sides["new"]:
            runs = f"{len(sides['old'])} runs | {len(sides['new'])} runs"
            print(f"| {item} | {what} | {runs} |  | row only on one side |")
            continue
        old = Figure(statistics.median(f.value for f in sides["old"]), sides["old"][0].higher_is_better)
        new = Figure(statistics.median(f.value for f in sides["new"]), old.higher_is_better)
        worse = change(old, new)
        over = worse > args.limit
        failed |= over
        print(f"| {item} | {what} | {old.value:g} | {new.value:g} | {worse:+.1%} | {'YES' if over else ''} |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
