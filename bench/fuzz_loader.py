"""The long fuzzing run of the loader: N mutated real files (tests/reliability/fuzzing.py), each
loaded in a worker process with a time limit and a memory limit.

    python bench/fuzz_loader.py --cases 100000 [--seed 1] [--timeout 30] [--keep FOLDER]

Prints one table: cases, loaded, refused (the project's own error, naming the file), and the
failures: escaped (any other exception), bad (loaded but the prepared image is not finite in
[0, 1], or a refusal that does not name the file), hang (no answer within --timeout), crash (the
worker died). Failing inputs are written to --keep (default ./fuzz-failures) to be replayed with
``python -c "from viewer.core.loader import load_radiograph; load_radiograph('FILE')"``.
Exit status 1 when any case failed. CI runs the same cases on a fixed seed, 5,000 of them
(tests/reliability/test_fuzz.py); docs/robustness.md records the long runs.
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, seed, settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.reliability.fuzzing import LoaderWorker, mutated_files, sources


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per case before it counts as a hang")
    parser.add_argument("--keep", type=Path, default=Path("fuzz-failures"), help="folder for failing inputs")
    args = parser.parse_args(argv)

    counts: collections.Counter[str] = collections.Counter()
    by_seed: collections.Counter[str] = collections.Counter()
    failures: list[str] = []
    started = time.perf_counter()
    report_every = max(1, args.cases // 20)

    with LoaderWorker(timeout=args.timeout) as worker:

        @seed(args.seed)
        @settings(max_examples=args.cases, deadline=None, database=None, phases=[Phase.generate],
                  suppress_health_check=list(HealthCheck))
        @given(case=mutated_files())
        def one(case: tuple[str, bytes]) -> None:
            name, data = case
            outcome = worker.run(name, data)
            counts[outcome.kind] += 1
            by_seed[name] += 1
            if outcome.failed:
                args.keep.mkdir(parents=True, exist_ok=True)
                kept = args.keep / f"{len(failures):04d}_{outcome.kind}_{name}"
                kept.write_bytes(data)
                failures.append(f"{outcome.kind}: {outcome.detail}  [{kept}]")
            done = sum(counts.values())
            if done % report_every == 0:
                print(f"  {done:,} cases, {time.perf_counter() - started:.0f} s: {dict(counts)}", file=sys.stderr)

        one()
        restarts = worker.restarts
    seconds = time.perf_counter() - started
    total = sum(counts.values())

    print(f"fuzz_loader: seed {args.seed}, {len(sources())} seed files, time limit {args.timeout:g} s per case")
    print(f"{'cases':>9} {'loaded':>8} {'refused':>8} {'escaped':>8} {'bad':>5} {'hang':>5} {'crash':>6} "
          f"{'seconds':>8} {'cases/s':>8}")
    print(f"{total:>9,} {counts['loaded']:>8,} {counts['refused']:>8,} {counts['escaped']:>8} {counts['bad']:>5} "
          f"{counts['hang']:>5} {counts['crash']:>6} {seconds:>8.0f} {total / seconds:>8.1f}")
    print(f"worker restarts: {restarts}; cases per seed file: "
          + ", ".join(f"{name} {n}" for name, n in sorted(by_seed.items())))
    for line in failures[:50]:
        print(line)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
