"""The predictions CSV contract: columns, row formats, the writer, the reader, and its three
writers (cxr-viewer batch, the trainer's run; the UI export in tests/ui/test_export.py)."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.core.test_scan import make_png
from viewer.core.batch import run_batch
from viewer.core.errors import CxrError
from viewer.core.findings import Findings, flags_at, read_only
from viewer.core.identity import Identity, Scrubber
from viewer.core.inference import Predictor
from viewer.core.labels import NIH_LABELS
from viewer.core.predictions_csv import (
    FORMULA_STARTS,
    PredictionsCsvError,
    PredictionsFile,
    csv_columns,
    neutralise,
    read_predictions,
    restore,
)
from viewer.core.pseudonyms import KeyNumbers
from viewer.core.safe_write import open_partial

LABELS = ("Effusion", "Pleural_Thickening", "Mass")


def rows_of(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def dict_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def findings(probabilities: list[float], ood_score: float, ood_flag: bool = False) -> Findings:
    p = np.array(probabilities, np.float32)
    t = np.full(len(p), 0.5, np.float32)
    return Findings(LABELS, read_only(p), read_only(t), read_only(flags_at(p, t)),
                    read_only(np.zeros((len(p), 1, 1), np.float32)), ood_score, ood_flag)


def test_the_columns_of_the_design() -> None:
    assert csv_columns(("A", "B")) == ["Image Index", "path", "status", "error", "notes", "prob_A", "prob_B", "flag_A",
                                       "flag_B", "ood_score", "ood_flag", "patient_key", "study_key"]
    assert csv_columns(("A",), include_patient_id=True)[-1] == "patient_id"


def test_rows_are_formatted_as_the_contract_says(tmp_path: Path) -> None:
    out = tmp_path / "p.csv"
    with PredictionsFile(out, LABELS, include_patient_id=True) as writer:
        writer.write_findings("a.png", "sub/a.png", findings([0.25, 0.5, 0.1234567], 1.5, True),
                              patient_key=1, study_key=1, patient_id="4711")
        writer.write_findings("b.png", "b.png", findings([0.9, 0.0, 1.0], float("nan")), patient_key=2, study_key=2)
        writer.write_ok("c.png", "c.png", [0.1, 0.2, 0.3], [False, False, True], ood_score=0.25, ood_flag=False)
        writer.write_error("d.png", "d.png", "not a PNG (damaged)", patient_key=2, study_key=3)
        assert writer.rows == 4
    header, *rows = rows_of(out)
    assert header == csv_columns(LABELS, include_patient_id=True)
    assert rows[0] == ["a.png", "sub/a.png", "ok", "", "", "0.250000", "0.500000", "0.123457", "0", "1", "0",
                       "1.500000", "1", "1", "1", "4711"]
    assert rows[1] == ["b.png", "b.png", "ok", "", "", "0.900000", "0.000000", "1.000000", "1", "0", "1",
                       "", "", "2", "2", ""]  # NaN: the model has no OOD check
    assert rows[2][-6:] == ["1", "0.250000", "0", "", "", ""]  # no keys given: empty
    assert rows[3] == ["d.png", "d.png", "error", "not a PNG (damaged)", "", "", "", "", "", "", "", "", "", "2", "3",
                       ""]


def test_notes_are_one_cell_of_an_ok_row(tmp_path: Path) -> None:
    out = tmp_path / "p.csv"
    noted = replace(findings([0.2, 0.4, 0.6], 1.0), notes=("the first of 3 frames", "-colour converted"))
    with PredictionsFile(out, LABELS) as writer:
        writer.write_findings("a.png", "a.png", noted)
    (row,) = rows_of(out)[1:]
    assert row[2:5] == ["ok", "", "the first of 3 frames; -colour converted"]


def test_without_patient_ids_there_is_no_column_for_them(tmp_path: Path) -> None:
    out = tmp_path / "p.csv"
    with PredictionsFile(out, LABELS) as writer:
        writer.write_findings("a.png", "a.png", findings([0.2, 0.4, 0.6], 1.0), patient_key=1, study_key=1,
                              patient_id="SECRET-ID")
    assert "patient_id" not in rows_of(out)[0] and "SECRET-ID" not in out.read_text()


def test_a_row_of_the_wrong_length_is_refused(tmp_path: Path) -> None:
    with PredictionsFile(tmp_path / "p.csv", LABELS) as writer, pytest.raises(ValueError, match="expected 3"):
        writer.write_ok("a.png", "a.png", [0.1, 0.2], [True, False])


def test_the_file_gets_its_name_only_when_complete(tmp_path: Path) -> None:
    out = tmp_path / "p.csv"
    with pytest.raises(RuntimeError), PredictionsFile(out, LABELS) as writer:
        writer.write_error("a.png", "a.png", "x")
        raise RuntimeError("the batch stopped")
    assert not out.exists() and (tmp_path / "p.csv.partial").is_file()
    with PredictionsFile(out, LABELS) as writer:
        writer.write_error("a.png", "a.png", "x")
    assert out.is_file() and not (tmp_path / "p.csv.partial").exists()
    with pytest.raises(OSError):
        PredictionsFile(tmp_path / "no" / "such" / "p.csv", LABELS)


def test_round_trip_writer_to_reader(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    probabilities = rng.random((6, 3))
    flags = probabilities > 0.4
    out = tmp_path / "p.csv"
    with PredictionsFile(out, LABELS) as writer:
        for i, (p, f) in enumerate(zip(probabilities, flags)):
            writer.write_ok(f"{i:08d}_000.png", f"images/{i:08d}_000.png", p, f, ood_score=0.5, patient_key=i,
                            study_key=i)
        writer.write_error("bad.png", "images/bad.png", "cannot be read")
    table = read_predictions(out)
    assert table.names == [f"{i:08d}_000.png" for i in range(6)] and table.skipped == 1
    assert table.labels == list(LABELS)
    np.testing.assert_allclose(table.scores, np.round(probabilities, 6), atol=1e-12)
    np.testing.assert_array_equal(table.flags, flags.astype(float))


@given(st.text(alphabet=st.sampled_from("=+-@\t\r' aZ.,\""), max_size=8))
def test_neutralised_cells_never_start_a_formula_and_restore_exactly(text: str) -> None:
    assert not neutralise(text).startswith(FORMULA_STARTS)
    assert restore(neutralise(text)) == text


def test_the_reader_keeps_other_tools_apostrophes(tmp_path: Path) -> None:
    path = tmp_path / "other.csv"
    path.write_text("Image Index,Effusion\n'plain.png,0.5\n'=x.png,0.25\n", encoding="utf-8")
    assert read_predictions(path).names == ["'plain.png", "=x.png"]


def test_key_numbers_count_from_one_in_the_order_first_seen() -> None:
    keys = KeyNumbers()
    assert [keys(x) for x in (4711, 12, 4711, (12, "b"), 12)] == [1, 2, 1, 3, 2]


# -- the readers' other inputs --------------------------------------------------------------------
def test_the_reader_takes_other_tools_columns_in_any_spelling(tmp_path: Path) -> None:
    path = tmp_path / "other.csv"
    path.write_text("\ufeffImage Index,effusion,Pleural Thickening,infiltrate,score\n"
                    "a.png,0.1,0.2,0.3,9\nb.png,0.4,0.5,0.6,9\n", encoding="utf-8")
    table = read_predictions(path)
    assert table.labels == ["Effusion", "Pleural_Thickening", "Infiltration"] and table.flags is None
    np.testing.assert_array_equal(table.scores, [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]])
    prefixed = tmp_path / "prefixed.csv"
    prefixed.write_text("path,status,prob_HERNIA,prob_Infiltrate,flag_hernia,flag_infiltrate\n"
                        "x/a.png,ok,0.1,0.2,0,1\ny/b.png,error,,,,\n", encoding="utf-8")
    table = read_predictions(prefixed)
    assert table.names == ["a.png"] and table.labels == ["Hernia", "Infiltration"] and table.skipped == 1
    np.testing.assert_array_equal(table.flags, [[0, 1]])


def test_prob_columns_of_any_model_are_its_labels(tmp_path: Path) -> None:
    # a model trained on CheXpert names its findings CheXpert's way; NIH's findings keep NIH's spelling
    path = tmp_path / "p.csv"
    path.write_text("Image Index,path,prob_Pleural Effusion,prob_Support Devices,prob_effusion\n"
                    "view1_frontal.jpg,train/patient1/study1/view1_frontal.jpg,0.1,0.2,0.3\n", encoding="utf-8")
    table = read_predictions(path)
    assert table.labels == ["Pleural Effusion", "Support Devices", "Effusion"]
    assert table.paths == ["train/patient1/study1/view1_frontal.jpg"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "has no rows of predictions"),
        ("Image Index,score\na.png,0.3\n", "no prediction columns"),
        ("Image Index,prob_Effusion,prob_ \na.png,0.1,0.2\n", "a 'prob_' column names no label"),
        ("Image Index,effusion,Effusion\na.png,0.1,0.2\n", "two columns give the same label"),
        ("name,prob_Effusion\na.png,0.1\n", "needs an 'Image Index' column"),
        ("Image Index,prob_Effusion\na.png,0.1\nb.png,high\n", "line 3 has a prediction that is not a number"),
    ],
)
def test_the_reader_says_what_is_wrong(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "p.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PredictionsCsvError, match=message) as caught:
        read_predictions(path)
    assert isinstance(caught.value, CxrError) and str(caught.value).startswith(str(path))


def test_a_missing_or_binary_file(tmp_path: Path) -> None:
    with pytest.raises(PredictionsCsvError, match="predictions file not found"):
        read_predictions(tmp_path / "none.csv")
    (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\x00\x81" * 10)
    with pytest.raises(PredictionsCsvError, match="cannot be read as a CSV file"):
        read_predictions(tmp_path / "bin.csv")


# -- the writers ----------------------------------------------------------------------------------
@pytest.fixture
def images(tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    for i in range(4):
        make_png(folder / f"0000000{i // 2 + 1}_00{i % 2}.png", (96, 96), seed=i)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    return folder


def test_the_batch_and_the_trainer_write_the_same_columns(images: Path, tiny_model: Path, tmp_path: Path) -> None:
    from trainer.evaluation.predictions import write_predictions_csv

    batch = tmp_path / "batch.csv"
    run_batch(images, batch, tiny_model)
    trainer = tmp_path / "predictions_test.csv"
    write_predictions_csv(trainer, ["00000001_000.png"], ["images/00000001_000.png"], [1],
                          np.full((1, 14), 0.5), NIH_LABELS, {x: 0.5 for x in NIH_LABELS})
    assert rows_of(batch)[0] == rows_of(trainer)[0] == csv_columns(NIH_LABELS)


def test_the_batch_flags_are_the_core_rule_at_the_card_thresholds(images: Path, tiny_model: Path,
                                                                  tmp_path: Path) -> None:
    out = tmp_path / "batch.csv"
    run_batch(images, out, tiny_model)
    predictor = Predictor.open(tiny_model)
    thresholds = predictor.card.threshold_values()
    ok = [r for r in dict_rows(out) if r["status"] == "ok"]
    assert len(ok) == 4
    for row in ok:
        probabilities = predictor.predict(images / row["path"]).probabilities
        expected = flags_at(probabilities, thresholds, predictor.labels)
        assert [row[f"flag_{x}"] for x in predictor.labels] == ["1" if f else "0" for f in expected]


def test_the_trainers_predictions_carry_ood_and_pseudonymous_keys(tmp_path: Path) -> None:
    from trainer.evaluation.predictions import write_predictions_csv

    names = ["00004711_000.png", "00004711_001.png", "00000815_000.png", "00004711_002.png"]
    patients = [4711, 4711, 815, 4711]
    probabilities = np.random.default_rng(5).random((4, 3))
    thresholds = {"Effusion": 0.5, "Pleural_Thickening": float(probabilities[1, 1]), "Mass": 0.2}
    out = tmp_path / "predictions_val.csv"
    write_predictions_csv(out, names, [f"images/{n}" for n in names], patients, probabilities, LABELS, thresholds)
    rows = dict_rows(out)
    assert list(rows[0]) == csv_columns(LABELS)
    assert [(r["patient_key"], r["study_key"]) for r in rows] == [("1", "1"), ("1", "2"), ("2", "3"), ("1", "4")]
    assert all(r["ood_score"] == r["ood_flag"] == "" for r in rows)  # no OOD check fitted yet
    assert "4711" not in "".join(r["patient_key"] + r["study_key"] for r in rows)
    expected = flags_at(probabilities, thresholds, LABELS)
    assert [[r[f"flag_{x}"] for x in LABELS] for r in rows] == [["1" if f else "0" for f in e] for e in expected]
    assert rows[1]["flag_Pleural_Thickening"] == "1"  # at the threshold is flagged
    table = read_predictions(out)  # and cxr-train evaluate reads it
    assert table.names == names and table.labels == list(LABELS)
    np.testing.assert_array_equal(table.flags, expected.astype(float))


def test_a_failure_half_way_through_scrubbing_again_keeps_every_row(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Scrubbing again rewrites the whole file when a header read late named a path written
    earlier: a process that dies half-way (here: a full disk) must leave every row it had in
    the .partial file, for the next batch to resume from, not the few copied so far."""
    scrubber = Scrubber()
    out = tmp_path / "p.csv"
    file = PredictionsFile(out, LABELS, scrubber=scrubber)
    for i in range(50):
        file.writer.write_error(f"{i}.png", f"Doe^Janet/{i}.png", "cannot be read")
    scrubber.add(Identity("Doe^Janet", "", ""))  # learned after the rows were written: the file is stale
    real_scrub, calls = Scrubber.scrub, 0

    def failing(self: Scrubber, text: str) -> str:
        nonlocal calls
        calls += 1
        if calls > 40:
            raise OSError(28, "No space left on device")
        return real_scrub(self, text)

    monkeypatch.setattr(Scrubber, "scrub", failing)
    with pytest.raises(OSError), file:
        pass
    rows = rows_of(tmp_path / "p.csv.partial")
    assert len(rows) == 51 and rows[50][1] == "Doe^Janet/49.png" and not out.exists()


def test_going_on_with_an_interrupted_file_keeps_its_whole_rows_and_scrubs_them_again(tmp_path: Path) -> None:
    out = tmp_path / "p.csv"
    first = PredictionsFile(out, LABELS)
    first.writer.write_error("a.png", "Doe^Janet/a.png", "cannot be read")
    first.keep()  # stopped: the row stays in the .partial file
    partial = tmp_path / "p.csv.partial"
    whole = partial.read_bytes()
    partial.write_bytes(whole + b"b.png,Doe^Ja")  # and a row cut by a kill
    # the rows kept were scrubbed with what the first run knew, which this one cannot tell:
    # once it knows an identity, they are scrubbed again
    scrubber = Scrubber([Identity("Doe^Janet", "", "")])
    second = PredictionsFile.continuing(out, open_partial(out), len(whole), 1, LABELS, scrubber=scrubber)
    second.writer.write_ok("c.png", "c.png", [0.1, 0.6, 0.9], [False, True, True])
    second.commit()
    rows = rows_of(out)
    assert rows[0] == csv_columns(LABELS) and [r[1] for r in rows[1:]] == ["[removed]^[removed]/a.png", "c.png"]
    assert not partial.exists()
