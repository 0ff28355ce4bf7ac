"""Make the README's screenshots of the real window on real X-rays: docs/screenshot-nih-png.png,
docs/screenshot-dicom.png, docs/screenshot-compare.png and docs/screenshot-stack.png.

    .venv/bin/python -m tests.ui.doc_screenshots --model resources/models/demo.onnx

Needs ../shared/data. The NIH PNG is 00026911_000.png, opened in its folder with the finding that
has a ground-truth box (Infiltration) selected, so the box, its heatmap and their agreement
show; the DICOM is the real CR RG1_UNCR.dcm (MONOCHROME1, pixel spacing [0, 0]) with the lung
preset, a ruler (which says it measures pixels) and the tags panel searched for "window".
The comparison is NIH patient 1's follow-up 2 beside follow-up 1, zoomed and panned together,
with the Comparison panel; the stack is RG1 written as a 5-frame DICOM (each frame shifted), on
its third frame. Rendered offscreen; the window is the one users get, only resized to 1600 x 1000.
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


def compare(model: Path, out: Path, settings_dir: Path) -> None:
    folder = settings_dir / "patient-1"
    folder.mkdir()
    for name in ("00000001_000.png", "00000001_001.png", "00000001_002.png"):
        (folder / name).symlink_to(DATA / "nih-sample" / "images" / name)
    window = open_window(model, settings_dir)
    window.open_path(folder)
    wait(lambda: window.image.analysed is not None)
    target, prior = folder / "00000001_002.png", folder / "00000001_001.png"
    window.browser.select_path(target)
    window.act_compare.trigger()
    beside = window.comparison.beside
    wait(lambda: window.image.analysed is not None and window.image.analysed.path == target and bool(beside)
         and beside[0].session.analysed is not None and beside[0].session.analysed.path == prior)
    window.findings.select_label("Effusion")
    window.canvas.zoom_by(1.3)  # the prior follows: zoom and pan are linked
    wait(lambda: True)
    window.grab().save(str(out))
    window.close()


def stack(model: Path, out: Path, settings_dir: Path) -> None:
    import cv2
    import pydicom

    from tests.frames_factory import frames_from, write_native

    folder = settings_dir / "stack"
    folder.mkdir()
    pixels = pydicom.dcmread(DATA / "dicom" / "RG1_UNCR.dcm").pixel_array.astype("float32")
    small = cv2.resize(pixels, (pixels.shape[1] // 3, pixels.shape[0] // 3), interpolation=cv2.INTER_AREA)
    base = 1.0 - (small - small.min()) / (small.max() - small.min())  # MONOCHROME1: white is dense once inverted
    write_native(folder / "rg1-5-frames.dcm", frames_from(base, 12), bits_stored=12, RecommendedDisplayFrameRate=10,
                 PatientID="STACK", PatientName="STACK^DEMO", StudyDate="20240301", Modality="CR")
    window = open_window(model, settings_dir)
    window.open_path(folder)
    wait(lambda: window.image.analysed is not None)
    window.image.show_frame(2)
    wait(lambda: window.image.analysed is not None and window.canvas.radiograph.frame_index == 2)
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
        for name, make in (("compare", compare), ("stack", stack)):
            (Path(tmp) / name).mkdir()
            make(args.model, args.out / f"screenshot-{name}.png", Path(tmp) / name)
    print(f"wrote the screenshots in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
