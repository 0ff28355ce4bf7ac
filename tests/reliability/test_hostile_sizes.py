"""A file's cost follows the image its header declares, not its size on disk.

Each hostile file (a 2 GB sparse DICOM, a 2 GB sparse PNG with a valid header, undefined-length
pixel data followed by 2 GB, deflate bombs, a 1 GB one-line label CSV) is read by the scan, the
loader or the label readers in a child process that counts the bytes it reads and its peak
memory growth. Bounds are far below the files' sizes and far above what a real radiograph
costs, so the tests say which way the cost grows, never how fast a machine is.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.reliability.corpus import chest_pixels, dicom_dataset, encode, save
from tests.reliability.hostile_sizes import (
    GB,
    MB,
    cost,
    deflate_bomb,
    huge_csv_line,
    sparse_dicom,
    sparse_png,
    undefined_length_pixels,
)

pytestmark = pytest.mark.timeout(300)
MAX_READ = 64 * MB  # what reading one hostile file may cost, whatever its size on disk
MAX_MEMORY = 300 * MB


@pytest.fixture(scope="module")
def warm(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Good files of each kind, read first in each child so imports are not counted."""
    root = tmp_path_factory.mktemp("warm")
    save(dicom_dataset(chest_pixels(64, 56)), root / "images" / "good.dcm")
    (root / "images" / "00000001_000.png").write_bytes(encode(".png", (chest_pixels(64, 56) >> 4).astype(np.uint8)))
    deflate_bomb(root / "deflated.dcm", inflated=MB)
    undefined_length_pixels(root / "jpeg.dcm", encapsulated=True, size=0)
    (root / "BBox_List_2017.csv").write_text("Image Index,Finding Label,Bbox [x,y,w,h],,,\n"
                                             "00000001_000.png,Mass,10,20,30,40\n")
    return {"dicom": root / "images" / "good.dcm", "png": root / "images" / "00000001_000.png",
            "folder": root / "images", "deflated": root / "deflated.dcm", "jpeg": root / "jpeg.dcm",
            "boxes": root / "BBox_List_2017.csv"}


def check(measured: dict[str, object], what: str) -> str:
    assert isinstance(measured["read"], int) and isinstance(measured["memory"], int)
    assert measured["read"] < MAX_READ, f"{what}: read {measured['read'] / MB:.0f} MB ({measured['result']})"
    assert measured["memory"] < MAX_MEMORY, f"{what}: memory grew {measured['memory'] / MB:.0f} MB"
    return str(measured["result"])


def test_a_2gb_sparse_dicom_costs_its_header_not_its_size(tmp_path: Path, warm: dict[str, Path]) -> None:
    (tmp_path / "folder").mkdir()
    sparse_dicom(tmp_path / "folder" / "sparse.dcm")
    assert "refused" in check(cost("load", tmp_path / "folder" / "sparse.dcm", warm["dicom"]), "load")
    listed = check(cost("scan", tmp_path / "folder", warm["folder"]), "scan")
    assert listed.startswith("SkippedFile"), listed


def test_a_2gb_png_with_a_valid_header_is_judged_by_its_declared_size(tmp_path: Path, warm: dict[str, Path]) -> None:
    sparse_png(tmp_path / "sparse.png")
    result = check(cost("load", tmp_path / "sparse.png", warm["png"]), "load")
    assert "refused" in result and "sparse.png" in result, result


@pytest.mark.parametrize("encapsulated", [False, True], ids=["native", "jpeg"])
def test_undefined_length_pixel_data_followed_by_2gb(tmp_path: Path, warm: dict[str, Path], encapsulated: bool) -> None:
    path = undefined_length_pixels(tmp_path / "undefined.dcm", encapsulated=encapsulated)
    result = check(cost("load", path, warm["jpeg" if encapsulated else "dicom"]), "load")
    if not encapsulated:  # native data cannot have an undefined length: never a garbage image
        assert result.startswith("refused") and "undefined length" in result, result


@pytest.mark.parametrize("long_meta", [False, True], ids=["meta-at-start", "syntax-after-4kB"])
def test_a_deflate_bomb_is_refused_by_the_scan_and_the_loader(
    tmp_path: Path, warm: dict[str, Path], long_meta: bool,
) -> None:
    (tmp_path / "folder").mkdir()
    path = deflate_bomb(tmp_path / "folder" / "bomb.dcm", 600 * MB, long_meta=long_meta)
    assert path.stat().st_size < 2 * MB
    result = check(cost("load", path, warm["deflated"]), "load")
    assert result.startswith("refused") and "inflates to more than" in result, result
    listed = check(cost("scan", tmp_path / "folder", warm["folder"]), "scan")
    assert listed.startswith("SkippedFile") and "inflates to more than" in listed, listed


def test_a_1gb_one_line_data_entry_csv_is_refused_by_its_size(tmp_path: Path, warm: dict[str, Path]) -> None:
    folder = tmp_path / "nih" / "images"
    folder.mkdir(parents=True)
    (folder / "00000001_000.png").write_bytes(warm["png"].read_bytes())
    huge_csv_line(tmp_path / "nih" / "Data_Entry_2017.csv", "Image Index,Finding Labels,Follow-up #,Patient ID")
    listed = check(cost("scan", folder, warm["folder"]), "scan")
    assert "ScannedImage" in listed and "DataFileProblem" in listed, listed


def test_a_1gb_one_line_box_list_is_refused_by_its_size(tmp_path: Path, warm: dict[str, Path]) -> None:
    path = huge_csv_line(tmp_path / "BBox_List_2017.csv", "Image Index,Finding Label,Bbox [x,y,w,h],,,")
    result = check(cost("boxes", path, warm["boxes"]), "boxes")
    assert result.startswith("refused"), result


def test_the_sparse_files_really_are_that_large(tmp_path: Path) -> None:
    assert sparse_png(tmp_path / "a.png").stat().st_size == 2 * GB
    assert sparse_dicom(tmp_path / "a.dcm").stat().st_size == 2 * GB
