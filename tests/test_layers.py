"""The layer rules of docs/design.md, enforced by import-linter, really fail on a violation.

Each deliberate violation names the contract that must report it as broken, so a violation
caught only by another rule (every new viewer/core module breaks the exhaustive layer list)
does not pass for the wrong reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

CORE_QT = "viewer.core imports neither Qt nor torch"
NO_TORCH = "nothing under viewer imports torch"
TRAINER_QT = "the trainer never imports Qt or the viewer UI"
UI_ABOVE_CORE = "viewer layers: ui above core"
NO_CYCLES = "no import cycles in viewer and trainer"
CORE_LAYERS = "viewer.core layers"
LOADER_LAYERS = "viewer.core.loader layers"
VIEWMODEL_QT = "viewer.viewmodel imports neither Qt nor torch"
UI_VIEWMODEL_CORE = "viewer layers: ui above viewmodel above core"
VIEWMODEL_LAYERS = "viewer.viewmodel layers"
TRAINER_TORCH_FREE = "the trainer's label, split and pixel modules import no torch"
TRAINER_LAYERS = "trainer layers: commands over pipeline over stages"
PIPELINE_LAYERS = "trainer.pipeline layers"
RAY_ONLY = "only the Ray engine imports Ray"
IN_FUNCTION = "\n\ndef _violation() -> None:\n    {}  # noqa\n"

# (file, text added to it: a new file, or appended to an existing one, contract that must break)
VIOLATIONS = {
    "core imports Qt": ("viewer/core/_qt_violation.py", "from PySide6 import QtCore\n", CORE_QT),
    "core imports torch": ("viewer/core/_torch_violation.py", "import torch\n", CORE_QT),
    "ui imports torch": ("viewer/ui/_torch_violation.py", "import torchvision\n", NO_TORCH),
    "trainer imports Qt": ("trainer/_qt_violation.py", "import PySide6.QtWidgets\n", TRAINER_QT),
    "core imports ui": ("viewer/core/_ui_violation.py", "from viewer.ui import app\n", UI_ABOVE_CORE),
    "cycle through an import inside a function": (
        "viewer/core/loader/sniff.py", IN_FUNCTION.format("from ..preprocess import preprocess"), NO_CYCLES),
    "trainer cycle inside functions": (
        "trainer/data/split.py", IN_FUNCTION.format("from ..cli import main"), NO_CYCLES),
    "trainer split imports torch inside a function": (
        "trainer/data/split.py", IN_FUNCTION.format("import torch"), TRAINER_TORCH_FREE),
    "trainer labels import the torch datasets": (
        "trainer/data/labels.py", IN_FUNCTION.format("from .datasets import TrainImages"), TRAINER_TORCH_FREE),
    "trainer data stage imports the evaluation stage": (
        "trainer/data/split.py", IN_FUNCTION.format("from ..evaluation.metrics import auroc"), TRAINER_LAYERS),
    "trainer training imports the pipeline": (
        "trainer/training/loop.py", IN_FUNCTION.format("from ..pipeline.prepare import prepare_data"), TRAINER_LAYERS),
    "trainer module not given a layer": ("trainer/_unplaced.py", "VALUE = 1\n", TRAINER_LAYERS),
    "trainer data step imports the finishing steps": (
        "trainer/pipeline/prepare.py", IN_FUNCTION.format("from .finish import finish"), PIPELINE_LAYERS),
    "core imports upwards inside a function": (
        "viewer/core/errors.py", IN_FUNCTION.format("from .scan import scan_folder"), CORE_LAYERS),
    "core module not given a layer": ("viewer/core/_unplaced.py", "VALUE = 1\n", CORE_LAYERS),
    "loader format rule imports a reader": (
        "viewer/core/loader/headers.py", IN_FUNCTION.format("from .dicom import load_dicom"), LOADER_LAYERS),
    "viewmodel imports Qt": ("viewer/viewmodel/card.py", "\nfrom PySide6 import QtCore  # noqa\n", VIEWMODEL_QT),
    "viewmodel imports torch": ("viewer/viewmodel/card.py", "\nimport torch  # noqa\n", VIEWMODEL_QT),
    "viewmodel imports ui": (
        "viewer/viewmodel/card.py", IN_FUNCTION.format("from viewer.ui import app"), UI_VIEWMODEL_CORE),
    "core imports viewmodel": (
        "viewer/core/errors.py", IN_FUNCTION.format("from viewer.viewmodel import card"), UI_VIEWMODEL_CORE),
    "viewmodel imports upwards inside a function": (
        "viewer/viewmodel/operating_point.py", IN_FUNCTION.format("from .image_findings import FindingRow"),
        VIEWMODEL_LAYERS),
    "viewmodel module not given a layer": ("viewer/viewmodel/_unplaced.py", "VALUE = 1\n", VIEWMODEL_LAYERS),
    "the thread batch imports ray inside a function": (
        "viewer/core/batch.py", IN_FUNCTION.format("import ray.data"), RAY_ONLY),
}


def run_lint(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(tree / "pyproject.toml"), "--no-cache"],
        cwd=tree, env=env, capture_output=True, text=True, timeout=300,
    )


@pytest.fixture
def tree_copy(tmp_path: Path) -> Path:
    """The project's packages and import contracts, copied so a test can break them."""
    for package in ("viewer", "trainer"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_project_keeps_its_layer_rules(tree_copy: Path) -> None:
    result = run_lint(tree_copy)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("violation", sorted(VIOLATIONS))
def test_a_deliberate_violation_breaks_the_build(tree_copy: Path, violation: str) -> None:
    module, text, contract = VIOLATIONS[violation]
    target = tree_copy / module
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "a", encoding="utf-8") as handle:
        handle.write(text)
    result = run_lint(tree_copy)
    assert result.returncode != 0, f"import-linter accepted {violation}:\n{result.stdout}"
    assert f"{contract} BROKEN" in result.stdout, result.stdout
