"""The GUI thread keeps processing events while a large folder is scanned, and the first image
is on screen before the scan ends. No time limits: the test counts events, not milliseconds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QTimer

from tests.ui.conftest import WAIT_MS
from tests.ui.images import write_dicom

N_FILES = 1000


def test_gui_keeps_processing_events_while_1000_files_are_scanned(qtbot, make_window, tmp_path: Path) -> None:
    folder = tmp_path / "big"
    pixels = (np.arange(64 * 64).reshape(64, 64) % 4096).astype(np.uint16)
    study = "1.2.826.0.1.3680043.8.498.1"
    for i in range(N_FILES):
        # ten patients, a hundred images each: the browser groups them while they stream in
        write_dicom(folder / f"p{i % 10}" / f"im{i:04d}.dcm", pixels, patient_id=f"P{i % 10}",
                    patient_name=f"PATIENT^{i % 10}", study_uid=f"{study}.{i % 10}")

    window = make_window(None, "no model in this test")
    events: list[tuple[str, int]] = []  # (what, images in the browser when it happened)
    ticks_during_scan = []
    timer = QTimer()
    timer.setInterval(0)  # fires whenever the GUI event loop is free
    timer.timeout.connect(lambda: ticks_during_scan.append(1) if window.folder.scanning else None)

    window.folder.progressed.connect(
        lambda task, done, total: (
            events.append((task, window.browser.model.image_count())) if task == "Scanning" else None)
    )
    window.image.image_shown.connect(lambda _loaded: events.append(("shown", window.browser.model.image_count())))
    finished = []
    window.folder.scan_done.connect(finished.append)

    timer.start()
    window.open_path(folder)
    qtbot.waitUntil(lambda: bool(finished), timeout=WAIT_MS * 5)
    timer.stop()

    assert finished == [N_FILES]
    assert window.browser.model.image_count() == N_FILES
    # The GUI thread ran its own timer many times while the scan was running...
    assert len(ticks_during_scan) > 10
    # ...and received the scan in many steps, the browser growing as it went.
    progress = [count for what, count in events if what == "Scanning"]
    assert len(progress) > 3
    assert len(set(progress)) > 2 and min(progress) < N_FILES
    # The first image was on screen before the scan had listed every file.
    shown = [count for what, count in events if what == "shown"]
    assert shown and shown[0] < N_FILES
    assert window.canvas.radiograph is not None
