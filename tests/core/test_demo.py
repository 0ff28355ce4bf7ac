"""viewer.core.demo: the demo study assembled from pydicom-data into the user's cache."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest

from viewer.core import demo
from viewer.core.demo import DemoUnavailableError, demo_source_files, demo_study_dir, user_cache_dir
from viewer.core.patient_tree import group_images
from viewer.core.scan import ScannedImage, scan_folder

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_cache_follows_xdg_cache_home(cache: Path) -> None:
    if os.name != "posix" or os.uname().sysname == "Darwin":
        pytest.skip("XDG applies to Linux")
    assert user_cache_dir() == cache / "cxr-viewer"


def test_demo_study_is_one_patient_study_and_series_of_two_real_chest_images(cache: Path) -> None:
    folder = demo_study_dir()
    assert folder == cache / "cxr-viewer" / "demo-study"
    assert REPO not in folder.resolve().parents
    items = list(scan_folder(folder))
    assert [i.display_path for i in items] == [
        "PATIENT1/STUDY1/SERIES1/IM000001.dcm", "PATIENT1/STUDY1/SERIES1/IM000002.dcm",
    ]
    assert all(isinstance(i, ScannedImage) for i in items)
    (patient,) = group_images(items)
    (study,) = patient.studies
    (series,) = study.series
    assert [(i.modality, i.view_position, i.rows, i.columns) for i in series.images] == [("CR", "PA", 1955, 1841)] * 2


def test_sources_come_from_the_installed_package_and_sizes_match(cache: Path) -> None:
    sources = demo_source_files()
    assert [p.name for p in sources] == ["RG1_UNCR.dcm", "RG1_J2KR.dcm"]
    assert all("data_store" in p.parts for p in sources)
    folder = demo_study_dir()
    copies = sorted(folder.rglob("*.dcm"))
    assert [c.stat().st_size for c in copies] == [s.stat().st_size for s in sources]


def test_second_call_reuses_the_files_and_a_damaged_copy_is_replaced(cache: Path) -> None:
    folder = demo_study_dir()
    first, second = sorted(folder.rglob("*.dcm"))
    inode = second.stat().st_ino
    first.unlink()
    first.write_bytes(b"truncated")  # a damaged cache (new inode: never write through the link)
    assert demo_study_dir() == folder
    assert first.stat().st_size == demo_source_files()[0].stat().st_size
    assert second.stat().st_ino == inode
    assert not [p for p in folder.rglob(".partial-*")]


def test_both_demo_images_decode_to_the_same_pixels(cache: Path) -> None:
    from viewer.core.loader import load_radiograph

    first, second = sorted(demo_study_dir().rglob("*.dcm"))
    uncompressed, jpeg2000 = load_radiograph(first), load_radiograph(second)
    assert uncompressed.photometric == "MONOCHROME1"
    np.testing.assert_array_equal(uncompressed.pixels, jpeg2000.pixels)


def test_missing_pydicom_data_is_a_clear_error(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(demo.importlib.util, "find_spec", lambda name: None if name == "data_store" else real(name))
    with pytest.raises(DemoUnavailableError, match="pip install pydicom-data"):
        demo_study_dir()


def test_an_unwritable_cache_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    with pytest.raises(DemoUnavailableError, match="XDG_CACHE_HOME"):
        demo_study_dir(blocker)


def test_pydicom_lookup_helpers_are_never_used(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """pydicom's test-file helpers may download; the demo must not go near them."""
    import pydicom.data
    import pydicom.data.data_manager as manager

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a pydicom data look-up (which may reach the network) was made")

    for module in (pydicom.data, manager):
        for name in ("get_testdata_file", "get_testdata_files", "fetch_data_files"):
            if hasattr(module, name):
                monkeypatch.setattr(module, name, refuse)
    assert len(list(demo_study_dir().rglob("*.dcm"))) == 2
