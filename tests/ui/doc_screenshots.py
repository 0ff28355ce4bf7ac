"""Make docs/screenshot-nih-png.png and docs/screenshot-dicom.png: the real window on real X-rays.

    .venv/bin/python -m tests.ui.doc_screenshots --model resources/models/demo.onnx

Needs ../shared/data. The NIH PNG is 00026911_000.png, opened in its folder with the finding that
has a ground-truth box (Infiltration) selected, so the box, its heatmap and their agreement
show; the DICOM is the real CR RG1_UNCR.dcm (MONOCHROME1, pixel spacing [0, 0]) with the lung
preset, a ruler (which says it measures pixels) and the tags panel searched for "window".
Rendered offscreen; the window is the one users get, only resized to 1600 x 1000.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QElapsedTimer, QEventLoop, QPoint, Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from viewer.ui.main_window import MainWindow
from viewer.ui.settings import AppSettings

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
SIZE = (1600, 1000)


def wait(condition: Callable[[], bool], timeout_ms: int = 600_000) -> None:
    """Run the event loop until ``condition()`` (or the timeout), then let paints settle."""
    loop, clock, poll = QEventLoop(), QElapsedTimer(), QTimer()
    clock.start()
    poll.setInterval(30)
    poll.timeout.connect(lambda: loop.quit() if condition() or clock.elapsed() > timeout_ms else None)
    poll.start()
    loop.exec()
    poll.stop()
    for _ in range(5):
        QApplication.processEvents()


def open_window(model: Path, settings_dir: Path) -> MainWindow:
    window = MainWindow(AppSettings.at(settings_dir / "settings.ini"), model)
    window.resize(*SIZE)
    window.show()
    return window


def nih_png(model: Path, out: Path, settings_dir: Path) -> None:
    window = open_window(model, settings_dir)
    target = DATA / "nih-sample" / "images" / "00026911_000.png"
    window.open_path(target.parent)
    wait(lambda: window.image.analysed is not None)
    window.browser.select_path(target)
    wait(lambda: window.image.analysed is not None and window.image.analysed.path == target)
    window.findings.select_label("Infiltration")  # the finding BBox_List_2017 has a box for
    wait(lambda: len(window.folder.rows) >= 60)  # thumbnails around it
    index = window.browser.proxy.mapFromSource(window.browser.model.item_for(target).index())
    window.browser.tree.scrollTo(index, window.browser.tree.ScrollHint.PositionAtCenter)
    wait(lambda: True)
    window.grab().save(str(out))
    window.close()


def dicom(model: Path, out: Path, settings_dir: Path) -> None:
    window = open_window(model, settings_dir)
    target = DATA / "dicom" / "RG1_UNCR.dcm"
    window.open_path(target.parent)
    wait(lambda: window.image.analysed is not None)
    window.browser.select_path(target)
    wait(lambda: window.image.analysed is not None and window.image.analysed.path == target)
    window.apply_preset(1)  # Lung
    window.findings.select_label("Infiltration")
    canvas = window.canvas
    window.act_ruler.trigger()  # the Measure tool, as a user would pick it
    start, end = canvas.image_to_widget(520, 1180).toPoint(), canvas.image_to_widget(1420, 1180).toPoint()
    QTest.mousePress(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    QTest.mouseMove(canvas, end)
    QTest.mouseRelease(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, end)
    QTest.mouseMove(canvas, QPoint(canvas.width() // 2, canvas.height() // 3))  # a pixel read-out
    window.tags.search.setText("window")
    wait(lambda: True)
    window.grab().save(str(out))
    window.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[2] / "docs")
    args = parser.parse_args(argv)
    if not DATA.is_dir():
        print(f"needs {DATA}", file=sys.stderr)
        return 2
    QApplication.instance() or QApplication(sys.argv[:1])
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        nih_png(args.model, args.out / "screenshot-nih-png.png", Path(tmp))
        dicom(args.model, args.out / "screenshot-dicom.png", Path(tmp))
    print(f"wrote {args.out / 'screenshot-nih-png.png'} and {args.out / 'screenshot-dicom.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
