"""Fixtures of the trainer tests: few torch threads, tiny generated NIH-like data, a tiny config."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.trainer.synthetic import make_dataset
from trainer.config import TrainConfig


@pytest.fixture(autouse=True)
def _few_threads() -> None:
    # the machine's cores are shared with other people's work: tests stay on one thread
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """48 generated 64 px images of 24 patients with every finding, and their Data_Entry CSV.

    Shared by the session: tests must not modify it (copy it first).
    """
    return make_dataset(tmp_path_factory.mktemp("nih") / "nih")


@pytest.fixture
def tiny_config(tiny_data: Path, tmp_path: Path) -> TrainConfig:
    """A configuration that trains the tiny arch at 64 px in about a second."""
    return TrainConfig(
        data=str(tiny_data), out=str(tmp_path / "run"), arch="tiny", size=64, epochs=2, batch_size=8,
        warmup_epochs=0.5, bootstrap=50, gallery=0, threads=1, log_every=0, ood_sample=100,
    )
