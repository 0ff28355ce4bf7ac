"""viewer.core.resources: one resolver for the source tree, an installed wheel and a bundle."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from viewer.core import resources
from viewer.core.resources import MissingResourceError, demo_model_path, resource_path, resource_roots

REPO = Path(__file__).resolve().parents[2]


def make_root(base: Path, *files: str) -> Path:
    """A fake resources/ folder under ``base`` holding ``files``."""
    root = base / "resources"
    for name in files:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(name.encode())
    root.mkdir(parents=True, exist_ok=True)
    return root


def test_the_source_tree_resources_folder_is_searched() -> None:
    assert REPO / "resources" in resource_roots()


def test_a_pyinstaller_bundle_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_root(tmp_path, "models/demo.onnx", "icons/app.png")
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert resource_roots()[0] == tmp_path / "resources"
    assert demo_model_path() == tmp_path / "resources" / "models" / "demo.onnx"
    assert resource_path("icons", "app.png").read_bytes() == b"icons/app.png"


def test_wheel_package_data_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site_viewer = tmp_path / "site-packages" / "viewer"
    make_root(site_viewer, "only-in-wheel.txt")
    real_files = resources.importlib_resources.files
    monkeypatch.setattr(
        resources.importlib_resources, "files",
        lambda package: site_viewer if package == "viewer" else real_files(package),
    )
    assert resource_path("only-in-wheel.txt") == site_viewer / "resources" / "only-in-wheel.txt"


def test_a_missing_resource_names_where_it_looked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_root(tmp_path)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    with pytest.raises(MissingResourceError) as info:
        resource_path("models", "no-such-model.onnx")
    assert isinstance(info.value, FileNotFoundError)
    assert "models/no-such-model.onnx" in str(info.value) and str(tmp_path / "resources") in str(info.value)


def test_a_missing_demo_model_says_how_to_get_one(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(resources, "resource_roots", lambda: [make_root(tmp_path)])
    with pytest.raises(MissingResourceError, match="demo model is missing.*cxr-train.*--model"):
        demo_model_path()


def test_no_parts_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        resource_path()


def test_the_bundle_spec_ships_resources_where_the_resolver_looks() -> None:
    spec = REPO / "viewer.spec"
    if not spec.is_file():
        pytest.skip("viewer.spec is not in this checkout")
    text = spec.read_text()
    # the bundle's resources/ must mirror the source tree's, as resource_path() expects
    assert '"resources/models"' in text or '(str(ROOT / "resources"), "resources")' in text
