"""Fuzzing the loader in CI: a few thousand mutated real DICOM/PNG/JPEG files (fuzzing.py), each
in a worker process with a time limit. Only the project's own errors may come out, nothing may
hang or crash the process, and every refusal names the file. The long run is
bench/fuzz_loader.py (its count and result are in docs/robustness.md)."""

from __future__ import annotations

import collections
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings

from tests.reliability.fuzzing import LoaderWorker, mutated_files, sources

CI_CASES = 5000
pytestmark = pytest.mark.timeout(900)
SEEN: collections.Counter[str] = collections.Counter()
FAILURES: list[str] = []


@pytest.fixture(scope="module")
def worker() -> Iterator[LoaderWorker]:
    with LoaderWorker(timeout=30) as running:
        yield running


def test_the_seed_files_are_real_and_load(worker: LoaderWorker) -> None:
    pool = sources()
    assert sum(name.endswith(".dcm") for name in pool) >= 12 and sum(not n.endswith(".dcm") for n in pool) >= 4
    outcomes = {name: worker.run(name, data) for name, data in pool.items()}
    assert all(o.kind == "loaded" for o in outcomes.values()), outcomes


@settings(max_examples=CI_CASES, deadline=None, derandomize=True, database=None,
          phases=[Phase.explicit, Phase.generate],  # no shrinking: a hang would cost the limit per try
          suppress_health_check=list(HealthCheck))
@given(case=mutated_files())
def _fuzz_once(worker: LoaderWorker, crashes: Path, case: tuple[str, bytes]) -> None:
    name, data = case
    outcome = worker.run(name, data)
    SEEN[outcome.kind] += 1
    if outcome.failed:
        kept = crashes / f"{len(FAILURES):03d}_{name}"
        kept.write_bytes(data)
        FAILURES.append(f"{outcome.kind}: {outcome.detail} (input kept as {kept})")


@pytest.mark.slow
def test_thousands_of_mutated_files_load_or_raise_our_own_error(worker: LoaderWorker,
                                                                 tmp_path_factory: pytest.TempPathFactory) -> None:
    crashes = tmp_path_factory.mktemp("fuzz-failures")
    SEEN.clear()
    FAILURES.clear()
    _fuzz_once(worker, crashes)
    print(f"\n{sum(SEEN.values())} cases: {dict(SEEN)}, worker restarts {worker.restarts}")
    assert sum(SEEN.values()) >= CI_CASES
    assert not FAILURES, f"{len(FAILURES)} of {sum(SEEN.values())} cases failed:\n" + "\n".join(FAILURES[:20])
    # the mutations reach the decoders: a fair share still loads, most are refused
    assert SEEN["loaded"] > CI_CASES // 20 and SEEN["refused"] > CI_CASES // 4, dict(SEEN)
