"""What the browser says about the rows its filter hides."""

from __future__ import annotations

from viewer.viewmodel.browser_filter import filter_status


def test_the_status_says_how_many_rows_show_and_what_hides_the_rest() -> None:
    assert filter_status(5, 5, "", False) is None
    assert filter_status(5, 5, "   ", False) is None
    assert filter_status(0, 5, "hernia", False) == "0 of 5 shown: filter 'hernia'"
    assert filter_status(0, 5, " hernia ", False) == "0 of 5 shown: filter 'hernia'"
    assert filter_status(2, 7, "", True) == "2 of 7 shown: flagged only"
    assert filter_status(1, 7, "mass", True) == "1 of 7 shown: filter 'mass', flagged only"
    assert filter_status(7, 7, "chest", False) == "7 of 7 shown: filter 'chest'"  # still says a filter is on
