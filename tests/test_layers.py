"""The layer rules of DESIGN.md, enforced by import-linter, really fail on a violation."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

VIOLATIONS = {
    "viewer/core/_qt_violation.py": "from PySide6 import QtCore\n",
    "viewer/core/_torch_violation.py": "import torch\n",
    "viewer/ui/_torch_violation.py": "import torchvision\n",
    "trainer/_qt_violation.py": "import PySide6.QtWidgets\n",
    "viewer/core/_ui_violation.py": "from viewer.ui import app\n",
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


@pytest.mark.parametrize("module", sorted(VIOLATIONS))
def test_a_deliberate_violation_breaks_the_build(tree_copy: Path, module: str) -> None:
    target = tree_copy / module
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(VIOLATIONS[module])
    result = run_lint(tree_copy)
    assert result.returncode != 0, f"import-linter accepted {module}:\n{result.stdout}"
    assert "BROKEN" in result.stdout
