"""trainer.evaluation.expert_labels: the real header read, the mapping from model labels, AUROC vs sklearn."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from tests.conftest import shared_path
from trainer.errors import TrainerError
from trainer.evaluation.expert_labels import EXPERT_MAPPING, evaluate_expert_labels, markdown, read_expert_labels
from viewer.core.nih import NIH_LABELS

# The header of Google's file, with its two column titles split by their own commas.
HEADER = ("Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position,"
          "OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y],Fracture,Pneumothorax,"
          "Airspace opacity,Nodule or mass,Set Id\n")


def row(name: str, fracture: str, pneumothorax: str, opacity: str, nodule: str) -> str:
    return f"{name},No Finding,0,1,50,M,PA,2500,2048,0.168,0.168,{fracture},{pneumothorax},{opacity},{nodule},test\n"


def write_csv(folder: Path, rows: list[str]) -> Path:
    path = folder / "google2019_nih-chest-xray-labels.csv"
    path.write_text(HEADER + "".join(rows), encoding="utf-8")
    return path


def test_reads_the_split_header_and_yes_no(tmp_path: Path) -> None:
    path = write_csv(tmp_path, [row("a.png", "NO", "YES", "NO", "YES"), row("b.png", "YES", "NO", "", "NO")])
    labels = read_expert_labels(path)
    assert labels["a.png"] == {"Pneumothorax": True, "Nodule or mass": True, "Airspace opacity": False,
            "Fracture": False}
    assert labels["b.png"]["Airspace opacity"] is None and labels["b.png"]["Fracture"] is True


def test_not_an_expert_file_is_one_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "x.csv"
    bad.write_text("Image Index,Finding Labels\na.png,Mass\n", encoding="utf-8")
    with pytest.raises(TrainerError, match="not Google's expert label file"):
        read_expert_labels(bad)
    with pytest.raises(TrainerError, match="not found"):
        read_expert_labels(tmp_path / "missing.csv")


def test_mapped_aurocs_against_sklearn(tmp_path: Path) -> None:
    names = [f"{i}.png" for i in range(8)]
    nodule_or_mass = ["YES", "YES", "YES", "NO", "NO", "NO", "NO", "NO"]
    opacity = ["YES", "NO", "YES", "NO", "YES", "NO", "NO", "NO"]
    path = write_csv(tmp_path, [row(n, "NO", "NO", o, m) for n, o, m in zip(names, opacity, nodule_or_mass)]
                     + [row("not-evaluated.png", "YES", "YES", "YES", "YES")])
    labels = list(NIH_LABELS)
    probs = np.full((9, 14), 0.1)
    # positives 0-2 are high on Nodule OR on Mass, never both: only the maximum ranks all of them first
    probs[:, labels.index("Nodule")] = [0.9, 0.1, 0.8, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0]
    probs[:, labels.index("Mass")] = [0.1, 0.95, 0.1, 0.2, 0.5, 0.1, 0.6, 0.1, 0.0]
    probs[:, labels.index("Edema")] = [0.7, 0.2, 0.1, 0.1, 0.6, 0.3, 0.2, 0.1, 0.0]
    probs[:, labels.index("Atelectasis")] = np.linspace(0, 1, 9)
    nih = [("Nodule",), (), ("Mass",), (), ("Edema",), (), (), (), ()]
    section = evaluate_expert_labels(names + ["elsewhere.png"], probs, labels, read_expert_labels(path),
                                     nih_labels=nih)

    assert section["images_with_expert_labels"] == 8  # the ninth name has no expert row
    nm = section["findings"]["Nodule or mass"]
    y = np.array([1, 1, 1, 0, 0, 0, 0, 0])
    best = np.maximum(probs[:8, labels.index("Nodule")], probs[:8, labels.index("Mass")])
    assert nm["auroc"] == pytest.approx(roc_auc_score(y, best), abs=1e-4) and nm["auroc"] == 1.0
    assert nm["component_auroc"]["Nodule"] < 1.0 and nm["component_auroc"]["Mass"] < 1.0
    assert (nm["n_pos"], nm["n_neg"]) == (3, 5)
    assert nm["nih_labels_vs_expert"] == {"tp": 2, "fp": 0, "fn": 1, "tn": 5, "sensitivity": 0.6667, "specificity": 1.0}

    ao = section["findings"]["Airspace opacity"]
    y_ao = np.array([1 if o == "YES" else 0 for o in opacity])
    score = probs[:8][:, [labels.index(c) for c in EXPERT_MAPPING["Airspace opacity"]]].max(axis=1)
    assert ao["auroc"] == pytest.approx(roc_auc_score(y_ao, score), abs=1e-4)
    assert "Atelectasis" in ao["component_auroc"]  # shown beside, not part of the score

    assert section["findings"]["Pneumothorax"]["auroc"] is None  # all negative here
    fracture = section["findings"]["Fracture"]
    assert fracture["auroc"] is None and "no NIH label" in fracture["why_no_auroc"]
    text = markdown(section)
    assert "| Nodule or mass | max(Nodule, Mass) | 8 | 3/5 | 1.000 |" in text


def test_a_model_without_the_mapped_labels_has_no_auroc(tmp_path: Path) -> None:
    path = write_csv(tmp_path, [row("a.png", "NO", "YES", "NO", "NO"), row("b.png", "NO", "NO", "NO", "NO")])
    section = evaluate_expert_labels(["a.png", "b.png"], np.array([[0.2], [0.3]]), ["Cardiomegaly"],
                                     read_expert_labels(path))
    entry = section["findings"]["Pneumothorax"]
    assert entry["auroc"] is None and entry["components_missing_from_model"] == ["Pneumothorax"]


@pytest.mark.shared_data
def test_the_real_file_reads() -> None:
    labels = read_expert_labels(shared_path("nih-sample", "google2019_nih-chest-xray-labels.csv"))
    assert len(labels) == 4376
    assert labels["00000013_008.png"] == {"Fracture": False, "Pneumothorax": False, "Airspace opacity": True,
                                          "Nodule or mass": False}
