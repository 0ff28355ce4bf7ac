"""File names made to be spreadsheet formulas: the CSVs the viewer writes must not hand them to
a spreadsheet as formulas, and ``cxr-train evaluate`` must still read the names back as they are.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is a formula to
Excel and LibreOffice (``=HYPERLINK(...)`` opens a link, others run commands). The batch CSV and
the window's CSV export are checked with real images so named, and with a DICOM whose folder and
PatientID start with ``=`` (``--include-patient-id`` writes it).
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from PySide6.QtWidgets import QFileDialog

from tests.test_cli import run_cli
from tests.ui.conftest import WAIT_MS
from tests.ui.images import chest_dicom, chest_png
from trainer.cli import main as train_main
from trainer.evaluation.predictions import evaluate_predictions
from viewer.core.predictions_csv import read_predictions

pytestmark = pytest.mark.timeout(300)

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
TEXT_COLUMNS = ("Image Index", "path", "error", "patient_id")
# Names a spreadsheet would run, and one starting with the escape character itself.
HOSTILE = ('=HYPERLINK("evil.example","click").png', "+1.png", "-x.png", "@SUM(A1).png", "\tTAB.png",
           "\rCR.png", "'quoted.png")
PATIENT_ID = "=1+2"


@pytest.fixture
def images(tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    for i, name in enumerate(HOSTILE + ("plain.png",)):
        chest_png(folder / name, seed=70 + i)
    chest_dicom(folder / "=dicom" / "scan.dcm", seed=80, patient_id=PATIENT_ID)
    return folder


def read_cells(out: Path) -> list[dict[str, str]]:
    """The CSV's rows as written, cell by cell (nothing undone)."""
    with open(out, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def assert_no_formula_cells(rows: list[dict[str, str]]) -> None:
    """No text cell starts like a formula, and each hostile name is there with an apostrophe."""
    for row in rows:
        for column in TEXT_COLUMNS:
            assert not (row.get(column) or "").startswith(FORMULA_STARTS), (column, row.get(column))
    names = {row["Image Index"] for row in rows}
    assert names == {"'" + name for name in HOSTILE} | {"plain.png", "scan.dcm"}
    assert {row["path"] for row in rows if row["Image Index"] == "scan.dcm"} == {"'=dicom/scan.dcm"}


def test_the_batch_csv_neutralises_formula_cells_and_evaluate_reads_the_names_back(
        images: Path, tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "results.csv"
    result = run_cli("batch", images, "--model", tiny_model, "--out", out, "--include-patient-id", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = read_cells(out)
    assert_no_formula_cells(rows)
    assert [row["patient_id"] for row in rows if row["Image Index"] == "scan.dcm"] == ["'" + PATIENT_ID]

    assert sorted(read_predictions(out).names) == sorted(HOSTILE + ("plain.png", "scan.dcm"))
    # The NIH labels file lists the names a Data_Entry CSV can hold (it strips leading blanks).
    labelled = [name for name in HOSTILE if not name[0].isspace()]
    labels_csv = tmp_path / "Data_Entry_2017_v2020.csv"
    with open(labels_csv, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Image Index", "Finding Labels", "Follow-up #", "Patient ID"])
        for i, name in enumerate(labelled):
            writer.writerow([name, "Effusion" if i % 2 else "No Finding", 0, i + 1])
    report = evaluate_predictions(out, labels_csv=labels_csv, resamples=10).to_dict()
    assert report["n_images"] == len(labelled) and report["rows_not_in_labels"] == 4  # TAB, CR, plain, scan
    assert train_main(["evaluate", "--predictions", str(out), "--labels-csv", str(labels_csv),
                       "--bootstrap", "10"]) == 0
    assert f"{len(labelled)} images" in capsys.readouterr().out


def test_the_window_csv_export_neutralises_formula_cells(images: Path, tiny_model: Path, tmp_path: Path, qtbot,
                                                         make_window, monkeypatch) -> None:
    window = make_window(tiny_model)
    done: list[int] = []
    window.folder.analysis_done.connect(lambda: done.append(1))
    window.open_path(images)
    qtbot.waitUntil(lambda: bool(done), timeout=WAIT_MS)
    out = tmp_path / "findings.csv"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(out), "")))
    window.act_export_csv.trigger()
    assert_no_formula_cells(read_cells(out))
    assert sorted(read_predictions(out).names) == sorted(HOSTILE + ("plain.png", "scan.dcm"))
