"""Hostile text in the window: names and values from the user's files are shown as the
characters they are, never as HTML, and no rich-text view loads a resource from disk.

A folder is built whose own name, subfolder names and file names (good and broken files), DICOM
text values, NIH ``Data_Entry`` labels (from a CSV in a parent folder) and model card strings
all hold a sentinel of markup, ``<b>zqx</b>`` (``<b>zqx`` in names, which cannot hold a "/"),
and an image tag, ``<img src=zqimg.png>``, that points at a real PNG next to the folder
(relative to the working directory, where Qt resolves it). The folder is opened through
File > Open Folder, every image is clicked, a finding is clicked, the help box is opened, and
after each step every string of every widget is rendered as Qt renders it (``rendered.py``):
the sentinel must read literally wherever its word appears, no image may be embedded, and it
must show up in the places the user sees it (so the test cannot pass with the text missing).
A second test gives a DICOM file values of 5,000 characters: the rows show them elided,
their tooltips in full.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from PySide6.QtCore import QByteArray, Qt, QUrl
from PySide6.QtGui import QImage, QPixmap, QTextDocument
from PySide6.QtWidgets import QApplication, QTextEdit

from tests.factories import NIH_LABELS, make_model_pair
from tests.reliability.gui import Awaited
from tests.reliability.rendered import Shown, shown_texts
from tests.ui.conftest import WAIT_MS
from tests.ui.images import chest_dicom, chest_png
from viewer.core.scan import ScannedImage
from viewer.ui import main_window
from viewer.ui.main_window import MainWindow
from viewer.ui.model_session import ModelState

pytestmark = pytest.mark.timeout(300)

SENTINEL = "<b>zqx</b>"
IMAGE_TAG = "<img src=zqimg.png>"  # zqimg.png is a real PNG beside the opened folder
HOSTILE = f"{SENTINEL} {IMAGE_TAG}"  # in values
NAME = f"<b>zqx {IMAGE_TAG}"  # in file and folder names, which cannot hold the "/" of "</b>"
OPEN_TAG, WORD, IMAGE_WORD = "<b>", "zqx", "zqimg"
HOSTILE_LABEL = f"{SENTINEL} Hernia"  # one of the model's labels
ELLIPSIS = "\N{HORIZONTAL ELLIPSIS}"
OBJECT_REPLACEMENT = "\N{OBJECT REPLACEMENT CHARACTER}"  # what an embedded image renders as


# -- the hostile folder and model ----------------------------------------------------------------
def hostile_folder(parent: Path) -> Path:
    """``parent/<hostile> study/`` with hostile names and values everywhere; returns the folder.
    ``parent`` also holds ``zqimg.png`` (another patient's X-ray, the image tag's target) and the
    NIH ``Data_Entry_2017.csv`` for the folder's NIH-named image."""
    chest_png(parent / "zqimg.png", seed=99)
    (parent / "Data_Entry_2017.csv").write_text(
        "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position\n"
        f"00000001_000.png,Effusion|{HOSTILE},0,1,58,M,{HOSTILE}\n")
    root = parent / f"{NAME} study"
    sub = root / f"{NAME} sub"
    chest_png(sub / f"{NAME} chest.png", seed=1)
    good = (parent / "zqimg.png").read_bytes()
    (sub / f"{NAME} broken.png").write_bytes(good[: len(good) * 2 // 3])  # cut inside the pixels
    (root / f"{NAME} empty.dcm").write_bytes(b"")
    chest_png(root / "00000001_000.png", seed=3)
    # The patient's name and ID hold markup too, but not the sentinel's word: identities are
    # removed from the paths in the title and the errors panel, where the sentinel must read.
    chest_dicom(root / f"{NAME}.dcm", seed=4, window=(2048, 4096), patient_name="<b>zqp</b>^Doe",
                patient_id=f"<b>zqp</b>-77 {IMAGE_TAG}")
    _set_dicom_values(root / f"{NAME}.dcm", StudyDescription=HOSTILE, SeriesDescription=HOSTILE,
                      VOILUTFunction=HOSTILE, WindowCenterWidthExplanation=HOSTILE, ViewPosition=HOSTILE,
                      InstitutionName=HOSTILE)
    return root


def _set_dicom_values(path: Path, **values: str) -> None:
    import pydicom

    ds = pydicom.dcmread(path)
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    ds.save_as(path)


def hostile_model(folder: Path) -> Path:
    """A model pair whose card has the sentinel in a label and in every free-form string."""
    labels = (*NIH_LABELS[:-1], HOSTILE_LABEL)
    auroc = {label: {"value": 0.8, "ci95": [0.7, 0.9], "n_pos": HOSTILE} for label in labels}
    training = {"data": HOSTILE, "epochs": HOSTILE, "seed": HOSTILE, "trainer_version": HOSTILE,
                "git_commit": HOSTILE, "date": HOSTILE, "chosen_weights": HOSTILE, "tried": [HOSTILE]}
    metrics = {"auroc": auroc, "mean_auroc": 0.8, "n_images": 10,
               "split": {"unit": HOSTILE, "sizes": {HOSTILE: HOSTILE}}}
    overrides = {"name": HOSTILE, "arch": HOSTILE, "metrics": metrics, "training": training,
                 "thresholds": {"rule": HOSTILE, "values": {label: 0.5 for label in labels}},
                 "calibration": {"method": HOSTILE}, "intended_use": HOSTILE}
    return make_model_pair(folder, labels=labels, card_overrides=overrides)


# -- driving the window --------------------------------------------------------------------------
def open_folder_from_menu(window: MainWindow, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """File > Open Folder, the dialog answering ``root``; waits for the scan and the analysis."""
    monkeypatch.setattr(main_window, "QFileDialog", SimpleNamespace(getExistingDirectory=lambda *_: str(root)))
    awaited = Awaited(window.folder.scan_done, window.folder.analysis_done)
    window.act_open_folder.trigger()
    awaited.wait()


def click_image(qtbot, window: MainWindow, image: ScannedImage) -> bool:
    """Click ``image``'s row in the browser; wait until it is shown (and analysed) or refused.
    True when it was shown."""
    tree = window.browser.tree
    item = window.browser.model.item_for(image.path)
    assert item is not None
    index = window.browser.proxy.mapFromSource(item.index())
    tree.scrollTo(index)

    def about_it(_index: int, args: tuple[object, ...]) -> bool:
        first = args[0]
        return getattr(first, "path", None) == image.path or first == str(image.path)

    awaited = Awaited(window.image.image_shown, window.image.image_failed, any_of=True, accept=about_it)
    qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=tree.visualRect(index).center())
    shown = awaited.wait()[0][0] == 0
    if shown and window.models.state is ModelState.READY:
        qtbot.waitUntil(lambda: window.image.analysed is not None and window.image.analysed.path == image.path,
                        timeout=WAIT_MS)
    return shown


def click_finding(qtbot, window: MainWindow, label: str) -> None:
    qtbot.mouseClick(window.findings.list.viewport(), Qt.MouseButton.LeftButton,
                     pos=window.findings.row_rect(label).center())
    assert window.image.selected_label == label


def help_box_texts(window: MainWindow) -> list[Shown]:
    """Open Help > Keyboard and Mouse and walk the window with the help open; close it."""
    action = next(a for a in window.actions() if a.text() == "&Keyboard and Mouse")
    action.trigger()
    shown = [w for w in QApplication.topLevelWidgets() if w.objectName() == "keyboardMouseHelp" and w.isVisible()]
    assert shown, "the help did not open"
    walked = shown_texts()
    assert any(s.widget is shown[0] or shown[0].isAncestorOf(s.widget) for s in walked if s.raw), \
        "the help's texts were not walked"
    shown[0].close()
    return walked


# -- what the user reads -------------------------------------------------------------------------
def misrendered(shown: Shown) -> list[str]:
    """What is wrong with one rendered string: the sentinel's word without its literal tag,
    the image tag's target without its literal tag, an embedded object."""
    text = shown.rendered.lower()
    problems = []
    if text.count(WORD) != text.count(OPEN_TAG + WORD):
        problems.append(f"markup rendered: {shown.rendered[:160]!r}")
    if IMAGE_WORD in text.replace(IMAGE_TAG, ""):
        problems.append(f"image tag rendered: {shown.rendered[:160]!r}")
    if OBJECT_REPLACEMENT in shown.rendered and IMAGE_WORD in shown.raw.lower():
        problems.append("an image is embedded")
    return problems


def resolved_images(widgets: list[QTextEdit], picture: Path, urls: list[QUrl]) -> list[str]:
    """Rich-text views whose document, asked for the image ``picture`` by ``urls``, answers with
    that file's content (as bytes or as an image of its size; a placeholder is not it)."""
    content, size = picture.read_bytes(), QImage(str(picture)).size()
    found = []
    for widget in widgets:
        for url in urls:
            resource = widget.document().resource(QTextDocument.ResourceType.ImageResource, url)
            if isinstance(resource, (QImage, QPixmap)):
                loaded = resource.size() == size
            else:
                loaded = isinstance(resource, (bytes, QByteArray)) and bytes(resource) == content
            if loaded:
                found.append(f"{widget.objectName() or type(widget).__name__} loaded {url.toString()}")
    return found


def test_hostile_names_and_values_are_shown_as_text(qtbot, make_window, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    parent = tmp_path / "parent"
    parent.mkdir()
    root = hostile_folder(parent)
    monkeypatch.chdir(parent)  # where Qt resolves a relative image source: zqimg.png is real here
    window = make_window(hostile_model(tmp_path / "model"))
    qtbot.waitUntil(lambda: window.models.predictor is not None, timeout=WAIT_MS)

    walked: list[Shown] = []
    open_folder_from_menu(window, root, monkeypatch)
    walked += shown_texts()
    images = window.browser.visible_images()
    assert len(images) == 4, [i.name for i in images]  # chest, broken, NIH, DICOM (the empty file: errors)
    first = window.image.path
    shown = {}
    for image in sorted(images, key=lambda i: i.path == first):  # a click on the open image does nothing
        shown[image.name] = click_image(qtbot, window, image)
        walked += shown_texts()
        if shown[image.name]:
            click_finding(qtbot, window, HOSTILE_LABEL)
            walked += shown_texts()
    assert shown == {f"{NAME} chest.png": True, f"{NAME} broken.png": False, "00000001_000.png": True,
                     f"{NAME}.dcm": True}, shown
    walked += help_box_texts(window)

    failures = []
    wrong = {f"{s.where}: {p}" for s in walked for p in misrendered(s)}
    if wrong:
        failures.append("rendered as markup:\n" + "\n".join(sorted(wrong)))
    places = {
        "window title": lambda s: s.widget is window and s.where.endswith(".windowTitle"),
        "browser": lambda s: s.widget is window.browser.tree,
        "errors panel": lambda s: s.widget is window.errors.table,
        "tags panel, header": lambda s: s.widget is window.tags.tree,
        "tags panel, load error": lambda s: s.widget is window.tags.note,
        "NIH dataset labels": lambda s: s.widget is window.findings.dataset_label,
        "loader notes": lambda s: s.widget is window.findings.notes,
        "findings list": lambda s: s.widget is window.findings.list,
        "finding details": lambda s: s.widget is window.findings.details,
        "model panel": lambda s: s.widget is window.model_panel.text,
        "window presets": lambda s: s.widget is window.presets,
    }
    literal = [s for s in walked if OPEN_TAG + WORD in s.rendered.lower()]
    missing = [name for name, where in places.items() if not any(where(s) for s in literal)]
    if missing:
        failures.append(f"the sentinel does not read literally in: {', '.join(missing)}")
    if not any(IMAGE_TAG in s.rendered.lower() for s in literal if s.widget is window.model_panel.text):
        failures.append("the model panel does not show the card's image tag as text")
    views = [w for w in QApplication.allWidgets() if isinstance(w, QTextEdit)]
    assert window.model_panel.text in views
    picture = parent / "zqimg.png"
    resolved = resolved_images(views, picture, [QUrl("zqimg.png"), QUrl.fromLocalFile(str(picture))])
    if resolved:
        failures.append("rich-text views load images from disk:\n" + "\n".join(resolved))
    assert not failures, "\n\n".join(failures)


def test_a_5000_character_value_is_elided_and_its_full_text_reachable(qtbot, make_window, tmp_path: Path,
                                                                     tiny_model: Path) -> None:
    study = "Study " + " ".join(f"{i:05d}" for i in range(833))  # 5,003 characters, no two alike
    name = "Given" + "n" * 4995
    root = tmp_path / "long values"
    chest_dicom(root / "long.dcm", seed=5, patient_name=f"Family^{name}")
    _set_dicom_values(root / "long.dcm", StudyDescription=study, SeriesDescription=study)
    window = make_window(tiny_model)
    qtbot.waitUntil(lambda: window.models.predictor is not None, timeout=WAIT_MS)
    awaited = Awaited(window.folder.scan_done, window.folder.analysis_done)
    window.open_path(root)
    awaited.wait()
    qtbot.waitUntil(lambda: window.image.analysed is not None, timeout=WAIT_MS)
    assert len(study) > 5000 and len(name) == 5000
    window.act_show_identity.trigger()  # the long name is the patient's: shown only when asked

    for view, value in ((window.browser.tree, study), (window.browser.tree, name), (window.tags.tree, study)):
        texts = shown_texts([view])
        rows = [s for s in texts if ".row[" in s.where and not s.where.endswith(".toolTip")]
        longest = max(rows, key=lambda s: len(s.rendered))
        short_enough = len(longest.rendered) <= 250
        assert short_enough, f"{longest.where} shows {len(longest.rendered)} characters"
        prefix = value[:20]
        elided = [s for s in rows if prefix in s.rendered]
        assert elided and all(ELLIPSIS in s.rendered for s in elided), [s.rendered[:60] for s in elided]
        tips = [s for s in texts if s.where.endswith(".toolTip")]
        reachable = any(value in _unwrapped(s.rendered) for s in tips)
        assert reachable, f"{value[:20]}... is in no tooltip of {view.objectName()}"


def _unwrapped(text: str) -> str:
    """Rendered rich text with its line and paragraph separators back to plain newlines."""
    return re.sub("[\u2028\u2029]", "\n", text)
