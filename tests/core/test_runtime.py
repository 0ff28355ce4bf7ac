"""Exactly one ONNX Runtime: the extras that bring one, and what the viewer says when an
environment has none or two (``viewer.core.runtime``).

Oracles: pyproject's own requirements, evaluated by ``packaging`` as pip evaluates them; and
real distribution metadata (``*.dist-info`` folders) read by ``importlib.metadata``.
"""

from __future__ import annotations

import itertools
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

import viewer.__main__ as cli
from viewer.core import runtime
from viewer.core.runtime import RUNTIME_DISTRIBUTIONS, installed_runtimes, runtime_problem

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def runtimes_required(extras: tuple[str, ...]) -> set[str]:
    """The ONNX Runtime distributions ``pip install '.[extras]'`` asks for (this platform)."""
    found = set()
    groups = [("", PROJECT["dependencies"])] + [(e, PROJECT["optional-dependencies"][e]) for e in extras]
    for extra, lines in groups:
        for line in lines:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": extra}):
                if requirement.name.lower() in RUNTIME_DISTRIBUTIONS:
                    found.add(requirement.name.lower())
    return found


def test_the_cpu_and_the_gpu_extras_each_bring_exactly_one_runtime_and_the_base_none() -> None:
    assert runtimes_required(()) == set()
    assert runtimes_required(("cpu",)) == {"onnxruntime"}
    assert runtimes_required(("gpu",)) == {"onnxruntime-gpu"}
    others = [e for e in PROJECT["optional-dependencies"] if e not in ("cpu", "gpu")]
    for size in range(len(others) + 1):
        for combination in itertools.combinations(others, size):
            assert runtimes_required(combination) == set(), combination  # only cpu/gpu choose it
            assert runtimes_required((*combination, "gpu")) == {"onnxruntime-gpu"}, combination


def test_the_run_script_installs_the_runtime_cxr_runtime_names() -> None:
    script = (ROOT / "run").read_text(encoding="utf-8")
    assert 'RUNTIME=${CXR_RUNTIME:-cpu}' in script
    assert script.count("$RUNTIME]") >= 2  # the viewer's set-up and the whole one


def _distribution(site: Path, name: str, version: str = "1.23.0") -> None:
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n", encoding="utf-8")


def test_one_runtime_is_no_problem_and_this_environment_has_one(tmp_path: Path) -> None:
    _distribution(tmp_path, "onnxruntime-gpu")
    _distribution(tmp_path, "numpy", "2.0.0")
    assert installed_runtimes([str(tmp_path)]) == ["onnxruntime-gpu"]
    assert runtime_problem([str(tmp_path)]) is None
    assert runtime_problem() is None and len(installed_runtimes()) == 1


def test_two_runtimes_are_named_with_the_fix(tmp_path: Path) -> None:
    _distribution(tmp_path, "onnxruntime")
    _distribution(tmp_path, "onnxruntime_gpu")
    problem = runtime_problem([str(tmp_path)])
    assert problem is not None
    assert "onnxruntime and onnxruntime-gpu are installed together" in problem
    assert "pip uninstall -y onnxruntime onnxruntime-gpu" in problem and "cxr-viewer[gpu]" in problem


def test_no_runtime_says_which_extra_to_install(tmp_path: Path) -> None:
    problem = runtime_problem([str(tmp_path)])
    assert problem is not None and "not installed" in problem and "cxr-viewer[cpu]" in problem


@pytest.mark.parametrize("argv", [["--demo"], ["batch", ".", "--out", "r.csv"]])
def test_without_a_runtime_the_command_line_says_so_in_one_line(
        argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(runtime, "installed_runtimes", lambda path=None: [])
    monkeypatch.setattr(runtime.importlib.util, "find_spec", lambda name: None)
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["cxr-viewer: error: ONNX Runtime is not installed: " + runtime.INSTALL_HINT]
    assert not (tmp_path / "r.csv").exists()


def test_two_runtimes_warn_and_the_version_says_so(monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(runtime, "installed_runtimes", lambda path=None: ["onnxruntime", "onnxruntime-gpu"])
    assert cli.main(["--version"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[2].startswith("ONNX Runtime: onnxruntime and onnxruntime-gpu are installed together")
