"""The viewer's VinDr-CXR box names (viewer.core.box_formats, which may not import the trainer)
pair VinDr's classes with NIH's findings as trainer/data/taxonomy.py does."""

from __future__ import annotations

from trainer.data.taxonomy import FINDINGS, name_in
from viewer.core.box_formats import VINDR_FINDINGS, findings_of

# Boxes only: a Nodule/Mass box shows a nodule or a mass; taxonomy does not pair the labels.
BOX_ONLY = {"Nodule/Mass": ("Nodule", "Mass")}


def test_vindr_names_map_to_the_nih_findings_taxonomy_pairs_them_with() -> None:
    checked = 0
    for finding in FINDINGS:
        vindr = name_in("vindr", finding)
        if vindr is None:
            continue
        nih = name_in("nih", finding)
        expected = BOX_ONLY.get(vindr, (nih,) if nih is not None else ())
        assert findings_of(vindr) == expected, (vindr, finding)
        checked += 1
    assert checked >= 14  # every VinDr local label of the Kaggle set


def test_the_box_table_has_no_row_taxonomy_does_not_know() -> None:
    vindr_names = {name_in("vindr", f) for f in FINDINGS}
    assert set(VINDR_FINDINGS) <= vindr_names
    assert set(BOX_ONLY) <= set(VINDR_FINDINGS)
