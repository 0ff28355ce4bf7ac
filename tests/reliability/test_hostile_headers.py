"""Hostile header values: every attribute the scan, browser and loader read, with every value a
careless or hostile writer puts there (non-finite, huge, negative, empty, multi-valued, wrongly
encoded), written byte for byte into real DICOM files.

One value that cannot be converted must never stop the scan, the batch or the window: it is a
note where the image is still right, ignored where it only sorts, and a clear error naming the
file where the image cannot be shown.
"""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.reliability.corpus import chest_pixels, dicom_dataset, encode
from tests.reliability.hostile_dicom import dicom_bytes, hostile_cases, set_element
from viewer.core.errors import ImageLoadError, display_name
from viewer.core.loader import load_radiograph
from viewer.core.preprocess import preprocess
from viewer.core.scan import ScannedImage, SkippedFile, scan_folder

pytestmark = pytest.mark.timeout(600)
GENERIC = "unexpected"  # the loader's and the batch's last resort: not a clear message


@pytest.fixture(scope="module")
def hostile_folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, tuple[str, bytes]]]:
    """One DICOM per (attribute, hostile value), a good DICOM and a good PNG after them."""
    root = tmp_path_factory.mktemp("hostile-headers")
    seed = dicom_bytes(dicom_dataset(chest_pixels(64, 56)))
    made: dict[str, tuple[str, bytes]] = {}
    for n, (keyword, vr, value) in enumerate(hostile_cases()):
        name = f"{keyword}_{n:04d}.dcm"
        (root / name).write_bytes(set_element(seed, keyword, vr, value))
        made[name] = (keyword, value)
    (root / "zz_good.dcm").write_bytes(seed)
    (root / "zz_good.png").write_bytes(encode(".png", (chest_pixels(64, 56) >> 4).astype(np.uint8)))
    return root, made


def test_the_cases_cover_every_vr_read(hostile_folder: tuple[Path, dict[str, tuple[str, bytes]]]) -> None:
    from tests.reliability.hostile_dicom import attribute_vr

    _, made = hostile_folder
    assert {attribute_vr(keyword) for keyword, _ in made.values()} >= {"IS", "DS", "US", "CS", "DA", "TM", "PN", "UI"}
    assert len(made) > 400


def test_the_scan_lists_every_file_whatever_its_header_holds(
    hostile_folder: tuple[Path, dict[str, tuple[str, bytes]]],
) -> None:
    root, made = hostile_folder
    items = list(scan_folder(root))  # an exception here is the defect: one value stops the scan
    listed = {item.path.name: item for item in items if isinstance(item, (ScannedImage, SkippedFile))}
    assert set(listed) == set(made) | {"zz_good.dcm", "zz_good.png"}
    assert isinstance(listed["zz_good.dcm"], ScannedImage) and isinstance(listed["zz_good.png"], ScannedImage)
    # values that only sort or describe are ignored: the image is still listed as an image
    for name, (keyword, _) in made.items():
        if keyword in ("SeriesNumber", "InstanceNumber", "NumberOfFrames", "StudyDate", "PatientAge",
                       "SeriesDescription", "Modality", "ViewPosition", "PatientSex", "StudyTime",
                       "AcquisitionDate", "AcquisitionTime", "ContentDate", "ContentTime"):
            assert isinstance(listed[name], ScannedImage), (name, made[name], listed[name])


def test_the_loader_loads_each_file_or_names_it_and_its_problem(
    hostile_folder: tuple[Path, dict[str, tuple[str, bytes]]],
) -> None:
    root, made = hostile_folder
    wrong = []
    for name, (keyword, value) in sorted(made.items()):
        path = root / name
        try:
            radiograph = load_radiograph(path)
            grey = preprocess(radiograph, 32, 32)
            if not (np.isfinite(grey).all() and 0 <= grey.min() and grey.max() <= 1):
                wrong.append(f"{keyword}={value[:20]!r}: prepared image not finite in [0, 1]")
        except ImageLoadError as exc:
            if display_name(name) not in str(exc) or GENERIC in str(exc):
                wrong.append(f"{keyword}={value[:20]!r}: unclear error: {exc}")
        except Exception as exc:
            wrong.append(f"{keyword}={value[:20]!r}: {type(exc).__name__} escaped: {exc}")
    assert not wrong, "\n".join(wrong[:40]) + f"\n({len(wrong)} in all)"


@pytest.mark.parametrize("keyword", ["NumberOfFrames", "SeriesNumber", "InstanceNumber"])
@pytest.mark.parametrize("value", [b"inf", b"1e999", b"nan"])
def test_a_number_that_cannot_be_converted_is_a_note_not_a_failure(tmp_path: Path, keyword: str, value: bytes) -> None:
    path = tmp_path / "image.dcm"
    path.write_bytes(set_element(dicom_bytes(dicom_dataset(chest_pixels(64, 56))), keyword, "IS", value))
    (item,) = scan_folder(tmp_path)
    assert isinstance(item, ScannedImage)
    radiograph = load_radiograph(path)
    assert radiograph.pixels.shape == (64, 56)
    if keyword == "NumberOfFrames":  # it changes what is shown: say so
        assert any("NumberOfFrames" in note for note in radiograph.notes), radiograph.notes


def test_the_batch_writes_a_row_for_every_file(
    hostile_folder: tuple[Path, dict[str, tuple[str, bytes]]], tiny_model: Path, tmp_path: Path,
) -> None:
    root, made = hostile_folder
    out = tmp_path / "out.csv"
    done = subprocess.run([sys.executable, "-m", "viewer", "batch", str(root), "--out", str(out), "--model",
                           str(tiny_model)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    with open(out, newline="", encoding="utf-8") as handle:
        rows = {row["path"]: row for row in csv.DictReader(handle)}
    assert set(rows) == set(made) | {"zz_good.dcm", "zz_good.png"}
    assert rows["zz_good.dcm"]["status"] == rows["zz_good.png"]["status"] == "ok"
    unclear = [f"{path}: {row['error']}" for path, row in rows.items() if GENERIC in row["error"]]
    assert not unclear, "\n".join(unclear[:20])


def test_the_tags_panel_lists_every_element_around_an_unreadable_one(qtbot, tmp_path: Path) -> None:
    """An IS of inf between the image attributes: the panel lists it as unreadable and every
    element after it still (it used to stop there, dropping Rows, Columns and the rest)."""
    import pydicom

    from viewer.ui.tags_panel import TagsPanel

    path = tmp_path / "frames_inf.dcm"
    path.write_bytes(set_element(dicom_bytes(dicom_dataset(chest_pixels(64, 56))), "NumberOfFrames", "IS", b"inf"))
    header = pydicom.dcmread(path, stop_before_pixels=True)
    panel = TagsPanel()
    qtbot.addWidget(panel)
    panel.show_header(header)
    model = panel.source
    listed = {model.item(row, 0).text(): model.item(row, 3).text() for row in range(model.rowCount())}
    assert len(listed) == len(header)
    assert listed["(0028,0010)"] == "64" and listed["(0028,0011)"] == "56"  # Rows, Columns: after it
    assert "OverflowError" in listed["(0028,0008)"]
