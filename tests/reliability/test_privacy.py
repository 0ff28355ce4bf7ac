"""No patient name, patient ID or birth date from a DICOM header reaches a text output or an
exported picture.

A folder of DICOMs carrying known identifying values (good images, and broken ones whose errors
might quote their headers: truncated, no pixels, NaN, unknown syntax, bad lengths, undecodable
names, a birth date written 1938-02-17) goes through every place that writes text: the core's
errors, notes, log records and warnings; ``cxr-viewer batch`` (stdout, stderr, the CSV, with and
without ``--include-patient-id``); the GUI's screenshot run (stdout, stderr); and the window
(errors panel, every status-bar message, the findings, model and canvas texts, log records and
warnings while it reads every header). The exported PNG is rendered twice, from two files that
differ only in their identifying values, and must be identical pixel for pixel.
"""

from __future__ import annotations

import csv
import datetime as real_datetime
import functools
import logging
import os
import subprocess
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from tests.reliability.corpus import chest_pixels, dicom_dataset, save, save_claiming
from tests.reliability.gui import open_and_wait
from tests.ui.conftest import WAIT_MS
from viewer.core.batch import run_batch
from viewer.core.errors import CxrError
from viewer.core.inference import Predictor
from viewer.core.loader import load_radiograph
from viewer.core.scan import scan_folder

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(600)
SOP_INSTANCE = "1.2.826.0.1.3680043.8.498.4242.1"


class Person:
    def __init__(self, family: str, given: str, patient_id: str, birth: str) -> None:
        self.name, self.patient_id, self.birth = f"{family}^{given}", patient_id, birth
        y, m, d = birth[:4], birth[4:6], birth[6:]
        # every way the values could be printed: as stored, split, or a date reformatted
        self.secrets = (family, given, f"{given} {family}", f"{family}, {given}", patient_id, birth,
                        f"{y}-{m}-{d}", f"{d}.{m}.{y}", f"{m}/{d}/{y}", f"{d}/{m}/{y}")

    def leaks(self, text: str) -> list[str]:
        return [secret for secret in self.secrets if secret.lower() in text.lower()]


ALICE = Person("Quorvath", "Zendric", "QZ-5518-0042", "19380217")
BOB = Person("Brimley", "Oskarine", "BO-2291-7733", "19510923")


def identified(pixels: np.ndarray | None, person: Person, **changes: object):
    ds = dicom_dataset(pixels, patient_name=person.name, patient_id=person.patient_id, birth_date=person.birth)
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = SOP_INSTANCE
    ds.OtherPatientIDs = person.patient_id + "-OLD"
    ds.PatientAddress = "12 " + person.name.split("^")[0] + " Lane"
    for keyword, value in changes.items():
        setattr(ds, keyword, value)
    return ds


def identified_folder(root: Path, person: Person) -> Path:
    """Good and broken DICOMs of ``person``; returns the folder."""
    pixels = chest_pixels(144, 128)
    good = save(identified(pixels, person), root / "chest.dcm")
    save(identified(chest_pixels(96, 80, seed=2), person, PatientBirthDate=f"{person.birth[:4]}-"
                    f"{person.birth[4:6]}-{person.birth[6:]}"), root / "dashed_birth_date.dcm")
    (root / "cut.dcm").write_bytes(good[: len(good) - 5000])
    ds = identified(pixels, person)
    del ds.PixelData
    save(ds, root / "no_pixels.dcm")
    ds = identified(pixels, person, BitsAllocated=12)
    save(ds, root / "bits12.dcm")
    (root / "syntax.dcm").write_bytes(save_claiming(identified(pixels, person), "1.2.826.0.1.3680043.9.9999.7"))
    ds = identified(pixels, person)
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.add_new(0x00100010, "PN", person.name.encode() + b"\xff\xfe\xc3")  # not UTF-8
    save(ds, root / "undecodable_name.dcm")
    data = bytearray(good)
    at = data.find(person.patient_id.encode()) - 2
    data[at : at + 2] = (0xFF00).to_bytes(2, "little")  # PatientID's length: past the end of the file
    (root / "bad_length.dcm").write_bytes(bytes(data))
    float_pixels = np.linspace(0, 1, 48 * 48, dtype=np.float32).reshape(48, 48)
    float_pixels[3, 3] = np.nan
    ds = identified(None, person, Rows=48, Columns=48, SamplesPerPixel=1, PhotometricInterpretation="MONOCHROME2",
                    BitsAllocated=32)
    ds.FloatPixelData = float_pixels.tobytes()
    save(ds, root / "nan.dcm")
    return root


def test_the_identifiers_are_really_in_the_files(tmp_path: Path) -> None:
    """The checks below would see a leak: the values are there to be leaked."""
    folder = identified_folder(tmp_path / "study", ALICE)
    header = load_radiograph(folder / "chest.dcm").header
    assert (str(header.PatientName), header.PatientID, header.PatientBirthDate) == (
        ALICE.name, ALICE.patient_id, ALICE.birth)
    assert ALICE.leaks(f"{header.PatientName} {header.PatientID}")


def test_core_errors_logs_warnings_and_batch_csv(tmp_path: Path, tiny_model: Path,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    folder = identified_folder(tmp_path / "study", ALICE)
    texts: list[str] = []
    caplog.set_level(logging.DEBUG)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for item in scan_folder(folder):
            texts += [repr(item), getattr(item, "reason", "")]
        predictor = Predictor(tiny_model, threads=1)
        refused = 0
        for path in sorted(folder.iterdir()):
            try:
                radiograph = load_radiograph(path)
            except CxrError as exc:
                texts.append(str(exc))
                refused += 1
                continue
            texts += radiograph.notes + [repr(radiograph)]
            findings = predictor.predict(path)
            texts += list(findings.notes)
        summary = run_batch(folder, tmp_path / "r.csv", tiny_model, threads=1)
        texts.append(summary.describe())
    texts.append((tmp_path / "r.csv").read_text(encoding="utf-8"))
    texts += [record.getMessage() for record in caplog.records]
    texts += [str(w.message) for w in caught]
    assert refused == 6 and summary.errors == 6 and summary.ok == 3
    leaks = {text: ALICE.leaks(text) for text in texts if ALICE.leaks(text)}
    assert not leaks, leaks


def run_cli(*args: str | os.PathLike[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(PYTHONPATH=str(REPO), QT_QPA_PLATFORM="offscreen", HOME=str(cwd))
    return subprocess.run([sys.executable, "-W", "always", "-m", "viewer", *map(os.fspath, args)], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=300)


def test_batch_and_gui_command_lines(tmp_path: Path, tiny_model: Path) -> None:
    folder = identified_folder(tmp_path / "study", ALICE)
    plain = run_cli("batch", folder, "--model", tiny_model, "--out", tmp_path / "plain.csv", cwd=tmp_path)
    assert plain.returncode == 0, plain.stderr
    shot = run_cli(folder, "--model", tiny_model, "--screenshot", tmp_path / "shot.png", cwd=tmp_path)
    assert shot.returncode in (0, 1) and "Traceback" not in shot.stderr, shot.stderr  # 1: first file is broken
    assert "error: " in shot.stdout  # the errors panel's entries are printed: they are checked too
    outputs = {"batch stdout": plain.stdout, "batch stderr": plain.stderr,
               "batch csv": (tmp_path / "plain.csv").read_text(encoding="utf-8"),
               "gui stdout": shot.stdout, "gui stderr": shot.stderr}
    leaks = {where: ALICE.leaks(text) for where, text in outputs.items() if ALICE.leaks(text)}
    assert not leaks, leaks

    # --include-patient-id adds the ID, in its own column only, and nothing else identifying
    with_id = run_cli("batch", folder, "--model", tiny_model, "--out", tmp_path / "ids.csv",
                      "--include-patient-id", cwd=tmp_path)
    assert with_id.returncode == 0, with_id.stderr
    with open(tmp_path / "ids.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert {row["patient_id"] for row in rows if row["status"] == "ok"} == {ALICE.patient_id}
    for row in rows:
        others = " | ".join(value for key, value in row.items() if key != "patient_id")
        assert not ALICE.leaks(others), row
    assert not ALICE.leaks(with_id.stdout + with_id.stderr)


class FrozenClock:
    """``datetime`` for the export footer: the same minute for both renderings."""

    class datetime(real_datetime.datetime):  # noqa: N801 - stands in for the module's class
        @classmethod
        def now(cls, tz=None):
            return real_datetime.datetime(2026, 11, 22, 9, 30, tzinfo=real_datetime.UTC)


def test_window_texts_and_the_exported_png(qtbot, make_window, tiny_model: Path, tmp_path: Path,
                                           caplog: pytest.LogCaptureFixture,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from viewer.ui import export as export_module

    monkeypatch.setattr(export_module, "_dt", SimpleNamespace(datetime=FrozenClock.datetime))
    caplog.set_level(logging.DEBUG)
    exports = tmp_path / "exports"
    exports.mkdir()
    window = make_window(tiny_model)
    messages: list[str] = []
    window.statusBar().messageChanged.connect(messages.append)
    qtbot.waitUntil(lambda: window.models.predictor is not None, timeout=WAIT_MS)
    texts: list[str] = []
    pictures = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for person in (ALICE, BOB):
            folder = identified_folder(tmp_path / f"patient_{person is BOB:d}" / "study", person)
            done: list[str] = []
            window.folder.analysis_done.connect(functools.partial(done.append, "analysis"))
            window.open_path(folder)
            qtbot.waitUntil(functools.partial(bool, done), timeout=WAIT_MS)
            window.folder.analysis_done.disconnect()
            outcomes = []
            for path in sorted(folder.iterdir()):  # every header read and shown in the tags panel
                outcome, _reason = open_and_wait(window, path)
                if outcome == "shown":
                    qtbot.waitUntil(lambda: window.image.analysed is not None, timeout=WAIT_MS)
                    assert window.tags.source.rowCount() > 10
                outcomes.append(outcome)
                texts += [window.findings.message.text(), window.windowTitle(), window.canvas._placeholder or ""]
            assert outcomes.count("shown") == 3 and outcomes.count("failed") == 6
            texts += [f"{file}: {reason}" for file, reason in window.errors.entries()]
            texts += [window.model_panel.text.toPlainText(), window.errors.summary.text()]
            window.image.open(folder / "chest.dcm")
            qtbot.waitUntil(lambda f=folder: window.image.analysed is not None
                            and window.image.analysed.path == f / "chest.dcm", timeout=WAIT_MS)
            def tag_values() -> str:
                return " ".join(window.tags.source.item(r, 3).text() for r in range(window.tags.source.rowCount())
                                if window.tags.source.item(r, 3) is not None)

            assert not person.leaks(tag_values()), "the tags panel masks identity until the reader asks"
            texts.append(tag_values())
            window.act_show_identity.trigger()
            assert person.leaks(tag_values()), "the tags panel should show the header when asked (on screen only)"
            window.act_show_identity.trigger()
            out = window.export_png(exports / f"view_{len(pictures)}.png")
            assert out is not None and out.is_file()
            texts.append(out.read_bytes().decode("latin-1"))  # PNG text chunks, if any
            pictures[person.patient_id] = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    texts += messages + [record.getMessage() for record in caplog.records] + [str(w.message) for w in caught]
    assert len(messages) > 10 and window.errors.count() >= 6
    for person in (ALICE, BOB):
        leaks = {text[:200]: person.leaks(text) for text in texts if person.leaks(text)}
        assert not leaks, leaks
    first, second = pictures[ALICE.patient_id], pictures[BOB.patient_id]
    assert first.shape == second.shape and first.std() > 10
    assert np.array_equal(first, second), "the exported view depends on the patient's identifiers"
