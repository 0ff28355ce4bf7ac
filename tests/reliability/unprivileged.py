"""A child process that gives up root (``python -m tests.reliability.unprivileged FOLDER WORK``):
file permissions bind only a process that is not root, and the tests run as root in CI.

Started as root, it imports what it needs (the interpreter may live where only root may read),
creates the Qt application and a tiny model, then drops to uid/gid 65534 (nobody) and puts
``FOLDER`` through the core loader, the scan, the batch and the viewer's window (offscreen, no
model). It prints one JSON object: what each of them said about every file.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path

NOBODY = 65534


def drop_privileges() -> None:
    if os.geteuid() == 0:
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)


def main(folder: Path, work: Path) -> dict:
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from tests.factories import make_model_pair
    from viewer.core import inference  # noqa: F401 - imported while the interpreter is readable
    from viewer.core.batch import run_batch
    from viewer.core.errors import ImageLoadError
    from viewer.core.loader import load_radiograph
    from viewer.core.scan import SkippedFile, scan_folder
    from viewer.ui.main_window import MainWindow
    from viewer.ui.settings import AppSettings

    QApplication.instance() or QApplication([])
    model = make_model_pair(work / "model")
    drop_privileges()

    result: dict = {"uid": os.getuid(), "load": {}, "scan": {}, "batch": {}, "ui": {}}
    for path in sorted(p for p in folder.rglob("*") if p.is_file() or p.is_symlink()):
        relative = path.relative_to(folder).as_posix()
        try:
            load_radiograph(path)
            result["load"][relative] = "ok"
        except ImageLoadError as exc:
            result["load"][relative] = str(exc)
    for item in scan_folder(folder):
        result["scan"][item.relative_path.as_posix()] = item.reason if isinstance(item, SkippedFile) else "image"

    out = work / "results.csv"
    run_batch(folder, out, model, threads=1)
    with open(out, newline="", encoding="utf-8") as handle:
        result["batch"] = {row["path"]: [row["status"], row["error"]] for row in csv.DictReader(handle)}

    window = MainWindow(AppSettings.at(work / "settings.ini"), None, "no model in this test")
    window.show()
    loop = QEventLoop()
    finished: list[str] = []

    def done(what: str) -> None:
        finished.append(what)
        if {"scan", "analysis"} <= set(finished) and window.canvas.radiograph is not None:
            loop.quit()

    window.folder.scan_done.connect(lambda _count: done("scan"))
    window.folder.analysis_done.connect(lambda: done("analysis"))
    window.image.image_shown.connect(lambda _loaded: done("shown"))
    QTimer.singleShot(300_000, loop.quit)  # a bound for a broken build, not a performance claim
    window.open_path(folder)
    loop.exec()
    result["ui"] = {"finished": sorted(set(finished)), "errors": window.errors.entries()}
    window.close()
    return result


if __name__ == "__main__":
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    print(json.dumps(main(Path(sys.argv[1]), Path(sys.argv[2]))))
