"""csv_records: the whole records of a CSV whose writer was stopped mid-record, and where they end."""

from __future__ import annotations

import csv
import io

import pytest

from viewer.core.csv_records import WholeRecords

ROWS = [["Image Index", "path", "notes"], ["a.png", "x/a.png", ""], ["b.png", "line\nbreak/b.png", 'say "hi"'],
        ["ç.png", "ü/ç.png", "é"]]


def written(rows: list[list[str]]) -> bytes:
    text = io.StringIO(newline="")
    csv.writer(text).writerows(rows)
    return text.getvalue().encode("utf-8")


def read(data: bytes, width: int | None = 3) -> tuple[list[list[str]], WholeRecords]:
    records = WholeRecords(io.BytesIO(data), width)
    return [r.cells for r in records], records


def test_every_record_of_a_whole_file_with_the_offset_after_it() -> None:
    data = written(ROWS)
    records = WholeRecords(io.BytesIO(data), 3)
    got = list(records)
    assert [r.cells for r in got] == ROWS and records.problem is None and records.end == len(data)
    assert [r.end for r in got] == [len(written(ROWS[: i + 1])) for i in range(len(ROWS))]


@pytest.mark.parametrize("cut", range(1, len(written(ROWS)) - 1))
def test_a_file_cut_anywhere_gives_the_records_before_the_cut_and_where_they_end(cut: int) -> None:
    data = written(ROWS)[:cut]
    cells, records = read(data)
    whole = [i for i in range(len(ROWS) + 1) if len(written(ROWS[:i])) <= cut]
    assert cells == ROWS[: whole[-1]]  # every record written whole before the cut, and no more
    assert records.end == len(written(cells))
    assert (records.problem == "a torn last record") == (records.end < cut)


def test_damage_before_the_end_is_named() -> None:
    data = written(ROWS[:2]) + b"only,two\r\n" + written(ROWS[2:])
    cells, records = read(data)
    assert cells == ROWS[:2] and "2 cells where 3" in (records.problem or "")
    cells, records = read(written(ROWS[:2]) + b"\xff\xfe,x,y\r\n" + written(ROWS[2:]))
    assert cells == ROWS[:2] and records.problem == "bytes that are not UTF-8 text"
    cells, records = read(written(ROWS) + b"\0" * 100)  # a power cut's zeros: no line end, a torn record
    assert cells == ROWS and records.problem == "a torn last record"
