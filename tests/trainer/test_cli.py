"""cxr-train end to end on generated data, and every bad input ending in one clear line."""

from __future__ import annotations

import csv
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
from trainer.data.nih import load_labelled_images
from viewer.core.model import ModelPair
from viewer.core.predictions_csv import csv_columns

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
    assert list(summary) == ["finished", "out", "test_mean_auroc", "validation_mean_auroc", "model", "sidecar",
                             "model_id", "gradcam_randomisation", "gallery", "seconds"]
    pair = ModelPair.open(out / "model.onnx")
    card = pair.card
    assert card.arch == "tiny" and card.input.height == 64 and card.model_id == summary["model_id"]
    assert card.training["epochs"] == 2 and card.training["tried"] == ["a first try"]
    assert card.training["initial_weights"] == "random (trained from scratch)"
    assert card.metrics["split"]["hash"] and card.metrics["split"]["sizes"]["test"] > 0
    assert card.ood["method"] != "none" and card.calibration["method"] == "platt"
    for name in ("config.yaml", "split.csv", "train.log", "history.json", "history.csv", "metrics.json",
                 "predictions_val.csv", "predictions_test.csv", "export_checks.json", "gallery.png",
                 "checkpoints/last.pt", "checkpoints/model.pt", "evaluation.md", "roc_curves.png",
                 "train_list.txt", "val_list.txt", "test_list.txt"):
        assert (out / name).is_file(), name
    # the evaluation: micro AUROC, PR-AUC, operating points at the validation thresholds, ECE before/after
    metrics = json.loads((out / "metrics.json").read_text())["metrics"]
    assert metrics["micro_auroc"] is not None and metrics["mean_average_precision"] is not None
    points = metrics["operating_points"]
    assert points["rule"] == card.thresholds["rule"] and points["rule"].startswith("prevalence:")  # the default
    assert points["per_image"]["images"] == metrics["n_images"] and "test flags per image" in err
    entry = card.thresholds["per_label"]["Cardiomegaly"]  # the prior is the training split's prevalence
    assert entry["prevalence_source"] == "training split" and entry["val_positives"] + entry["val_negatives"] > 0
    assert {p["threshold"] for p in points["per_label"].values()} <= set(card.thresholds["values"].values())
    assert set(metrics["calibration_error"]) >= {"before", "after"} and metrics["calibration_error"]["split"] == "test"
    assert sum(metrics["split"]["positives"]["test"].values()) > 0
    assert "| Cardiomegaly |" in (out / "evaluation.md").read_text()
    assert len((out / "history.csv").read_text().splitlines()) == 3  # header + 2 epochs
    assert (out / "test_list.txt").read_text().split() == [
        row.split(",")[0] for row in (out / "split.csv").read_text().splitlines() if row.endswith(",test")]
    assert "prev.)" in err and "Hernia" in err  # per-split sizes and per-label prevalence are printed
    assert all(check["passed"] for check in json.loads((out / "export_checks.json").read_text()).values())
    assert yaml.safe_load((out / "config.yaml").read_text())["arch"] == "tiny"

    # the run's predictions are predictions CSVs with every column, keys pseudonymous
    with open(out / "predictions_test.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == csv_columns(card.labels)
    patients = {s.image_index: s.patient_id for s in load_labelled_images(tiny_data).samples}
    keys = {r["patient_key"] for r in rows}
    assert keys == {str(k) for k in range(1, len({patients[r["Image Index"]] for r in rows}) + 1)}
    assert all(r["path"].startswith("images/") and r["ood_score"] == "" for r in rows)

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


def test_an_earlier_config_file_with_skip_bad_images_still_works(tmp_path: Path) -> None:
    from trainer.config import TrainConfig, config_from_dict, load_yaml

    config = tmp_path / "old.yaml"
    config.write_text("skip_bad_images: false\nepochs: 2\n")
    assert load_yaml(config) == {"bad_images": "stop", "epochs": 2}
    saved = {**TrainConfig(data="d", out="o").to_dict(), "skip_bad_images": True, "optimizer": "sgd"}
    del saved["bad_images"], saved["nesterov"]
    upgraded = config_from_dict(saved)  # a checkpoint of the earlier trainer resumes as it ran
    assert upgraded.bad_images == "skip" and upgraded.nesterov


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
    assert (resolved["epochs"], resolved["batch_size"], resolved["views"], resolved["no_export"]) == (1, 8,
            ["PA"], True)
    assert not (out / "model.onnx").exists() and (out / "metrics.json").is_file()


def test_stop_and_resume_from_the_command_line(tiny_data: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
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
    elif case == "all_unreadable":
        shutil.copytree(tiny_data, data)
        for image in (data / "images").iterdir():
            image.write_bytes(b"")
    return data


@pytest.mark.parametrize(
    ("case", "fragments"),
    [
        ("no_csv", ["no Data_Entry_2017_v2020.csv or Data_Entry_2017.csv", "--labels-csv"]),
        ("csv_without_columns", ["Data_Entry_2017.csv", "no column 'Image Index'"]),
        ("empty", ["no images"]),
        ("non_image", ["00000003_001.png", "cannot be read", "--strict-images"]),
        ("missing", ["data folder not found"]),
        ("all_unreadable", ["none of the 48 images can be read", "00000001_000.png"]),
    ],
)
def test_bad_data_gives_one_clear_message(case: str, fragments: list[str], tiny_data: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    data = make_folder(tmp_path, tiny_data, case)
    strict = ["--strict-images"] if case == "non_image" else []  # unreadable images stop the run only then
    code, printed, err = run(["train", "--data", str(data), "--out", str(tmp_path / "out"), *strict, *TINY], capsys)
    assert_one_clear_error(code, err, *fragments)
    assert printed == ""


@pytest.mark.parametrize("flags", [[], ["--skip-bad-images"], ["--no-cache"]])
def test_unreadable_images_are_named_counted_and_skipped_by_default(flags: list[str], tiny_data: Path, tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    data = make_folder(tmp_path, tiny_data, "non_image")
    out = tmp_path / "out"
    code, _, err = run(["train", "--data", str(data), "--out", str(out), *flags, "--no-export", *TINY], capsys)
    assert code == 0, err
    assert "00000003_001.png" not in (out / "split.csv").read_text()
    log = (out / "train.log").read_text()
    named = [line for line in log.splitlines() if "left out:" in line]
    assert len(named) == 1 and "00000003_001.png" in named[0]
    assert "1 unreadable images left out" in log
    assert yaml.safe_load((out / "config.yaml").read_text())["bad_images"] == "skip"


def test_split_lists_give_the_official_split(tiny_data: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    names = sorted(p.name for p in (tiny_data / "images").glob("*.png"))
    test = [n for n in names if int(n[:8]) % 4 == 0]
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "test_list.txt").write_text("\n".join(test) + "\n")
    (lists / "train_val_list.txt").write_text("\n".join(n for n in names if n not in test) + "\n")
    out = tmp_path / "out"
    code, _, err = run(["train", "--data", str(tiny_data), "--out", str(out), "--split-lists",
                        str(lists / "train_val_list.txt"), str(lists / "test_list.txt"), "--no-export", *TINY], capsys)
    assert code == 0, err
    assert sorted((out / "test_list.txt").read_text().split()) == test
    assert "official NIH test list" in json.loads((out / "metrics.json").read_text())["metrics"]["split"]["method"]
    resolved = yaml.safe_load((out / "config.yaml").read_text())["split_lists"]
    assert resolved == [str(lists / "train_val_list.txt"), str(lists / "test_list.txt")]

    (lists / "test_list.txt").write_text("\n".join(test + [names[1]]) + "\n")  # patient 1 on both lists
    (lists / "train_val_list.txt").write_text("\n".join(n for n in names if n not in test and n != names[1]) + "\n")
    code, _, err = run(["train", "--data", str(tiny_data), "--out", str(tmp_path / "again"), "--split-lists",
                        str(lists), *TINY], capsys)
    assert_one_clear_error(code, err, "patient 1 has images on both", "--split random")


def test_progress_bar_when_asked(tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code, _, err = run(["train", "--data", str(tiny_data), "--out", str(out), "--progress", "on", "--no-export",
                        *TINY], capsys)
    assert code == 0, err
    # tqdm's bar on stderr (redrawn at most every 0.1 s, so only its first frame is sure to be there)
    assert "\repoch 1/2:   0%|" in err and "| 0/4 [" in err and "\repoch 2/2:" in err
    assert "epoch 1/2: " not in (out / "train.log").read_text()  # the log file keeps lines, not bars


@pytest.mark.parametrize(("file_arch", "arch"), [("resnet18", "tiny"), ("mobilenet_v3_small", "mobilenet_v3_large")])
def test_wrong_arch_weights_give_one_clear_message(file_arch: str, arch: str, tiny_data: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    weights = tmp_path / f"{file_arch}.pth"
    torch.save(getattr(torchvision.models, file_arch)(weights=None).state_dict(), weights)
    argv = [*TINY]
    argv[argv.index("--arch") + 1] = arch
    code, _, err = run(["train", "--data", str(tiny_data), "--out", str(tmp_path / "out"), "--weights", str(weights),
                        *argv], capsys)
    assert_one_clear_error(code, err, f"{file_arch}.pth", f"do not fit --arch {arch}",
            "pass the --arch the file was made for")


@pytest.mark.parametrize(
    ("argv", "fragments"),
    [
        (["train", "--out", "x"], ["needs --data DIR"]),
        (["train", "--data", "x", "--out", "y", "--arch", "vgg"], ["--arch must be one of", "mobilenet_v3_large"]),
        (["train", "--data", "x", "--out", "y", "--split-lists", "a", "b", "c"], ["--split-lists takes a folder"]),
        (["train", "--data", "x", "--out", "y", "--split-lists", "a", "--split-file", "s.csv"], ["pass one of them"]),
        (["train", "--config", "/nonexistent/c.yaml"], ["config file not found"]),
        (["export", "--checkpoint", "/nonexistent/model.pt"], ["checkpoint not found"]),
        (["evaluate", "--predictions", "/nonexistent/p.csv", "--labels-csv", "/nonexistent/D.csv"], ["not found"]),
    ],
)
def test_bad_options_give_one_clear_message(argv: list[str], fragments: list[str],
                                            capsys: pytest.CaptureFixture[str]) -> None:
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
