"""Fixtures of the reliability tests: the bad-input corpus (built once), and the UI tests'
window factory and isolated settings (shared with tests/ui)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.corpus import Case, build_corpus
from tests.ui.conftest import (  # noqa: F401 - fixtures
    _collect_closed_windows,
    _isolated_qsettings,
    make_window,
    settings,
)


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Case]]:
    """The corpus folder (its name has a space) and its cases. Tests must not modify it."""
    root = tmp_path_factory.mktemp("bad") / "user folder"
    return root, build_corpus(root)
