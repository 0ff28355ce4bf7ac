"""The helpers every widget uses for outside text (``plain_text.py``) and the rich-text views that
load nothing (``rich_text.py``), checked against what Qt itself renders."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QUrl
from PySide6.QtGui import QImage, QTextDocument
from PySide6.QtWidgets import QVBoxLayout, QWidget

from tests.reliability.rendered import render_auto, render_label
from tests.ui.images import chest_png
from viewer.ui.plain_text import ELIDE_AT, ELLIPSIS, TOOLTIP_LIMIT, PlainLabel, elide, escape, menu_text, tooltip
from viewer.ui.rich_text import InertDocument, RichTextBrowser, RichTextLabel

MARKUP = "<b>x</b> & <img src=other.png>\n  second line"


def test_elide_keeps_short_text_and_cuts_long_text_in_the_middle() -> None:
    assert elide("short") == "short"
    assert elide("a" * ELIDE_AT) == "a" * ELIDE_AT
    long = "start/" + "m" * 5000 + "/file.dcm"
    cut = elide(long)
    assert len(cut) == ELIDE_AT and ELLIPSIS in cut
    assert cut.startswith("start/") and cut.endswith("/file.dcm")


def test_a_tooltip_renders_the_characters_it_was_given() -> None:
    assert tooltip("") == ""
    assert render_auto(tooltip(MARKUP)) == MARKUP
    assert render_auto(tooltip("plain")) == "plain"
    huge = "v" * (TOOLTIP_LIMIT * 3)
    assert len(render_auto(tooltip(huge))) == TOOLTIP_LIMIT


def test_escape_and_menu_text() -> None:
    document = QTextDocument()
    document.setHtml(f"<b>label:</b> {escape(MARKUP)}")
    assert document.toPlainText().startswith("label: <b>x</b> & <img src=other.png>")
    assert menu_text("R&D <b>") == "R&&D <b>"


def test_a_plain_label_is_plain_and_elides_with_the_full_text_in_its_tooltip(qtbot) -> None:
    label = PlainLabel(MARKUP)
    qtbot.addWidget(label)
    assert render_label(label.text(), label.textFormat()) == MARKUP and label.toolTip() == ""
    long = "<h1>" + "y" * 3000
    label.setText(long)
    assert len(label.text()) == ELIDE_AT and label.text().startswith("<h1>yyy")
    assert render_auto(label.toolTip()) == long and label.full_text() == long
    label.setText("short again")
    assert label.toolTip() == ""


@pytest.mark.parametrize("view_class", [RichTextBrowser, RichTextLabel])
def test_rich_text_views_load_no_image_from_disk(qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 view_class: type[RichTextBrowser]) -> None:
    picture = chest_png(tmp_path / "other.png", size=64)
    monkeypatch.chdir(tmp_path)
    view = view_class()
    qtbot.addWidget(view)
    view.setHtml(f"<p>before <img src=other.png> <img src='{picture}'> after</p>"
                 f"<div style='background-image: url(other.png)'>x</div>")
    view.resize(300, 200)
    view.show()
    view.grab()  # laid out and painted: every image asked for
    assert isinstance(view.document(), InertDocument)
    for url in (QUrl("other.png"), QUrl.fromLocalFile(str(picture))):
        resource = view.document().resource(QTextDocument.ResourceType.ImageResource, url)
        assert isinstance(resource, QImage) and resource.size().width() == 1, resource


def test_a_rich_text_label_is_as_tall_as_its_text(qtbot) -> None:
    holder = QWidget()
    qtbot.addWidget(holder)
    label = RichTextLabel()
    layout = QVBoxLayout(holder)
    layout.addWidget(label)
    layout.addStretch(1)
    holder.resize(300, 400)
    holder.show()
    label.setHtml("<b>one line</b>")
    one = label.heightForWidth(300)
    label.setHtml("<b>several lines</b> " + "word " * 200)
    assert label.heightForWidth(300) > 4 * one > 0
    assert label.heightForWidth(150) > label.heightForWidth(300)
    label.clear()
    assert label.heightForWidth(300) == 0
