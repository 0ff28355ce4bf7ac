"""Helpers of the browser tests: folders as users have them, a model whose findings are scripted
per file, and the user's ways of opening a folder, choosing an order and clicking a row.

The scripted model is a real model pair (the window opens it and its card sets the thresholds
and the operating point), whose ``predict`` answers from a table: a random tiny model's numbers
would not say which image should come first. Everything else (the scan, the analysis thread,
the signals, the browser) runs as it does for a user.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pydicom
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtWidgets import QComboBox

from tests.factories import NIH_LABELS, make_model_pair
from tests.ui.conftest import WAIT_MS
from tests.ui.images import chest_dicom, chest_png
from viewer.core.findings import Findings, flags_at, read_only
from viewer.ui import main_window

DATA_ENTRY_HEADER = (
    "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position,"
    "OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y]\n"
)


@dataclass(frozen=True)
class Scripted:
    """What the scripted model says about one file: some labels' probabilities (every other
    label 0.01) and whether its out-of-distribution check fails."""

    probabilities: Mapping[str, float] = field(default_factory=dict)
    ood: bool = False


def scripted_model(folder: Path, thresholds: Mapping[str, float]) -> Path:
    """A model pair whose card has these thresholds (every other label 0.9)."""
    values = {label: float(thresholds.get(label, 0.9)) for label in NIH_LABELS}
    return make_model_pair(folder, card_overrides={"thresholds": {"rule": "test", "values": values}})


def script_findings(qtbot, window, table: Mapping[str, Scripted], gate: threading.Event | None = None) -> None:
    """Once the window's model is open, make it answer from ``table`` (by file name). With a
    ``gate``, every answer waits until the gate is set: results arrive when the test says."""
    qtbot.waitUntil(lambda: window.models.predictor is not None, timeout=WAIT_MS)
    predictor = window.models.predictor
    labels = tuple(predictor.card.labels)
    thresholds = read_only(np.array([predictor.card.threshold_values()[x] for x in labels], np.float32))

    def predict(source, key=None, **_options) -> Findings:
        if gate is not None:
            gate.wait(WAIT_MS / 1000)
        name = Path(getattr(source, "path", source)).name
        row = table.get(name, Scripted())
        p = np.full(len(labels), 0.01, np.float32)
        for label, value in row.probabilities.items():
            p[labels.index(label)] = value
        return Findings(labels, read_only(p), thresholds, read_only(flags_at(p, thresholds)),
                        read_only(np.zeros((len(labels), 2, 2), np.float32)),
                        ood_score=9.0 if row.ood else 0.5, ood_flag=row.ood)

    predictor.predict = predict


def nih_pngs(folder: Path, count: int, labels: Mapping[int, str] | None = None) -> list[Path]:
    """``count`` chest PNGs named as the NIH download names them (patient 1, 2, ... each at
    follow-up 0), with a Data_Entry file giving image ``i`` the labels ``labels[i]``."""
    paths = [chest_png(folder / f"{i + 1:08d}_000.png", seed=i, size=96) for i in range(count)]
    if labels is not None:
        rows = [f"{paths[i].name},{text},0,{i + 1},50,M,PA,2500,2500,0.14,0.14\n" for i, text in labels.items()]
        (folder / "Data_Entry_2017_v2020.csv").write_text(DATA_ENTRY_HEADER + "".join(rows), encoding="utf-8")
    return paths


def dicom_instance(path: Path, *, patient: str, study_uid: str, series_uid: str, series: int,
                   description: str, instance: int, view: str, acquired: tuple[str, str] | None,
                   seed: int = 0) -> Path:
    """One DICOM image of a PACS export: its series, instance number, view and acquisition time."""
    chest_dicom(path, seed=seed, size=64, patient_name=f"{patient}^TEST", patient_id=f"ID-{patient}",
                study_uid=study_uid)
    ds = pydicom.dcmread(path)
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = series
    ds.SeriesDescription = description
    ds.InstanceNumber = instance
    ds.ViewPosition = view
    ds.Modality = "CR"
    if acquired is not None:
        ds.AcquisitionDate, ds.AcquisitionTime = acquired
    ds.save_as(path, enforce_file_format=True)
    return path


def open_folder_from_menu(qtbot, window, folder: Path, monkeypatch) -> None:
    """File > Open Folder, the dialog answering ``folder``; waits until the scan is done."""
    monkeypatch.setattr(main_window, "QFileDialog", SimpleNamespace(getExistingDirectory=lambda *_: str(folder)))
    with qtbot.waitSignal(window.folder.scan_done, timeout=WAIT_MS):
        window.act_open_folder.trigger()


def choose_triage_order(qtbot, browser) -> None:
    """Pick the triage order, the sort box's last entry, with the keyboard as a user does."""
    box = browser.findChild(QComboBox, "browserSort")
    box.setFocus()
    qtbot.keyClick(box, Qt.Key.Key_End)
    assert box.currentIndex() == box.count() - 1 and box.currentText() != "Folder order"


def proxy_index(browser, path: Path) -> QModelIndex:
    """The browser row of the image at ``path`` (invalid when it is not shown)."""
    item = browser.model.item_for(path)
    return browser.proxy.mapFromSource(item.index()) if item is not None else QModelIndex()


def click_row(qtbot, browser, index: QModelIndex) -> None:
    """Click the middle of a browser row, where a user clicks it."""
    tree = browser.tree
    tree.scrollTo(index)
    qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=tree.visualRect(index).center())


def shown_names(browser) -> list[str]:
    return [image.name for image in browser.visible_images()]
