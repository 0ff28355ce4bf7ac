"""What the browser's filter matches, what a row says it matched, and what the browser says
about the rows it hides."""

from __future__ import annotations

from pathlib import Path

from viewer.core.radiograph import SourceFormat
from viewer.core.scan import ScannedImage
from viewer.viewmodel.browser_filter import (
    Field,
    Query,
    RowFacts,
    filter_status,
    group_matches,
    image_facts,
    match_row,
    match_text,
    parse_query,
)
from viewer.viewmodel.browser_summary import ImageSummary


def test_a_filter_is_plain_text_or_a_label_or_flag_query() -> None:
    assert parse_query("  Hernia ") == Query(Field.ANY, "hernia")
    assert parse_query("label:Hernia") == Query(Field.LABEL, "hernia")
    assert parse_query("LABEL: no finding ") == Query(Field.LABEL, "no finding")
    assert parse_query("flag :mass") == Query(Field.FLAG, "mass")
    assert parse_query("flag:") == Query(Field.FLAG, "") and parse_query("flag:").active
    assert not parse_query("   ").active
    assert parse_query("labels:x") == Query(Field.ANY, "labels:x")  # not a prefix: plain text


CARDIOMEGALY_FLAGGED_HERNIA = RowFacts("00000001_000.png 00000001_000.png pa", ("Cardiomegaly",),
                                       (("Hernia", 0.08),))
LABELLED_HERNIA = RowFacts("00000002_000.png", ("Hernia",))
NO_FINDING = RowFacts("00000003_000.png", ())
NO_ENTRY = RowFacts("chest.png", None, (("Pleural_Thickening", 0.71),))


def test_plain_text_matches_names_labels_and_flags_and_says_which() -> None:
    hernia = parse_query("hernia")
    assert match_row(hernia, CARDIOMEGALY_FLAGGED_HERNIA) == ("flag Hernia 0.08",)
    assert match_row(hernia, LABELLED_HERNIA) == ("label Hernia",)
    assert match_row(hernia, NO_FINDING) == ()
    assert match_row(parse_query("00000001"), CARDIOMEGALY_FLAGGED_HERNIA) == ("name",)
    assert match_row(parse_query("pleural thickening"), NO_ENTRY) == ("flag Pleural Thickening 0.71",)
    assert match_row(parse_query("finding"), NO_FINDING) == ("label No Finding",)
    assert match_row(parse_query(""), NO_FINDING) == ()  # no filter: nothing to say


def test_label_and_flag_queries_look_at_one_side_only() -> None:
    assert match_row(parse_query("label:hernia"), CARDIOMEGALY_FLAGGED_HERNIA) == ()
    assert match_row(parse_query("label:hernia"), LABELLED_HERNIA) == ("label Hernia",)
    assert match_row(parse_query("flag:hernia"), CARDIOMEGALY_FLAGGED_HERNIA) == ("flag Hernia 0.08",)
    assert match_row(parse_query("flag:hernia"), LABELLED_HERNIA) == ()
    assert match_row(parse_query("label:no finding"), NO_FINDING) == ("label No Finding",)
    assert match_row(parse_query("label:pleural"), NO_ENTRY) == ()  # no dataset entry: no labels
    assert match_row(parse_query("label:00000002"), LABELLED_HERNIA) == ()  # not a name search
    assert match_row(parse_query("flag:"), NO_ENTRY) == ("flag Pleural Thickening 0.71",)  # any flag
    assert match_row(parse_query("flag:"), LABELLED_HERNIA) == ()
    assert match_row(parse_query("label:"), LABELLED_HERNIA) == ("label Hernia",)  # any label
    assert match_row(parse_query("label:"), NO_FINDING) == ()


def test_groups_match_plain_text_only() -> None:
    assert group_matches(parse_query("patient 12"), "NIH patient 12")
    assert not group_matches(parse_query("label:patient"), "NIH patient 12")
    assert not group_matches(parse_query(""), "NIH patient 12")


def test_an_image_s_facts_and_the_row_s_words() -> None:
    image = ScannedImage(path=Path("/d/00000001_000.png"), relative_path=Path("00000001_000.png"),
                         format=SourceFormat.PNG, patient_key=1, study_key=1, series_key=1,
                         patient_label="NIH patient 1", patient_id="1", study_label="Follow-up 0",
                         view_position="PA", labels=("Cardiomegaly",))
    facts = image_facts(image, ImageSummary((("Hernia", 0.08),), 0.08))
    assert facts.labels == ("Cardiomegaly",) and facts.flags == (("Hernia", 0.08),) and "pa" in facts.names
    assert image_facts(image).flags == ()
    assert match_text(("label Hernia", "flag Hernia 0.08")) == "matches: label Hernia, flag Hernia 0.08"
    assert match_text(()) is None


def test_the_status_says_how_many_rows_show_and_what_hides_the_rest() -> None:
    assert filter_status(5, 5, "", False) is None
    assert filter_status(5, 5, "   ", False) is None
    assert filter_status(0, 5, "hernia", False) == "0 of 5 shown: filter 'hernia'"
    assert filter_status(0, 5, " hernia ", False) == "0 of 5 shown: filter 'hernia'"
    assert filter_status(2, 7, "", True) == "2 of 7 shown: flagged only"
    assert filter_status(1, 7, "mass", True) == "1 of 7 shown: filter 'mass', flagged only"
    assert filter_status(7, 7, "chest", False) == "7 of 7 shown: filter 'chest'"  # still says a filter is on
