"""The label taxonomy, and the mask beside the targets (NIH's is all ones)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from trainer.data.chexpert import CHEXPERT_LABELS
from trainer.data.labels import Sample, mask_matrix
from trainer.data.nih import load_labelled_images
from trainer.data.taxonomy import FINDINGS, finding_of, label_map, name_in
from viewer.core.nih import NIH_LABELS


def test_every_nih_and_chexpert_label_is_in_the_table() -> None:
    assert sorted(f for f in FINDINGS if name_in("nih", f)) == sorted(NIH_LABELS)
    assert {name_in("chexpert", f) for f in FINDINGS} - {None} == set(CHEXPERT_LABELS)
    assert name_in("mimic", "Effusion") == "Pleural Effusion"
    assert finding_of("vindr", "pleural EFFUSION") == "Effusion" and finding_of("nih", "Infiltrate") is None


def test_chexpert_onto_an_nih_model() -> None:
    mapping = label_map(CHEXPERT_LABELS, "chexpert", NIH_LABELS, "nih")
    paired = {t for t, s in zip(NIH_LABELS, mapping.source_of) if s is not None}
    assert paired == {"Atelectasis", "Cardiomegaly", "Effusion", "Pneumonia", "Pneumothorax", "Consolidation", "Edema"}
    assert "Infiltration" in mapping.unmatched_targets
    assert set(mapping.unmatched_sources) == {"Enlarged Cardiomediastinum", "Lung Opacity", "Lung Lesion",
                                              "Pleural Other", "Fracture", "Support Devices"}
    targets = np.zeros((2, len(CHEXPERT_LABELS)), np.float32)
    targets[0, CHEXPERT_LABELS.index("Pleural Effusion")] = 1
    mask = np.ones_like(targets)
    mask[1, CHEXPERT_LABELS.index("Pleural Effusion")] = 0  # uncertain under ignore
    model_targets, model_mask = mapping.apply(targets, mask)
    effusion, infiltration = NIH_LABELS.index("Effusion"), NIH_LABELS.index("Infiltration")
    assert model_targets[:, effusion].tolist() == [1, 0] and model_mask[:, effusion].tolist() == [1, 0]
    assert model_mask[:, infiltration].tolist() == [0, 0]  # not annotated: masked, not negative
    assert model_targets.shape == model_mask.shape == (2, 14)


def test_unknown_names_pair_only_with_themselves_and_unknown_datasets_are_refused() -> None:
    mapping = label_map(["Tuberculosis", "Effusion"], "nih", ["tuberculosis", "Pleural effusion"], "vindr")
    assert mapping.source_of == (0, 1)
    with pytest.raises(ValueError, match="unknown dataset"):
        name_in("openi", "Effusion")


def test_nih_is_all_annotated(tiny_data: Path) -> None:
    table = load_labelled_images(tiny_data)
    assert table.annotated is None and table.uncertainty is None
    mask = table.mask([0, 1, 2])
    assert mask.shape == (3, 14) and mask.dtype == np.float32 and mask.min() == 1


def test_mask_matrix_masks_unannotated_and_masked_labels() -> None:
    samples = [Sample(Path("a.png"), "a.png", 1, ("A",), "PA", masked=("B",)),
               Sample(Path("b.png"), "b.png", 2, (), "PA")]
    assert mask_matrix(samples, ("A", "B", "C"), annotated=("A", "B")).tolist() == [[1, 0, 0], [1, 1, 0]]
