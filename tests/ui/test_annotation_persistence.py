"""Measurements kept across sessions and folder moves, as a user makes them: a cardiothoracic ratio
drawn with the mouse on RG1 (a real CR DICOM) and on an NIH PNG survives closing the viewer and
opening a new one on the same store (reopened from disk), and moving the folder; a ruler
calibrated on RG1 (whose spacing is 0) keeps its calibration; a damaged store is one line in the
errors panel, and drawing still works. The store is in a temporary XDG_DATA_HOME (conftest)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QInputDialog

from tests.conftest import SHARED_DATA
from tests.ui.canvas_helpers import activate, drag
from tests.ui.conftest import wait_for_image
from tests.ui.images import chest_png
from viewer.core.annotation_store import AnnotationStore, default_store_path, radiograph_key
from viewer.core.loader import load_radiograph
from viewer.ui.main_window import MainWindow


def _rg1() -> Path:
    """RG1_UNCR.dcm: the shared copy, else pydicom-data's; skipped (saying so) when neither is here."""
    shared = SHARED_DATA / "dicom" / "RG1_UNCR.dcm"
    if shared.exists():
        return shared
    try:
        import data_store
    except ImportError:
        pytest.skip(f"needs {shared} or the pydicom-data package (RG1_UNCR.dcm), neither is here")
    packaged = Path(data_store.__file__).parent / "data" / "RG1_UNCR.dcm"
    if not packaged.exists():
        pytest.skip(f"needs {shared} or pydicom-data's {packaged}, neither is here")
    return packaged


def _nih_png(folder: Path) -> Path:
    """An NIH image from the shared sample, else a generated chest PNG of the same size."""
    shared = SHARED_DATA / "nih-sample" / "images" / "00000001_000.png"
    target = folder / "00000001_000.png"
    folder.mkdir(parents=True, exist_ok=True)
    if shared.exists():
        shutil.copy(shared, target)
        return target
    return chest_png(target, seed=11, size=512)


def _open(qtbot, make_window, path: Path) -> MainWindow:
    window = make_window(None, "no model in this test")
    window.open_path(path)
    wait_for_image(qtbot, window)
    activate(qtbot, window)
    return window


def _draw_ctr(qtbot, window: MainWindow) -> tuple[object, str]:
    """T, then a drag across the heart and one across the thorax, at fractions of the image."""
    canvas = window.canvas
    rg = canvas.radiograph
    w, h = rg.width, rg.height

    def at(fx: float, fy: float):
        return canvas.image_to_widget(fx * w, fy * h).toPoint()

    qtbot.keyClick(canvas, Qt.Key.Key_T)
    drag(qtbot, canvas, at(0.38, 0.62), at(0.66, 0.62))
    drag(qtbot, canvas, at(0.15, 0.70), at(0.85, 0.70))
    shape, label = canvas.measurements[-1], canvas.measurement_labels()[-1]
    (a, b, c, d) = shape.points
    assert shape.kind == "ctr" and label == f"CTR {abs(b[0] - a[0]) / abs(d[0] - c[0]):.2f}"
    assert 0.3 < abs(b[0] - a[0]) / abs(d[0] - c[0]) < 0.5  # 0.28 of the width over 0.70
    return shape, label


def _survives_closing_and_moving(qtbot, make_window, image: Path, tmp_path: Path, screenshot) -> None:
    window = _open(qtbot, make_window, image)
    shape, label = _draw_ctr(qtbot, window)
    screenshot(window, "ctr-drawn")
    window.close()  # the viewer is closed: the store is closed with it

    with AnnotationStore(default_store_path()) as store:  # on disk, not only in that window
        assert [item["kind"] for item in store.load(radiograph_key(load_radiograph(image)), 0)] == ["ctr"]

    again = _open(qtbot, make_window, image)
    assert again.canvas.measurements == [shape] and again.canvas.measurement_labels() == [label]
    again.close()

    moved = tmp_path / "moved elsewhere" / "renamed"
    shutil.move(image.parent, moved)
    after_move = _open(qtbot, make_window, moved / image.name)
    assert after_move.canvas.measurements == [shape], "the annotations did not follow the moved folder"
    assert after_move.canvas.measurement_labels() == [label]
    assert "CTR" in after_move.measure_label.text()
    screenshot(after_move, "ctr-after-move")


def test_a_ctr_on_rg1_survives_closing_the_viewer_and_moving_the_folder(qtbot, make_window, tmp_path: Path,
                                                                        screenshot) -> None:
    folder = tmp_path / "study"
    folder.mkdir()
    image = Path(shutil.copy(_rg1(), folder / "RG1_UNCR.dcm"))
    _survives_closing_and_moving(qtbot, make_window, image, tmp_path, screenshot)


def test_a_ctr_on_an_nih_png_survives_closing_the_viewer_and_moving_the_folder(qtbot, make_window, tmp_path: Path,
                                                                              screenshot) -> None:
    image = _nih_png(tmp_path / "nih" / "images")
    _survives_closing_and_moving(qtbot, make_window, image, tmp_path, screenshot)


def test_a_ruler_calibrated_on_rg1_measures_in_mm_in_the_next_session(qtbot, make_window, tmp_path: Path,
                                                                      monkeypatch) -> None:
    image = _rg1()
    window = _open(qtbot, make_window, image)
    canvas = window.canvas
    assert canvas.spacing is None and window.spacing_label.text().startswith("px: no pixel spacing")
    at = canvas.image_to_widget
    qtbot.keyClick(canvas, Qt.Key.Key_M)
    drag(qtbot, canvas, at(400, 900), at(1400, 900))
    (ax, _), (bx, _) = canvas.measurements[0].points
    assert canvas.measurement_labels()[0].endswith(" px")

    asked = []

    def known_length(*args, **kwargs):
        asked.append(args[2])
        return 250.0, True

    monkeypatch.setattr(QInputDialog, "getDouble", known_length)
    window.act_calibrate.trigger()  # the ruler just drawn is selected
    assert asked and "pixels long" in asked[0]
    assert canvas.measurement_labels()[0] == "250.0 mm"
    assert window.spacing_label.text() == "mm, calibrated on a known length"
    drag(qtbot, canvas, at(400, 1200), at(900, 1200))  # another ruler, half as long
    (cx, _), (dx, _) = canvas.measurements[1].points
    assert float(canvas.measurement_labels()[1].removesuffix(" mm")) == pytest.approx(
        250.0 * abs(dx - cx) / abs(bx - ax), abs=0.06)
    window.close()

    again = _open(qtbot, make_window, image)
    assert again.canvas.spacing is not None and again.canvas.measurement_labels()[0] == "250.0 mm"


def test_a_damaged_store_is_one_error_line_and_drawing_still_works(qtbot, make_window, tmp_path: Path) -> None:
    store = default_store_path()
    store.parent.mkdir(parents=True, exist_ok=True)
    store.write_bytes(b"this is not a database" * 100)
    window = _open(qtbot, make_window, chest_png(tmp_path / "a.png", size=256))
    lines = [(name, reason) for name, reason in window.errors.entries() if name.endswith(store.name)]
    assert len(lines) == 1 and "annotations" in lines[0][1] and "damaged" in lines[0][1], window.errors.entries()
    assert window.errors_dock.isVisible()

    canvas = window.canvas
    qtbot.keyClick(canvas, Qt.Key.Key_E)
    drag(qtbot, canvas, canvas.image_to_widget(60, 60), canvas.image_to_widget(160, 140))
    assert [shape.kind for shape in canvas.measurements] == ["ellipse"]
    assert canvas.measurement_labels()[0].startswith("mean ")
    assert store.read_bytes() == b"this is not a database" * 100  # left as it was, for the user to look at
