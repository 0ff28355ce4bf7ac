"""Entry point of the desktop viewer: ``run_gui`` (called by ``viewer/__main__.py``).

With ``screenshot`` set the window is rendered once (offscreen works): the first image of the
folder, its findings, the top finding's heatmap; the PNG is saved, the findings table printed,
and the function returns instead of running the event loop.
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np
from PySide6.QtCore import QElapsedTimer, QEventLoop, QRect, QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from viewer.core.errors import CxrError, display_name
from viewer.core.resources import MissingResourceError, demo_model_path, resource_path

from .export import ExportError, save_png
from .main_window import MainWindow
from .model_panel import NOT_FOR_DIAGNOSIS
from .model_session import ModelState
from .settings import APPLICATION, ORGANIZATION, AppSettings
from .workers import LoadedImage

SCREENSHOT_SIZE = (1600, 1000)
SCREENSHOT_TIMEOUT_MS = 300_000  # a slow machine and a big model; never hang for ever


def run_gui(path: Path | None, model: Path | None, demo: bool, screenshot: Path | None,
            threads: int | None = None, *, follow_links: bool = False) -> int:
    """Run the viewer on ``path`` (folder or file; the demo study with ``demo``).

    ``model`` is the classifier ONNX file (its ``.gradcam.onnx`` beside it); by default the
    bundled demo model, and without one the viewer is a plain viewer that says why.
    ``threads`` is ONNX Runtime's thread count for the model (None: all cores).
    ``follow_links``: the folder scans also follow links to folders outside the opened folder.
    Returns the process exit code.
    """
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    model_path, no_model_reason = resolve_model(model)
    if demo and path is None:
        from viewer.core.demo import demo_study_dir

        try:
            path = demo_study_dir()
        except CxrError as exc:
            print(f"cxr-viewer: the demo study is not available: {exc}", file=sys.stderr)
            return 2
    icon = _app_icon()
    if screenshot is not None:
        with tempfile.TemporaryDirectory(prefix="cxr-viewer-") as tmp:
            # A screenshot run leaves the user's settings (layout, recent folders) alone.
            window = MainWindow(AppSettings.at(Path(tmp) / "settings.ini"), model_path, no_model_reason, icon,
                                threads, follow_links=follow_links)
            try:
                if path is None:
                    print("cxr-viewer: --screenshot needs a folder or file to show (or --demo)", file=sys.stderr)
                    return 2
                result = capture_screenshot(window, Path(path), Path(screenshot))
                print_findings(window, result, sys.stdout)
                return 0 if result.ok else 1
            finally:
                window.close()
    window = MainWindow(AppSettings(), model_path, no_model_reason, icon, threads, follow_links=follow_links)
    window.show()
    if path is not None:
        window.open_path(Path(path))
    return app.exec()


def resolve_model(model: Path | None) -> tuple[Path | None, str | None]:
    """The model to open, or None and the reason shown in the model panel."""
    if model is not None:
        return Path(model), None
    try:
        return demo_model_path(), None
    except MissingResourceError as exc:
        return None, f"No --model given, and {exc}"


def _app_icon() -> QIcon | None:
    try:
        return QIcon(str(resource_path("icons", "cxr-viewer.png")))
    except MissingResourceError:
        return None


@dataclass
class ScreenshotResult:
    """What a screenshot run produced: where, and the canvas rectangle within the PNG."""

    out: Path
    ok: bool
    message: str
    canvas_rect: QRect


class _Progress:
    """Watches the window's events until the first image and its findings (or their absence)
    are on screen."""

    def __init__(self, window: MainWindow) -> None:
        self.window = window
        self.shown = self.findings_done = self.failed = self.empty = False
        window.image.image_shown.connect(self._on_shown)
        window.image.findings_shown.connect(self._on_findings)
        window.image.findings_unavailable.connect(self._on_findings)
        window.image.image_failed.connect(self._on_failed)
        window.folder.scan_done.connect(self._on_scan_done)

    def _on_shown(self, _loaded: LoadedImage) -> None:
        self.shown = True

    def _on_findings(self, *_args: object) -> None:
        self.findings_done = True

    def _on_failed(self, path: str, _reason: str) -> None:
        current = self.window.image.path
        if current is not None and display_name(current.name) == Path(path).name:
            self.failed = True

    def _on_scan_done(self, count: int) -> None:
        self.empty = count == 0 or self.empty

    @property
    def ready(self) -> bool:
        if self.failed or self.empty:
            return True
        return self.shown and (self.findings_done or self.window.models.state is ModelState.UNAVAILABLE)


def capture_screenshot(window: MainWindow, source: Path, out: Path,
                       timeout_ms: int = SCREENSHOT_TIMEOUT_MS) -> ScreenshotResult:
    """Open ``source``, wait for the first image and its findings, show the top finding's
    heatmap, and save the window as ``out`` (PNG)."""
    window.resize(*SCREENSHOT_SIZE)
    window.show()
    progress = _Progress(window)
    window.open_path(source)
    loop = QEventLoop()
    clock = QElapsedTimer()
    clock.start()
    poll = QTimer()
    poll.setInterval(25)
    poll.timeout.connect(lambda: loop.quit() if progress.ready or clock.elapsed() > timeout_ms else None)
    poll.start()
    loop.exec()
    poll.stop()
    # Let queued paints and layout settle before grabbing.
    for _ in range(5):
        QApplication.processEvents()
    canvas_rect = QRect(window.canvas.mapTo(window, window.canvas.rect().topLeft()), window.canvas.size())
    out.parent.mkdir(parents=True, exist_ok=True)
    try:  # never through a link planted at the name (the default is in the working folder)
        save_png(window.grab().toImage(), out)
    except ExportError as exc:
        return ScreenshotResult(out, False, str(exc), canvas_rect)
    if not progress.ready:
        return ScreenshotResult(out, False, "timed out waiting for the first image and its findings", canvas_rect)
    if window.canvas.radiograph is None:
        return ScreenshotResult(out, False, "no image could be shown (see the errors above)", canvas_rect)
    return ScreenshotResult(out, True, "", canvas_rect)


def findings_table(window: MainWindow) -> list[str]:
    """The findings of the image on screen as text lines (label, probability, threshold, flag)."""
    f = window.image.state.shown  # at the operating point, as the findings panel shows them
    if f is None:
        reason = window.models.reason if window.models.state is ModelState.UNAVAILABLE else "no findings"
        return [f"No findings: {reason}"]
    order = np.argsort(-np.asarray(f.probabilities))
    width = max(len("label"), *(len(x) for x in f.labels))
    lines = [f"{'label':<{width}}  probability  threshold  flag"]
    for i in order:
        flag = "FLAG" if f.flags[i] else ""
        probability, threshold = float(f.probabilities[i]), float(f.thresholds[i])
        lines.append(f"{f.labels[i]:<{width}}  {probability:>11.3f}  {threshold:>9.3f}  {flag}")
    if f.ood_flag:
        lines.append(f"WARNING: out-of-distribution image (score {float(f.ood_score):.2f}): findings unreliable")
    return lines


def print_findings(window: MainWindow, result: ScreenshotResult, stream: TextIO) -> None:
    for path, reason in window.errors.entries():
        print(f"error: {path}: {reason}", file=stream)
    rg = window.canvas.radiograph
    if rg is not None:  # relative to the folder and without identities, as the CSVs write paths
        print(f"Image: {window.folder.shown_path(rg.path)}", file=stream)
    for line in findings_table(window):
        print(line, file=stream)
    if window.canvas.heatmap_label:
        print(f"Heatmap shown: {window.canvas.heatmap_label}", file=stream)
    print(f"{NOT_FOR_DIAGNOSIS} Research and education only.", file=stream)
    if result.ok:
        print(f"Screenshot saved to {display_name(result.out)}", file=stream)
    else:
        print(f"Screenshot saved to {display_name(result.out)}, but: {result.message}", file=stream)
