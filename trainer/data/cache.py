"""The preprocessed-pixel cache: every image decoded once through ``preprocess``, then memory-mapped.

Decoding a 1024x1024 PNG and resizing it costs far more than a training step's augmentation,
so each image is prepared once per (file, size, preprocessing version) and stored as one row of
a flat binary file that training reads through ``numpy.memmap``.

Layout of one cache (a folder under the cache directory)::

    {size}px-{dtype}-{version}/index.json   {"rows": {key: row}, ...}
    {size}px-{dtype}-{version}/pixels.bin   rows of size*size values, appended

``key`` is the absolute path, byte size and modification time of the file, so an edited image is
decoded again; ``version`` hashes the source of the preprocessing modules, so changing how pixels
are prepared never reuses stale pixels. uint8 caches (training: 1/255 steps, the resolution of
the NIH PNGs) are augmented anyway; float32 caches hold ``preprocess`` output bit for bit and
serve validation and test.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib
import inspect
import json
import os
import pkgutil
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np

from viewer.core import display_transforms, loader, preprocess, radiograph
from viewer.core.errors import CxrError
from viewer.core.process_settings import configure_process

from ..errors import TrainerError

DTYPES = {"uint8": np.uint8, "float32": np.float32}
_CHUNK = 16  # images per task handed to a worker process


def preprocessing_version() -> str:
    """A short hash of the code that prepares pixels: a new version invalidates every cache."""
    digest = hashlib.sha256()
    for module in _pixel_modules():
        digest.update(module.__name__.encode("utf-8"))
        digest.update(inspect.getsource(module).encode("utf-8"))
    return digest.hexdigest()[:12]


def _pixel_modules() -> list[ModuleType]:
    """Every module whose code decides a cached pixel: the loader package (each of its
    modules), the display transforms, the preprocessing and the image type."""
    loader_parts = [importlib.import_module(f"{loader.__name__}.{info.name}")
                    for info in sorted(pkgutil.iter_modules(loader.__path__), key=lambda i: i.name)]
    return [loader, *loader_parts, display_transforms, preprocess, radiograph]


def file_key(path: Path) -> str:
    """Identity of one file's content for the cache: absolute path, size, modification time."""
    stat = path.stat()
    return f"{path.absolute()}|{stat.st_size}|{stat.st_mtime_ns}"


def prepare(path: Path, size: int, dtype: str) -> np.ndarray:
    """``preprocess`` at ``size`` x ``size``, stored as ``dtype`` (uint8 rounds to 1/255 steps)."""
    pixels = preprocess.preprocess(path, size, size)
    if dtype == "uint8":
        return np.round(pixels * 255.0).astype(np.uint8)
    return pixels.astype(np.float32, copy=False)


def _prepare_chunk(paths: list[str], size: int, dtype: str) -> list[np.ndarray | str]:
    """Worker task: a prepared array, or the error message, for each path."""
    out: list[np.ndarray | str] = []
    for text in paths:
        try:
            out.append(prepare(Path(text), size, dtype))
        except CxrError as exc:
            out.append(str(exc))
    return out


@dataclass
class CacheReport:
    """What building the cache did: rows reused and decoded, failures, and the decode speed."""

    reused: int
    decoded: int
    seconds: float
    errors: dict[Path, str]

    @property
    def images_per_second(self) -> float:
        return self.decoded / self.seconds if self.seconds > 0 else float("nan")


class PixelCache:
    """One cache of prepared images at one size and dtype."""

    def __init__(self, root: str | os.PathLike[str], size: int, dtype: str = "uint8") -> None:
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {sorted(DTYPES)}")
        self.size = size
        self.dtype = dtype
        self.folder = Path(root) / f"{size}px-{dtype}-{preprocessing_version()}"
        self._np_dtype = np.dtype(DTYPES[dtype])
        self._row_bytes = size * size * self._np_dtype.itemsize

    @property
    def index_path(self) -> Path:
        return self.folder / "index.json"

    @property
    def pixels_path(self) -> Path:
        return self.folder / "pixels.bin"

    def _read_index(self) -> dict[str, int]:
        try:
            data = json.loads(self.index_path.read_text(encoding="utf-8"))
            return {str(k): int(v) for k, v in data["rows"].items()}
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            return {}  # no cache yet, or a damaged index: start afresh (pixels are redecoded)

    def _write_index(self, rows: dict[str, int]) -> None:
        tmp = self.index_path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"size": self.size, "dtype": self.dtype, "rows": rows}), encoding="utf-8")
        os.replace(tmp, self.index_path)  # atomic: a crash never leaves a half-written index

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Two runs sharing a cache directory build it one after the other, never interleaved."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / "lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def ensure(
        self,
        paths: Sequence[Path],
        workers: int = 0,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> tuple[list[int | None], CacheReport]:
        """Make sure every path has a row; return each path's row (None where it failed)."""
        start = time.perf_counter()
        with self._locked():
            rows = self._read_index()
            n_rows = max(rows.values(), default=-1) + 1
            keys = [file_key(p) for p in paths]
            missing = [i for i, key in enumerate(keys) if key not in rows]
            errors: dict[Path, str] = {}
            done = 0
            try:
                self._truncate(n_rows)
                with open(self.pixels_path, "ab") as out:
                    for indices, results in self._decode(paths, missing, workers):
                        for i, result in zip(indices, results):
                            if isinstance(result, str):
                                errors[paths[i]] = result
                                continue
                            out.write(np.ascontiguousarray(result, dtype=self._np_dtype).tobytes())
                            rows[keys[i]] = n_rows
                            n_rows += 1
                        done += len(indices)
                        if on_progress:
                            on_progress(done, len(missing))
                    out.flush()
                    os.fsync(out.fileno())
                if missing:
                    self._write_index(rows)
            except OSError as exc:  # a full or read-only disk: say which folder and what to do
                raise TrainerError(
                    f"{self.folder}: the preprocessed-image cache cannot be written ({exc.strerror or exc}); "
                    "free some space or put the cache elsewhere with --cache-dir"
                ) from None
        report = CacheReport(
            reused=len(paths) - len(missing),
            decoded=len(missing) - len(errors),
            seconds=time.perf_counter() - start,
            errors=errors,
        )
        return [rows.get(key) for key in keys], report

    def _truncate(self, n_rows: int) -> None:
        """Drop bytes past the last indexed row (left by a run that died while appending)."""
        if self.pixels_path.exists() and self.pixels_path.stat().st_size > n_rows * self._row_bytes:
            with open(self.pixels_path, "r+b") as handle:
                handle.truncate(n_rows * self._row_bytes)

    def _decode(
        self, paths: Sequence[Path], missing: list[int], workers: int
    ) -> Iterator[tuple[list[int], list[np.ndarray | str]]]:
        chunks = [missing[i : i + _CHUNK] for i in range(0, len(missing), _CHUNK)]
        if workers <= 1 or len(chunks) <= 1:
            for chunk in chunks:
                yield chunk, _prepare_chunk([str(paths[i]) for i in chunk], self.size, self.dtype)
            return
        # each worker applies the programs' settings (pydicom quiet): a spawned one starts bare
        with ProcessPoolExecutor(max_workers=workers, initializer=configure_process) as pool:
            futures = [
                (chunk, pool.submit(_prepare_chunk, [str(paths[i]) for i in chunk], self.size, self.dtype))
                for chunk in chunks
            ]
            for chunk, future in futures:
                yield chunk, future.result()

    def open(self) -> np.memmap:
        """The cache as a read-only [rows, size, size] array (nothing is read until indexed)."""
        n_rows = self.pixels_path.stat().st_size // self._row_bytes if self.pixels_path.exists() else 0
        if n_rows == 0:  # mmap cannot map an empty file
            return np.zeros((0, self.size, self.size), self._np_dtype)  # type: ignore[return-value]
        return np.memmap(self.pixels_path, dtype=self._np_dtype, mode="r", shape=(n_rows, self.size, self.size))
