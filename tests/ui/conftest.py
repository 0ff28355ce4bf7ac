"""Fixtures of the UI tests: settings in a temporary file, a window with a real tiny model,
folders of generated images, and waiting helpers (signals, never sleeps)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from tests.ui.images import chest_dicom, chest_png
from viewer.ui.main_window import MainWindow
from viewer.ui.settings import AppSettings

WAIT_MS = 60_000  # an upper bound for a worker on a loaded machine, not a performance claim


@pytest.fixture(autouse=True)
def _isolated_qsettings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """No test may touch the user's real settings: the default QSettings go to a temp folder."""
    folder = tmp_path_factory.mktemp("qsettings")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    for scope in (QSettings.Scope.UserScope, QSettings.Scope.SystemScope):
        QSettings.setPath(QSettings.Format.IniFormat, scope, str(folder))
    yield


@pytest.fixture(autouse=True)
def _collect_closed_windows() -> Iterator[None]:
    """A closed window is cyclic garbage (its sessions hold callables that refer back to it).
    Collect it here, on the GUI thread, once its test is over: left to the collector, it is
    freed by whichever thread allocates next, and a worker thread (a scan reading 112,000
    Data_Entry rows) destroying Qt widgets crashes the process."""
    yield
    gc.collect()


@pytest.fixture
def settings(tmp_path: Path) -> AppSettings:
    return AppSettings.at(tmp_path / "settings" / "cxr-viewer.ini")


@pytest.fixture
def make_window(qtbot, settings):
    """Factory: a MainWindow (shown, offscreen) that is closed and whose workers are joined."""
    windows: list[MainWindow] = []

    def make(model: Path | None, reason: str | None = None, store: AppSettings | None = None) -> MainWindow:
        window = MainWindow(store or settings, model, reason)
        qtbot.addWidget(window)
        if store is None:  # a given store may hold a saved geometry: keep it
            window.resize(1400, 900)
        window.show()
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.close()  # closeEvent cancels and joins the workers


@pytest.fixture
def nih_like_folder(tmp_path: Path) -> Path:
    """Three chest PNGs, one DICOM, and three bad files, as a user's folder might hold."""
    folder = tmp_path / "study"
    for i in range(3):
        chest_png(folder / f"chest_{i}.png", seed=i)
    chest_dicom(folder / "sub" / "image.dcm", seed=7, spacing=(0.25, 0.25), window=(2048, 4096))
    (folder / "truncated.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    (folder / "empty.dcm").write_bytes(b"")
    (folder / "notes.txt").write_text("not an image")
    return folder


def wait_for_findings(qtbot, window: MainWindow) -> None:
    """Wait until the image on screen has its findings."""
    qtbot.waitUntil(lambda: window.image.analysed is not None, timeout=WAIT_MS)


def wait_for_image(qtbot, window: MainWindow) -> None:
    qtbot.waitUntil(lambda: window.image.loaded is not None and window.canvas.radiograph is not None,
                    timeout=WAIT_MS)


SCREENSHOTS_ENV = "CXR_UI_SCREENSHOTS"  # a folder: UI tests save the states they check there


@pytest.fixture
def screenshot(request: pytest.FixtureRequest, tmp_path: Path):
    """``screenshot(widget, name)`` saves a PNG of the real widget (the window, offscreen) and
    returns its path: into ``$CXR_UI_SCREENSHOTS`` when set (to look at them), else the test's
    temporary folder. Every UI fix saves the state it checks, so it can be looked at."""
    import os

    folder = Path(os.environ.get(SCREENSHOTS_ENV) or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)

    def save(widget, name: str) -> Path:
        from PySide6.QtWidgets import QApplication

        QApplication.processEvents()
        path = folder / f"{request.node.name}-{name}.png".replace("/", "_")
        assert widget.grab().save(str(path)), f"could not save {path}"
        return path

    return save
