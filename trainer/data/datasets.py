"""The torch datasets that feed the model: augmented training images, plain evaluation images.

Both read pixels from a source (``trainer.data.sources``) and pair them with their targets
(``trainer.data.labels``); this is the only module of ``trainer.data`` that imports torch.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from .augment import AugmentConfig, augment, resize_square
from .sources import PixelSource


class TrainImages(Dataset):
    """Augmented training images, [1, size, size] float32 in [0, 1], with their [L] targets.

    The randomness of image ``i`` in epoch ``e`` is seeded by (seed, e, i): the same run gives
    the same batches with any number of workers, and a resumed run continues exactly.
    """

    def __init__(self, source: PixelSource, targets: np.ndarray, size: int,
                 config: AugmentConfig, seed: int = 0, aux: np.ndarray | None = None,
                 mask: np.ndarray | None = None) -> None:
        if len(source) != len(targets) or any(extra is not None and len(extra) != len(targets)
                                               for extra in (aux, mask)):
            raise ValueError("source, targets, auxiliary targets and mask differ in length")
        self.source, self.targets, self.size, self.config, self.seed = source, targets, size, config, seed
        self.aux = aux  # [N, A] auxiliary targets (``aux_matrix``), or None
        self.mask = mask  # [N, L] 0 where a target is unknown (``LabelledImages.mask``), or None: all known
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose augmentation the next pass draws."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, ...]:
        """(image, targets), then the auxiliary targets when the set has them, then the mask when
        it has one."""
        rng = np.random.default_rng([self.seed, self.epoch, i])
        image = augment(self.source[i], self.size, rng, self.config)
        item = (torch.from_numpy(image)[None], torch.from_numpy(self.targets[i]))
        extras = tuple(torch.from_numpy(extra[i]) for extra in (self.aux, self.mask) if extra is not None)
        return (*item, *extras)


class EvalImages(Dataset):
    """Validation/test images exactly as the viewer prepares them, with their targets."""

    def __init__(self, source: PixelSource, targets: np.ndarray, size: int) -> None:
        if len(source) != len(targets):
            raise ValueError("source and targets differ in length")
        self.source, self.targets, self.size = source, targets, size

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        pixels = self.source[i]
        if pixels.dtype != np.float32 or pixels.shape != (self.size, self.size):
            pixels = resize_square(pixels, self.size)  # only for a source at another size
        return torch.from_numpy(np.ascontiguousarray(pixels))[None], torch.from_numpy(self.targets[i])
