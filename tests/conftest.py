"""Shared test set-up: headless Qt, QSettings in a temporary place, paths to real data."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# Qt must never look for a display in tests (CI has none). Set before PySide6 is imported.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# The tests run the library as the programs do, with the programs' process settings (pydicom's
# validation quiet, OpenCV's limit): the entry points apply them, and so does the test session.
from viewer.core.process_settings import configure_process

configure_process()

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared_path(*parts: str) -> Path:
    """A path under ../shared/data; the test is skipped (with the reason) when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs {path} (the project's shared real data), which is not present here")
    return path


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``shared_data`` skip with a clear reason on a clone without ../shared/data;
    tests marked ``loopback`` may connect to loopback addresses only (``_no_network``)."""
    from tests.core.ray_cluster import LOOPBACK_HOSTS

    for item in items:
        if "loopback" in item.keywords:
            item.add_marker(pytest.mark.allow_hosts(LOOPBACK_HOSTS))
    if SHARED_DATA.is_dir():
        return
    skip = pytest.mark.skip(reason=f"needs {SHARED_DATA} (real NIH/DICOM data), absent on this machine")
    for item in items:
        if "shared_data" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _annotations_in_a_temporary_folder(tmp_path_factory: pytest.TempPathFactory,
                                       monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test may touch the user's real annotation store: the user's data folder
    (``XDG_DATA_HOME``, where ``annotation_store.default_store_path`` puts it) is a temporary one.
    A test that opens windows on one store (closing and reopening the viewer) shares the folder."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("xdg-data")))
    yield


@pytest.fixture(autouse=True)
def _no_network(request: pytest.FixtureRequest) -> Iterator[None]:
    """Nothing leaves the machine (docs/design.md): no test may open an internet socket or resolve a
    name. Unix sockets stay allowed (Qt, multiprocessing). A test marked ``loopback`` (a real Ray
    cluster on this machine) may open sockets, but connect only to loopback addresses: pytest-socket's
    ``allow_hosts``, added at collection, guards its connections. pytest-socket's own teardown also
    lifts the block after each test; lifting it here too keeps this fixture self-contained."""
    import pytest_socket

    if request.node.get_closest_marker("loopback") is None:
        pytest_socket.disable_socket(allow_unix_socket=True)
    yield
    pytest_socket.enable_socket()


@pytest.fixture
def tiny_model(tmp_path: Path) -> Path:
    """A valid classifier + Grad-CAM sidecar pair (64 px input, the 14 NIH labels)."""
    from tests.factories import make_model_pair

    return make_model_pair(tmp_path / "models")
