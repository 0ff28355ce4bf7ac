"""Paths named after the patient: what a PACS export does (``NAME_ID/DOB_CHEST/IM000001``).

The identifying values of the DICOM headers in a folder must not reach an output through the
paths either: the batch CSV (every cell), the batch's summary line, the window's CSV export,
errors panel, status bar and title, and the screenshot run's printout. Paths are written relative
to the opened folder, with every form of those values replaced by ``[removed]``: the canaries are
in the folder and file names in several forms (``FAMILY_GIVEN``, ``Given Family``, run together,
the ID and the birth date with other separators), and a broken file sorts before the first
readable one of its folder, so the values are learned only after its row was written.
"""

from __future__ import annotations

import csv
import functools
from pathlib import Path

import numpy as np

from tests.reliability.corpus import chest_pixels, encode, save
from tests.reliability.test_privacy import ALICE, identified, run_cli
from tests.ui.conftest import WAIT_MS
from viewer.core.identity import REMOVED

FAMILY, GIVEN = ALICE.name.split("^")
Y, M, D = ALICE.birth[:4], ALICE.birth[4:6], ALICE.birth[6:]


def canary_export(root: Path) -> Path:
    """A PACS-style export of ALICE: folders and files named with her identifiers."""
    patient = root / "export" / f"{FAMILY.upper()}_{GIVEN.upper()}_{ALICE.patient_id}"
    study = patient / f"{ALICE.birth}_CHEST"
    good = save(identified(chest_pixels(96, 80), ALICE), study / "IM000002.dcm")
    (study / "IM000001.dcm").write_bytes(good[: len(good) // 2])  # broken, and before the good one
    (study / "IM000003.dcm").write_bytes(b"")
    other = patient / f"{D}.{M}.{Y} {GIVEN} {FAMILY}"
    save(identified(chest_pixels(96, 80, seed=1), ALICE), other / f"{GIVEN}{FAMILY}_PA.dcm")
    (other / f"{ALICE.patient_id.replace('-', '_')}.png").write_bytes(b"not a png")
    (other / "notes.png").write_bytes(encode(".png", (chest_pixels(64, 64) >> 4).astype(np.uint8))[:200])
    return root / "export"


def test_the_canaries_are_in_the_paths(tmp_path: Path) -> None:
    names = " ".join(str(p.relative_to(tmp_path)) for p in canary_export(tmp_path).rglob("*"))
    assert {FAMILY, GIVEN, ALICE.patient_id, ALICE.birth} <= set(ALICE.leaks(names)) | {ALICE.birth}
    assert ALICE.leaks(names)


def test_batch_csv_and_summary_carry_no_identifier_from_the_paths(tmp_path: Path, tiny_model: Path) -> None:
    folder = canary_export(tmp_path)
    done = run_cli("batch", folder, "--model", tiny_model, "--out", tmp_path / "out.csv", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "out.csv").read_text(encoding="utf-8")
    leaks = {where: ALICE.leaks(t) for where, t in (("csv", text), ("stdout", done.stdout),
                                                    ("stderr", done.stderr)) if ALICE.leaks(t)}
    assert not leaks, (leaks, text)
    with open(tmp_path / "out.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 6 and sum(row["status"] == "ok" for row in rows) == 2
    assert all(REMOVED in row["path"] and not row["path"].startswith("/") for row in rows)
    assert {row["Image Index"] for row in rows} >= {"IM000001.dcm", "IM000002.dcm", f"{REMOVED}_PA.dcm"}


def test_the_screenshot_run_prints_no_identifier_from_the_paths(tmp_path: Path, tiny_model: Path) -> None:
    folder = canary_export(tmp_path)
    shot = run_cli(folder, "--model", tiny_model, "--screenshot", tmp_path / "shot.png", cwd=tmp_path)
    assert "Traceback" not in shot.stderr, shot.stderr
    assert "error: " in shot.stdout and "Image: " in shot.stdout
    assert not ALICE.leaks(shot.stdout + shot.stderr), shot.stdout


def test_the_window_shows_and_exports_no_identifier_from_the_paths(
    qtbot, make_window, tiny_model: Path, tmp_path: Path, monkeypatch,
) -> None:
    from PySide6.QtWidgets import QFileDialog

    folder = canary_export(tmp_path)
    window = make_window(tiny_model)
    messages: list[str] = []
    window.statusBar().messageChanged.connect(messages.append)
    qtbot.waitUntil(lambda: window.models.predictor is not None, timeout=WAIT_MS)
    done: list[str] = []
    window.folder.analysis_done.connect(functools.partial(done.append, "analysis"))
    window.open_path(folder)
    qtbot.waitUntil(functools.partial(bool, done), timeout=WAIT_MS)
    out = tmp_path / "findings.csv"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(out), "CSV files (*.csv)"))
    window.act_export_csv.trigger()
    qtbot.waitUntil(out.is_file, timeout=WAIT_MS)
    named = next(path for path in folder.rglob("*_PA.dcm"))  # a file named after the patient, on screen
    window.image.open(named)
    qtbot.waitUntil(lambda: window.canvas.radiograph is not None and window.canvas.radiograph.path == named,
                    timeout=WAIT_MS)
    texts = {"title": window.windowTitle(), "csv": out.read_text(encoding="utf-8"),
             "canvas": " ".join(window.canvas.annotations().top_left),
             "errors": "\n".join(f"{file}: {reason}" for file, reason in window.errors.entries()),
             "status": "\n".join(messages)}
    assert window.errors.count() >= 4
    leaks = {where: ALICE.leaks(text) for where, text in texts.items() if ALICE.leaks(text)}
    assert not leaks, (leaks, texts)
