"""cxr-train end to end on generated data, and every bad input ending in one clear line."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torchvision
import yaml

from trainer.cli import main
from viewer.core.model import ModelPair

TINY = ["--arch", "tiny", "--size", "64", "--epochs", "2", "--batch-size", "8", "--bootstrap", "50",
        "--threads", "1", "--log-every", "0", "--ood-sample", "100"]


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_clear_error(code: int, err: str, *fragments: str) -> None:
    lines = [line for line in err.splitlines() if line.startswith("cxr-train: error:")]
    assert code == 1
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_train_evaluates_and_exports_a_pair_the_viewer_accepts(tiny_data: Path, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    code, printed, err = run(["train", "--data", str(tiny_data), "--out", str(out), "--gallery", "4",
                              "--tried", "a first try", *TINY], capsys)
    assert code == 0, err
    summary = json.loads(printed)
    assert summary["finished"] and Path(summary["model"]) == out / "model.onnx"
    pair = ModelPair.open(out / "model.onnx")
    card = pair.card
    assert card.arch == "tiny" and card.input.height == 64 and card.model_id == summary["model_id"]
    assert card.training["epochs"] == 2 and card.training["tried"] == ["a first try"]
    assert card.training["initial_weights"] == "random (trained from scratch)"
    assert card.metrics["split"]["hash"] and card.metrics["split"]["sizes"]["test"] > 0
    assert card.ood["method"] != "none" and card.calibration["method"] == "platt"
    for name in ("config.yaml", "split.csv", "train.log", "history.json", "metrics.json", "predictions_val.csv",
                 "predictions_test.csv", "export_checks.json", "gallery.png", "checkpoints/last.pt",
                 "checkpoints/model.pt"):
        assert (out / name).is_file(), name
    assert all(check["passed"] for check in json.loads((out / "export_checks.json").read_text()).values())
    assert yaml.safe_load((out / "config.yaml").read_text())["arch"] == "tiny"

    # the test predictions, scored by `cxr-train evaluate`, give the card's numbers
    report_path = tmp_path / "report.json"
    code, _, err = run(["evaluate", "--predictions", str(out / "predictions_test.csv"), "--data", str(tiny_data),
                        "--bootstrap", "50", "--json", str(report_path)], capsys)
    assert code == 0, err
    report = json.loads(report_path.read_text())
    for label, entry in card.metrics["auroc"].items():
        assert (report["auroc"][label] is None) == (entry is None)
        if entry is not None:
            assert report["auroc"][label]["value"] == pytest.approx(entry["value"], abs=2e-6)

    # `cxr-train export` re-creates the same model from the run's checkpoint
    again = tmp_path / "again"
    code, printed, err = run(["export", "--checkpoint", str(out / "checkpoints" / "model.pt"), "--out", str(again),
                              "--name", "copy"], capsys)
    assert code == 0, err
    assert json.loads(printed)["model_id"] == card.model_id
    assert ModelPair.open(again / "copy.onnx").card.model_id == card.model_id


def test_config_file_sets_defaults_and_flags_override(tiny_data: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "small.yaml"
    config.write_text(yaml.safe_dump({"arch": "tiny", "size": 64, "epochs": 5, "batch-size": 8, "bootstrap": 20,
                                      "threads": 1, "log_every": 0, "views": "PA", "ood_sample": 100}))
    out = tmp_path / "run"
    code, _, err = run(["train", "--config", str(config), "--data", str(tiny_data), "--out", str(out),
                        "--epochs", "1", "--no-export"], capsys)
    assert code == 0, err
    resolved = yaml.safe_load((out / "config.yaml").read_text())
    assert (resolved["epochs"], resolved["batch_size"], resolved["views"], resolved["no_export"]) == (1, 8, ["PA"], True)
    assert not (out / "model.onnx").exists() and (out / "metrics.json").is_file()


def test_stop_and_resume_from_the_command_line(tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    code, printed, err = run(["train", "--data", str(tiny_data), "--out", str(out), "--no-export", "--stop-after", "1",
                              *TINY], capsys)
    assert code == 0 and json.loads(printed) == {"finished": False, "epochs_run": 1}, err
    last = str(out / "checkpoints" / "last.pt")
    code, _, err = run(["train", "--resume", last, "--lr", "0.5"], capsys)
    assert_one_clear_error(code, err, "--lr", "start a new run")
    code, printed, err = run(["train", "--resume", last, "--threads", "1"], capsys)
    assert code == 0, err
    assert json.loads(printed)["finished"]
    assert len(json.loads((out / "history.json").read_text())) == 2


def make_folder(tmp_path: Path, tiny_data: Path, case: str) -> Path:
    data = tmp_path / "data"
    if case == "no_csv":
        shutil.copytree(tiny_data / "images", data / "images")
    elif case == "csv_without_columns":
        shutil.copytree(tiny_data / "images", data / "images")
        (data / "Data_Entry_2017.csv").write_text("file,finding\n00000001_000.png,Edema\n")
    elif case == "empty":
        (data / "images").mkdir(parents=True)
        shutil.copy(tiny_data / "Data_Entry_2017_v2020.csv", data)
    elif case == "non_image":
        shutil.copytree(tiny_data, data)
        (data / "images" / "00000003_001.png").write_text("this is a text file named like a PNG\n")
    return data


@pytest.mark.parametrize(
    ("case", "fragments"),
    [
        ("no_csv", ["no Data_Entry_2017_v2020.csv or Data_Entry_2017.csv", "--labels-csv"]),
        ("csv_without_columns", ["Data_Entry_2017.csv", "no column 'Image Index'"]),
        ("empty", ["no images"]),
        ("non_image", ["00000003_001.png", "--skip-bad-images"]),
        ("missing", ["data folder not found"]),
    ],
)
def test_bad_data_gives_one_clear_message(case: str, fragments: list[str], tiny_data: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    data = make_folder(tmp_path, tiny_data, case)
    code, printed, err = run(["train", "--data", str(data), "--out", str(tmp_path / "out"), *TINY], capsys)
    assert_one_clear_error(code, err, *fragments)
    assert printed == ""


def test_skip_bad_images_trains_without_them(tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = make_folder(tmp_path, tiny_data, "non_image")
    out = tmp_path / "out"
    code, _, err = run(["train", "--data", str(data), "--out", str(out), "--skip-bad-images", "--no-export", *TINY], capsys)
    assert code == 0, err
    assert "00000003_001.png" not in (out / "split.csv").read_text()
    assert "left out" in err


def test_wrong_arch_weights_give_one_clear_message(tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    weights = tmp_path / "resnet18.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), weights)
    code, _, err = run(["train", "--data", str(tiny_data), "--out", str(tmp_path / "out"), "--weights", str(weights),
                        *TINY], capsys)
    assert_one_clear_error(code, err, "resnet18.pth", "do not fit --arch tiny")


@pytest.mark.parametrize(
    ("argv", "fragments"),
    [
        (["train", "--out", "x"], ["needs --data DIR"]),
        (["train", "--data", "x", "--out", "y", "--arch", "vgg"], ["--arch must be one of"]),
        (["train", "--config", "/nonexistent/c.yaml"], ["config file not found"]),
        (["export", "--checkpoint", "/nonexistent/model.pt"], ["checkpoint not found"]),
        (["evaluate", "--predictions", "/nonexistent/p.csv", "--labels-csv", "/nonexistent/D.csv"], ["not found"]),
    ],
)
def test_bad_options_give_one_clear_message(argv: list[str], fragments: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(argv, capsys)
    assert_one_clear_error(code, err, *fragments)


def test_unknown_config_keys_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("epochs: 3\nlearning_rate: 0.1\n")
    code, _, err = run(["train", "--config", str(config)], capsys)
    assert_one_clear_error(code, err, "unknown option(s) learning_rate")


def test_python_dash_m_and_the_console_script() -> None:
    done = subprocess.run([sys.executable, "-m", "trainer", "--version"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.startswith("cxr-train ")
    script = Path(sys.executable).with_name("cxr-train")
    if script.exists():  # installed with pip install -e .[train]
        done = subprocess.run([str(script), "evaluate", "--predictions", "/nonexistent.csv", "--labels-csv",
                               "/nonexistent.csv"], capture_output=True, text=True, timeout=120)
        assert done.returncode == 1 and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_without_out_results_go_under_runs() -> None:
    from trainer.cli import build_parser, resolve_train_config

    argv = ["--data", "somewhere", "--arch", "tiny", "--size", "64"]
    args = build_parser().parse_args(["train", *argv])
    config = resolve_train_config(args, argv)
    assert Path(config.out).parent == Path("runs") and Path(config.out).name.endswith("-tiny-64px")


def test_an_unwritable_output_folder_is_one_clear_line(tiny_data: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the output folder should go")
    code, _, err = run(["train", "--data", str(tiny_data), "--out", str(blocker / "run"), *TINY], capsys)
    assert_one_clear_error(code, err, str(blocker))
