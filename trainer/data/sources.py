"""Where the datasets' pixels come from: the preprocessed cache, or ``preprocess`` on every access.

Pixels always come from THE preprocessing function of ``viewer.core``: ``CachedSource`` reads
rows a ``PixelCache`` prepared with it (the default), ``DecodeSource`` calls it every time.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from viewer.core.preprocess import preprocess


class PixelSource(Protocol):
    """Prepared pixels of image ``i`` (uint8 0..255 or float32 0..1, square)."""

    def __len__(self) -> int: ...

    def __getitem__(self, i: int) -> np.ndarray: ...


class CachedSource:
    """Rows of a ``PixelCache``; the memory map is opened lazily in each worker process,
    because pickling a ``numpy.memmap`` would copy the whole cache into every worker."""

    def __init__(self, pixels_path: Path, dtype: str, size: int, rows: Sequence[int]) -> None:
        self.pixels_path = Path(pixels_path)
        self.dtype = dtype
        self.size = size
        self.rows = np.asarray(rows, np.int64)
        self._array: np.ndarray | None = None

    def __getstate__(self) -> dict[str, object]:
        state = self.__dict__.copy()
        state["_array"] = None
        return state

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> np.ndarray:
        if self._array is None:
            itemsize = np.dtype(self.dtype).itemsize
            n_rows = self.pixels_path.stat().st_size // (self.size * self.size * itemsize)
            self._array = np.memmap(self.pixels_path, dtype=self.dtype, mode="r",
                                    shape=(n_rows, self.size, self.size))
        return np.array(self._array[self.rows[i]])  # a writable copy: torch refuses read-only arrays


class DecodeSource:
    """``preprocess`` on every access: no cache (slow; the baseline the cache is measured against)."""

    def __init__(self, paths: Sequence[Path], size: int) -> None:
        self.paths = list(paths)
        self.size = size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> np.ndarray:
        return preprocess(self.paths[i], self.size, self.size)
