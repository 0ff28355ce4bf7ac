"""Broken models seen from the user's side (the core's refusals are tests/core/test_model_contract.py).

For each kind of broken model: the main window opens, says what is wrong with the model in the
model panel, the status bar and the findings panel, and still works as a plain viewer (an image
opens and is shown, the folder's thumbnails arrive); ``cxr-viewer batch`` stops before it starts
with one clear line on stderr, a non-zero exit status and no CSV.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from PySide6.QtCore import Qt

from tests.factories import NIH_LABELS, card_dict, make_model_pair
from tests.reliability.corpus import Snapshot, chest_pixels, dicom_dataset, encode, save, write
from tests.ui.conftest import WAIT_MS
from viewer.core.model import sidecar_path_for
from viewer.core.model_card import CARD_METADATA_KEY, ModelCard
from viewer.core.onnx_card import read_card, write_card

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(300)

# kind -> what the message must say (besides the file's name)
KINDS = {
    "missing classifier": ("gone.onnx", "model file not found"),
    "missing sidecar": ("tiny.gradcam.onnx", "model file not found"),
    "truncated classifier": ("tiny.onnx", "not a readable ONNX model"),
    "truncated sidecar": ("tiny.gradcam.onnx", "not a readable ONNX model"),
    "random bytes": ("tiny.onnx", "not a readable ONNX model"),
    "wrong input shape": ("tiny.onnx", "input 'image' has shape"),
    "wrong output shape": ("tiny.onnx", "output 'probabilities' has shape"),
    "sidecar of another model": ("tiny.gradcam.onnx", "belongs to another model"),
    "card with missing fields": ("tiny.onnx", "invalid: missing field 'labels'"),
    "no card": ("tiny.onnx", "has no model card"),
}


def broken_model(kind: str, folder: Path) -> Path:
    """A real model pair on disk, broken in the way ``kind`` says; returns the classifier path."""
    if kind == "missing classifier":
        return folder / "gone.onnx"
    if kind == "wrong input shape":  # a valid graph taking 128 x 128; its card says 64 x 64
        path = make_model_pair(folder, size=128)
        card = ModelCard.from_dict(card_dict(read_card(path).model_id, size=64))
        for file in (path, sidecar_path_for(path)):
            write_card(file, card)
        return path
    if kind == "wrong output shape":  # a valid graph with 13 outputs; its card lists 14 labels
        path = make_model_pair(folder, labels=NIH_LABELS[:13])
        card = ModelCard.from_dict(card_dict(read_card(path).model_id))
        for file in (path, sidecar_path_for(path)):
            write_card(file, card)
        return path
    if kind == "sidecar of another model":
        return make_model_pair(folder, sidecar_model_id=hashlib.sha256(b"another export").hexdigest())
    path = make_model_pair(folder)
    sidecar = sidecar_path_for(path)
    if kind == "missing sidecar":
        sidecar.unlink()
    elif kind == "truncated classifier":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif kind == "truncated sidecar":
        sidecar.write_bytes(sidecar.read_bytes()[: sidecar.stat().st_size // 3])
    elif kind == "random bytes":
        path.write_bytes(np.random.default_rng(3).bytes(path.stat().st_size))
    elif kind in ("card with missing fields", "no card"):
        model = onnx.load(str(path))
        if kind == "no card":
            del model.metadata_props[:]
        for prop in model.metadata_props:
            if prop.key == CARD_METADATA_KEY:
                card = json.loads(prop.value)
                del card["labels"], card["thresholds"]
                prop.value = json.dumps(card)
        onnx.save(model, str(path))
    return path


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("images") / "study"
    save(dicom_dataset(chest_pixels(128, 112)), folder / "chest.dcm")
    write(folder, "chest.png", encode(".png", (chest_pixels(120, 100, seed=4) >> 4).astype(np.uint8)))
    return folder


@pytest.mark.parametrize("kind", KINDS)
def test_the_window_says_what_is_wrong_and_is_a_plain_viewer(kind: str, qtbot, make_window, tmp_path: Path,
                                                              images: Path) -> None:
    model = broken_model(kind, tmp_path / "model")
    window = make_window(model)
    messages: list[str] = []
    window.statusBar().messageChanged.connect(messages.append)
    qtbot.waitUntil(lambda: window.models.decided, timeout=WAIT_MS)
    assert window.models.predictor is None
    reason = window.models.reason
    assert all(fragment in reason for fragment in KINDS[kind]), reason
    assert reason in window.model_panel.text.toPlainText()
    assert any(m.startswith("No model: ") and KINDS[kind][1] in m for m in messages), messages

    window.open_path(images)
    qtbot.waitUntil(lambda: window.canvas.radiograph is not None, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: len(window.folder.rows) == 2, timeout=WAIT_MS)
    assert all(row.findings is None for row in window.folder.rows.values())
    assert all(window.browser.model.item_for(path).data(Qt.ItemDataRole.DecorationRole) is not None
               for path in window.folder.rows), "every image's thumbnail is in the browser"
    assert "plain viewer" in window.findings.message.text() and KINDS[kind][1] in window.findings.message.text()
    assert window.errors.count() == 0  # a model problem is not an image problem
    # a second image opens too: the viewer works, without findings
    window.image.open(images / "chest.png")
    qtbot.waitUntil(lambda: window.canvas.radiograph is not None
                    and window.canvas.radiograph.path == images / "chest.png", timeout=WAIT_MS)
    assert window.image.analysed is None


def run_cli(*args: str | os.PathLike[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(PYTHONPATH=str(REPO), QT_QPA_PLATFORM="offscreen")
    return subprocess.run([sys.executable, "-m", "viewer", *map(os.fspath, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("kind", KINDS)
def test_batch_stops_with_one_clear_line(kind: str, tmp_path: Path, images: Path) -> None:
    model = broken_model(kind, tmp_path / "model")
    before = Snapshot.of(images)
    out = tmp_path / "results.csv"
    result = run_cli("batch", images, "--model", model, "--out", out, cwd=tmp_path)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("cxr-viewer: error: batch: unusable model: ")
    assert all(fragment in lines[0] for fragment in KINDS[kind]), lines[0]
    assert not out.exists() and not out.with_name(out.name + ".partial").exists()
    assert Snapshot.of(images).difference(before) == []


def test_the_gui_screenshot_with_a_broken_model_shows_the_image_and_says_why(tmp_path: Path, images: Path) -> None:
    model = broken_model("sidecar of another model", tmp_path / "model")
    shot = tmp_path / "shot.png"
    result = run_cli(images / "chest.dcm", "--model", model, "--screenshot", shot, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Image: " in result.stdout and "chest.dcm" in result.stdout
    assert "No findings:" in result.stdout and "belongs to another model" in result.stdout
    assert shot.is_file() and "Traceback" not in result.stderr
