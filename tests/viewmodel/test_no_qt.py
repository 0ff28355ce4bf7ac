"""The view-models and their tests run without Qt: importing them loads no PySide6."""

from __future__ import annotations

import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import viewer.viewmodel

ROOT = Path(__file__).resolve().parents[2]
PROBE = """import importlib, sys
for name in {names!r}:
    importlib.import_module(name)
print(sorted(m for m in sys.modules if m.split('.')[0] == 'PySide6'))
"""


def qt_modules_loaded_by(names: list[str]) -> str:
    """The PySide6 modules a fresh interpreter holds after importing ``names`` (printed list)."""
    done = subprocess.run([sys.executable, "-c", PROBE.format(names=names)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_importing_every_view_model_loads_no_qt() -> None:
    modules = pkgutil.iter_modules(viewer.viewmodel.__path__)
    names = ["viewer.viewmodel"] + [f"viewer.viewmodel.{m.name}" for m in modules]
    assert len(names) > 5
    assert qt_modules_loaded_by(names) == "[]"


def test_the_view_model_tests_import_no_qt() -> None:
    here = Path(__file__).parent
    names = [f"tests.viewmodel.{p.stem}" for p in sorted(here.glob("*.py")) if p.stem != "__init__"]
    assert "tests.viewmodel.test_operating_point" in names
    assert qt_modules_loaded_by(names) == "[]"


def test_the_probe_sees_qt_where_it_is_imported() -> None:
    """Without this the two tests above could pass with a probe that sees nothing."""
    assert "PySide6.QtCore" in qt_modules_loaded_by(["viewer.ui.canvas"])
