"""Exports: the view as PNG (overlays, footer, never a patient identifier) and the folder CSV
(the batch CSV's columns, probabilities as the model gives them, flags at the operating point)."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QFileDialog

from tests.ui.conftest import WAIT_MS, wait_for_findings
from tests.ui.images import chest_dicom, chest_png
from viewer.core.batch import run_batch
from viewer.core.findings import flags_at
from viewer.core.inference import adjusted_thresholds
from viewer.core.predictions_csv import csv_columns
from viewer.ui import export as export_module

SECRETS = ("SECRET^PATIENTNAME", "ID-4711-SECRET", "19231231")


class RecordingPainter(QPainter):
    """A QPainter that remembers every text it draws."""

    texts: list[str] = []

    def drawText(self, *args):
        RecordingPainter.texts.extend(a for a in args if isinstance(a, str))
        return super().drawText(*args)


def test_exported_png_has_overlays_and_footer_but_no_identifiers(qtbot, make_window, tiny_model, tmp_path: Path,
                                                                  monkeypatch) -> None:
    image = chest_dicom(tmp_path / "SECRET^PATIENTNAME" / "scan.dcm", seed=5, size=160,
                        patient_name=SECRETS[0], patient_id=SECRETS[1], birth_date=SECRETS[2])
    window = make_window(tiny_model)
    window.open_path(image.parent)
    wait_for_findings(qtbot, window)
    window.act_show_identity.trigger()  # on screen: the tags panel and the corner name the patient
    assert any("SECRET" in e.text() for e in _tag_values(window))

    RecordingPainter.texts = []
    monkeypatch.setattr(export_module, "QPainter", RecordingPainter)
    (tmp_path / "exports").mkdir()
    out = window.export_png(tmp_path / "exports" / "view")
    assert out == tmp_path / "exports" / "view.png" and out.is_file()
    texts = " | ".join(RecordingPainter.texts)
    assert "NOT FOR DIAGNOSTIC USE" in texts
    assert f"Heatmap: {window.canvas.heatmap_label.replace('_', ' ')}" in texts
    for secret in SECRETS + ("scan.dcm", "SECRET"):
        assert secret not in texts, f"{secret!r} was rendered into the export"

    saved = cv2.imread(str(out))
    assert saved.shape[0] > window.canvas.height() and saved.shape[1] == window.canvas.width()
    view = saved[: window.canvas.height()]
    assert view.std() > 10  # the radiograph is there
    colour = np.abs(view[..., 2].astype(int) - view[..., 0].astype(int))
    assert (colour > 60).mean() > 0.01  # and so is the coloured heatmap


def _tag_values(window):
    """Tag-panel items (where identifiers may be shown on screen)."""
    model = window.tags.source
    return [model.item(r, 3) for r in range(model.rowCount()) if model.item(r, 3) is not None]


def test_export_without_image_is_an_error_not_a_crash(qtbot, make_window, tmp_path: Path) -> None:
    window = make_window(None, "no model")
    assert window.export_png(tmp_path / "x.png") is None
    assert "no image" in window.errors.entries()[-1][1]


def test_folder_csv_has_the_batch_columns_and_the_shown_flags(qtbot, make_window, tiny_model, tmp_path: Path) -> None:
    folder = tmp_path / "imgs"
    for i in range(4):
        chest_png(folder / f"c{i}.png", seed=20 + i)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    window = make_window(tiny_model)
    done = []
    window.folder.analysis_done.connect(lambda: done.append(1))
    window.open_path(folder)
    qtbot.waitUntil(lambda: bool(done), timeout=WAIT_MS)
    window.findings.sensitivity.setValue(3)

    out = window.export_csv(tmp_path / "findings.csv")
    with open(out, newline="") as handle:
        rows = list(csv.reader(handle))
    labels = window.models.predictor.labels
    assert rows[0] == csv_columns(labels)
    body = {r[0]: dict(zip(rows[0], r)) for r in rows[1:]}
    assert set(body) == {"c0.png", "c1.png", "c2.png", "c3.png", "broken.png"}
    assert body["broken.png"]["status"] == "error" and body["broken.png"]["error"]
    predictor = window.models.predictor
    for name in ("c0.png", "c3.png"):
        findings = predictor.predict(folder / name)
        row = body[name]
        assert row["status"] == "ok" and row["path"] == name
        probs = np.array([float(row[f"prob_{x}"]) for x in labels])
        assert probs == pytest.approx(findings.probabilities, abs=1e-6)
        thresholds = adjusted_thresholds(predictor.card, 3 / window.findings.SENSITIVITY_STEPS)  # the slider's 3
        assert [row[f"flag_{x}"] == "1" for x in labels] == list(flags_at(findings.probabilities, thresholds))
    assert "patient_id" not in rows[0]


def test_folder_csv_export_writes_what_the_batch_writes(qtbot, make_window, tiny_model, tmp_path: Path,
                                                        monkeypatch) -> None:
    """At the card's thresholds the export and `cxr-viewer batch` are one CSV: same header,
    same rows (keys, flags, OOD cells), probabilities to the last written decimal."""
    folder = tmp_path / "imgs"
    for i in range(3):
        chest_png(folder / f"c{i}.png", seed=40 + i)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    window = make_window(tiny_model)
    done = []
    window.folder.analysis_done.connect(lambda: done.append(1))
    window.open_path(folder)
    qtbot.waitUntil(lambda: bool(done), timeout=WAIT_MS)
    out = tmp_path / "export.csv"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(out), "CSV (*.csv)")))
    window.act_export_csv.trigger()
    assert out.is_file()
    batch = tmp_path / "batch.csv"
    run_batch(folder, batch, tiny_model)

    def read(path: Path) -> tuple[list[str], dict[str, dict[str, str]]]:
        with open(path, newline="") as handle:
            rows = list(csv.reader(handle))
        return rows[0], {r[0]: dict(zip(rows[0], r)) for r in rows[1:]}

    (header, exported), (batch_header, batched) = read(out), read(batch)
    assert header == batch_header == csv_columns(window.models.predictor.labels)
    assert set(exported) == set(batched) == {"c0.png", "c1.png", "c2.png", "broken.png"}
    for name, row in exported.items():
        other = batched[name]
        probs = [c for c in header if c.startswith("prob_")]
        assert [float(row[c]) for c in probs if row[c]] == pytest.approx([float(other[c]) for c in probs if other[c]],
                                                                         abs=1.5e-6)
        same = [c for c in header if not c.startswith("prob_") and c != "error"]
        assert {c: row[c] for c in same} == {c: other[c] for c in same}, name
    assert exported["broken.png"]["status"] == "error" and exported["broken.png"]["error"]


def test_the_export_actions_ask_where_and_write_there(qtbot, make_window, tiny_model, tmp_path: Path,
                                                      monkeypatch) -> None:
    chest_png(tmp_path / "imgs" / "a.png", seed=9)
    window = make_window(tiny_model)
    done = []
    window.folder.analysis_done.connect(lambda: done.append(1))
    window.open_path(tmp_path / "imgs")
    qtbot.waitUntil(lambda: bool(done) and window.image.analysed is not None, timeout=WAIT_MS)
    asked = []

    def save_as(name: str):
        return staticmethod(lambda *a, **k: asked.append(a[1]) or (str(tmp_path / name), ""))

    monkeypatch.setattr(QFileDialog, "getSaveFileName", save_as("view.png"))
    window.act_export_png.trigger()
    monkeypatch.setattr(QFileDialog, "getSaveFileName", save_as("findings.csv"))
    window.act_export_csv.trigger()
    assert asked == ["Export View as PNG", "Export Folder Findings"]
    assert (tmp_path / "view.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "findings.csv").read_text().startswith("Image Index,path,status,error,notes,prob_")
    assert not window.errors.entries()
