"""What must run without torch does: importing the trainer's label, split and pixel modules, its
configuration, building the command line's parser, and a patient split of a data folder.

Each check runs in a fresh interpreter, where nothing else has imported torch yet.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TORCH_FREE = ("trainer.data.labels", "trainer.data.nih", "trainer.data.split", "trainer.data.sources",
              "trainer.data.cache", "trainer.data.augment", "trainer.data.images", "trainer.data.views",
              "trainer.data.label_files", "trainer.data.chexpert", "trainer.data.mimic", "trainer.data.taxonomy",
              "trainer.data.readers", "trainer.data.padchest", "trainer.data.vindr", "trainer.data.ids",
              "trainer.config")
LOADED = "json.dumps([name for name in ('torch', 'torchvision') if name in sys.modules])"


def loaded_after(code: str) -> list[str]:
    """The torch modules loaded once ``code`` has run in a fresh interpreter."""
    script = f"import json, sys\n{code}\nprint({LOADED})"
    result = subprocess.run([sys.executable, "-c", script], env={**os.environ, "PYTHONPATH": str(ROOT)},
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("module", TORCH_FREE)
def test_importing_loads_no_torch(module: str) -> None:
    assert loaded_after(f"import {module}") == []


def test_the_check_sees_torch_when_it_is_loaded() -> None:
    assert "torch" in loaded_after("import trainer.data.datasets")


def test_a_patient_split_of_a_data_folder_loads_no_torch(tiny_data: Path) -> None:
    code = (f"from trainer.data.nih import load_labelled_images\n"
            f"from trainer.data.split import make_split, split_hash\n"
            f"table = load_labelled_images({str(tiny_data)!r})\n"
            f"split = make_split(table.samples, table.labels, 'random', table.csv_path.parent, 0.1, 0.2, 0)\n"
            f"assert split.train and split.test and split_hash(table.samples, split)")
    assert loaded_after(code) == []


def test_building_the_command_line_parser_loads_no_torch() -> None:
    assert loaded_after("from trainer.cli import build_parser\nbuild_parser()") == []
