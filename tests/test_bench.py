"""Smoke test of ``python -m bench``: the quick mode runs and prints its rows (no timing checks).

Only the fast sections run here (decode, inference) with the tiny test model; the figures of a
quick run mean nothing, the point is that the benchmark code cannot rot unnoticed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.factories import make_model_pair

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_quick_bench_prints_its_table(tmp_path: Path) -> None:
    model = make_model_pair(tmp_path / "model", size=64)
    rows_json = tmp_path / "rows.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--only", "decode,inference", "--model", str(model),
         "--json", str(rows_json)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = json.loads(rows_json.read_text())
    items = [row["item"] for row in rows]
    assert items.count("1i") == 2 and "1ii-a" in items and "1ii-b" in items
    assert not [row for row in rows if row["note"].startswith("failed")], rows
    measured = [row for row in rows if not row["note"].startswith("skipped")]
    assert all(row["ours"] and row["ratio"] is not None for row in measured)
    assert "| 1ii-a |" in done.stdout and "Machine:" in done.stdout


def test_compare_reads_each_figure_and_which_way_is_better() -> None:
    from bench.compare import change, parse_figure

    assert parse_figure("11.3 ms plain") == parse_figure("11.3 ms")
    time, rate, auroc, memory = (parse_figure(t) for t in ("11.3 ms", "590/s in the window", "0.6484",
                                                           "peak 404 MiB, now 333 MiB"))
    assert time is not None and not time.higher_is_better and time.value == 11.3
    assert rate is not None and rate.higher_is_better and rate.value == 590
    assert auroc is not None and auroc.higher_is_better
    assert memory is not None and memory.value == 404 and not memory.higher_is_better
    assert parse_figure("") is None and parse_figure("n/a") is None
    slower = parse_figure("12.43 ms")
    fewer = parse_figure("531/s")
    assert slower is not None and fewer is not None
    assert abs(change(time, slower) - 0.1) < 1e-9  # 10% slower
    assert abs(change(rate, fewer) - 0.1) < 1e-9  # 10% fewer per second
    assert change(slower, time) < 0 and change(fewer, rate) < 0  # the other way is better
