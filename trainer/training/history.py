"""The per-epoch history of a run: ``EpochRecord`` lines, logged and written as ``history.csv``.

``history.csv`` in the run folder is rewritten whole after each epoch (into a ``.tmp``, then
renamed), so a resumed run's file holds every epoch once; the checkpoint carries the same
records, and ``history.json`` is written when training ends.
"""

from __future__ import annotations

import csv
import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass
class EpochRecord:
    """One line of the history."""

    epoch: int
    train_loss: float
    val_loss: float
    val_auroc: float | None
    lr: float
    images_per_second: float
    data_fraction: float  # share of the epoch spent waiting for images
    seconds: float

    def line(self, epochs: int) -> str:
        auroc = "n/a" if self.val_auroc is None else f"{self.val_auroc:.4f}"
        return (f"epoch {self.epoch}/{epochs}  train loss {self.train_loss:.4f}  val loss "
                f"{self.val_loss:.4f}  val AUROC {auroc}  lr {self.lr:.2e}  "
                f"{self.images_per_second:.1f} img/s (waiting for data {self.data_fraction:.0%})  "
                f"{self.seconds:.0f} s")


def write_history_csv(path: Path, history: Sequence[EpochRecord]) -> Path:
    """``history`` as a CSV, one line per epoch (empty cells for no value), replacing ``path`` whole."""
    names = [f.name for f in dataclasses.fields(EpochRecord)]
    tmp = path.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(names)
        for record in history:
            writer.writerow(["" if v is None or (isinstance(v, float) and math.isnan(v)) else
                             (f"{v:.6g}" if isinstance(v, float) else v)
                             for v in (getattr(record, n) for n in names)])
    tmp.replace(path)
    return path
