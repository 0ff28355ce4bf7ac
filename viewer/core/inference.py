"""The one place images meet the model: probabilities, flags, all heatmaps and the OOD check.

``Predictor`` opens the model pair lazily (``ModelPair`` owns the ONNX Runtime sessions), prepares
images with THE preprocessing function at the card's input size, and returns ``findings.Findings``: plain
numpy, read-only, safe to share between threads. One classifier run and one Grad-CAM sidecar run
give every label's probability and map at once; maps stay at feature resolution (7x7 for
DenseNet121 at 224) and are upsampled only when shown (``heatmap.upsample``). Results are cached
per image (path + modification time + size) in a bounded LRU cache, so stepping back to an
image, or switching the finding shown, recomputes nothing.

Operating points. A finding is flagged by the rule of ``findings.flags_at`` (probability ``>=``
threshold; the card's thresholds were chosen on the validation split). ``adjusted_thresholds``
moves all thresholds with one sensitivity setting s in [-1, 1] (0 = the card's):

* when the card carries each label's validation ROC (``thresholds["roc"][label]`` with lists
  ``threshold``, ``tpr``, ``fpr``, as ``sklearn.metrics.roc_curve(..., drop_intermediate=False)``
  gives them minus its first, infinite threshold; a thinned curve gives approximate operating
  points), each label moves along its own curve: the target true-positive rate is
  ``tpr0 + s (1 - tpr0)`` for s > 0 and ``tpr0 (1 + s)`` for s < 0, where tpr0 is the rate at the
  card's threshold, and the new threshold is the highest one reaching that rate. Labels thus
  gain sensitivity in proportion to what they have left, whatever their prevalence;
* otherwise every threshold is shifted in logit space by ``-LOGIT_RANGE * s`` (s = 1 divides the
  odds needed to flag by e^3 = 20), which keeps thresholds in (0, 1) and treats rare and common
  labels alike, unlike adding a constant to the probability.
"""

from __future__ import annotations

import math
import os
import threading
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ModelContractError, display_name
from .findings import Findings, flags_at, read_only
from .loader import load_radiograph
from .model import ModelPair, RunStop
from .model_card import ModelCard
from .ood import OodCheck, OodError
from .preprocess import preprocess, to_model_batch
from .radiograph import Radiograph

LOGIT_RANGE = 3.0
MAX_BATCH = 8  # images per ONNX Runtime call in predict_batch: bounds memory, keeps the speed-up
NO_OOD_NOTE = "this model's card has no out-of-distribution check: any image gets findings"

Source = Radiograph | str | os.PathLike[str]


def adjusted_thresholds(card: ModelCard, sensitivity: float) -> np.ndarray:
    """All thresholds [L] moved by one sensitivity setting in [-1, 1]; 0 gives the card's.

    Positive = more sensitive (lower thresholds, more flags). Along each label's validation ROC
    when the card has it (``thresholds["roc"]``), else by a shift in logit space (module doc).
    """
    if not -1.0 <= sensitivity <= 1.0 or math.isnan(sensitivity):
        raise ValueError(f"sensitivity must be between -1 and 1, got {sensitivity}")
    base = card.threshold_values()
    if sensitivity == 0.0:
        return np.array([base[label] for label in card.labels], np.float32)
    roc = card.thresholds.get("roc")
    curves: dict[str, Any] = roc if isinstance(roc, dict) else {}
    out = []
    for label in card.labels:
        curve = _roc_curve(curves.get(label))
        out.append(
            _along_roc(curve, base[label], sensitivity) if curve is not None else _logit_shift(base[label], sensitivity)
        )
    return np.array(out, np.float32)


def _logit_shift(threshold: float, sensitivity: float) -> float:
    t = min(max(threshold, 1e-6), 1.0 - 1e-6)
    logit = math.log(t / (1.0 - t)) - LOGIT_RANGE * sensitivity
    return 1.0 / (1.0 + math.exp(-logit))


def _roc_curve(entry: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """(thresholds descending, tpr) from a card's ROC entry, or None when it is unusable."""
    if not isinstance(entry, dict):
        return None
    try:
        thresholds = np.asarray(entry["threshold"], np.float64)
        tpr = np.asarray(entry["tpr"], np.float64)
    except (KeyError, TypeError, ValueError):
        return None
    keep = np.isfinite(thresholds) & np.isfinite(tpr)
    thresholds, tpr = thresholds[keep], tpr[keep]
    if thresholds.ndim != 1 or thresholds.shape != tpr.shape or thresholds.size < 2:
        return None
    order = np.argsort(-thresholds, kind="stable")
    # the true-positive rate can only grow as the threshold falls; enforce it against rounding
    return thresholds[order], np.maximum.accumulate(tpr[order])


def _along_roc(curve: tuple[np.ndarray, np.ndarray], threshold: float, sensitivity: float) -> float:
    thresholds, tpr = curve
    reached = thresholds >= threshold
    tpr0 = float(tpr[reached].max()) if reached.any() else 0.0
    target = tpr0 + sensitivity * (1.0 - tpr0) if sensitivity > 0 else tpr0 * (1.0 + sensitivity)
    enough = np.nonzero(tpr >= target - 1e-12)[0]
    # the highest threshold that reaches the target rate (thresholds are descending)
    chosen = float(thresholds[enough[0]]) if enough.size else float(thresholds[-1])
    return min(max(chosen, 0.0), 1.0)


def image_key(path: str | os.PathLike[str]) -> tuple[str, int, int]:
    """Cache key of an image file: absolute path, modification time (ns) and size.

    A file replaced in place gets a new key. Raises ``OSError`` when the file cannot be stat'ed.
    """
    absolute = Path(os.fspath(path)).absolute()
    status = absolute.stat()
    return str(absolute), status.st_mtime_ns, status.st_size


class Predictor:
    """Runs one model on images; lazily opened, thread-safe, with a bounded per-image cache.

    ``model_path`` is ``NAME.onnx`` with ``NAME.gradcam.onnx`` beside it. Anything wrong with the
    model raises ``ModelContractError`` on first use (or at once from ``Predictor.open``).
    """

    def __init__(self, model_path: str | os.PathLike[str], threads: int | None = None, cache_size: int = 32,
                 providers: Sequence[str] | None = None) -> None:
        if cache_size < 0:
            raise ValueError("cache_size must be >= 0 (0 disables the cache)")
        self.model_path = Path(os.fspath(model_path))
        self.threads = threads
        self.providers = tuple(providers) if providers else None  # None: CUDA when usable, else the CPU
        self.cache_size = cache_size
        self._model: ModelPair | None = None
        self._ood: OodCheck | None = None
        self._thresholds: np.ndarray | None = None
        self._open_lock = threading.Lock()
        self._cache: OrderedDict[Hashable, Findings] = OrderedDict()
        self._cache_lock = threading.Lock()
        self.cache_hits = 0
        self.cache_misses = 0

    @classmethod
    def open(cls, model_path: str | os.PathLike[str], threads: int | None = None, cache_size: int = 32,
             providers: Sequence[str] | None = None) -> Predictor:
        """A predictor whose model is opened (and checked) now rather than on first use."""
        predictor = cls(model_path, threads, cache_size, providers)
        predictor.model  # noqa: B018 - opening is the point
        return predictor

    # -- the model ------------------------------------------------------------------------------
    @property
    def model(self) -> ModelPair:
        """The opened model pair (opened on first access)."""
        if self._model is None:
            with self._open_lock:
                if self._model is None:  # another thread may have opened it meanwhile
                    model = ModelPair.open(self.model_path, self.threads, self.providers)
                    try:
                        self._ood = OodCheck(model.card.ood)
                    except OodError as exc:
                        raise ModelContractError(f"{display_name(self.model_path.name)}: {exc}") from None
                    values = model.card.threshold_values()
                    self._thresholds = read_only(np.array([values[x] for x in model.card.labels], np.float32))
                    self._model = model
        return self._model

    @property
    def is_open(self) -> bool:
        return self._model is not None

    @property
    def card(self) -> ModelCard:
        return self.model.card

    @property
    def labels(self) -> tuple[str, ...]:
        return self.model.card.labels

    @property
    def input_size(self) -> tuple[int, int]:
        """(height, width) of the model's input."""
        spec = self.model.card.input
        return spec.height, spec.width

    # -- preparing and predicting ----------------------------------------------------------------
    def prepare(self, source: Source) -> np.ndarray:
        """THE preprocessing at the card's input size: float32 [H, W] in [0, 1]."""
        height, width = self.input_size
        return preprocess(source, height, width)

    def predict(self, source: Source, key: Hashable | None = None, *, stop: RunStop | None = None) -> Findings:
        """Findings for one image (a path or a loaded ``Radiograph``), from the cache when it can.

        ``key`` identifies the image in the cache; by default the file's path, modification
        time and size. Raises ``ImageLoadError`` for unreadable images, ``model.RunStopped``
        when ``stop`` ends the model's run (another thread no longer wants the result).
        """
        if key is None:
            key = self._default_key(source)
        cached = self._cache_get(key)
        if cached is not None:
            return cached
        # load here rather than in preprocess so the loader's notes (colour converted, first
        # frame of several...) travel with the findings
        radiograph = source if isinstance(source, Radiograph) else load_radiograph(Path(os.fspath(source)))
        findings = self.predict_prepared(self.prepare(radiograph), stop=stop)
        if radiograph.notes:
            findings = replace(findings, notes=tuple(radiograph.notes) + findings.notes)
        self._cache_put(key, findings)
        return findings

    def predict_prepared(self, prepared: np.ndarray, *, stop: RunStop | None = None) -> Findings:
        """Findings for one prepared image [H, W] (from ``prepare``); not cached."""
        if stop is None:
            return self.predict_batch([prepared])[0]
        return self.predict_batch([prepared], stop=stop)[0]

    def predict_batch(self, prepared: Sequence[np.ndarray], *, stop: RunStop | None = None) -> list[Findings]:
        """Findings for several prepared images, ``MAX_BATCH`` per ONNX Runtime call."""
        model = self.model
        height, width = self.input_size
        for i, image in enumerate(prepared):
            if np.shape(image) != (height, width):
                raise ValueError(
                    f"prepared image {i} has shape {np.shape(image)}, the model needs ({height}, {width}); "
                    "use Predictor.prepare"
                )
        results: list[Findings] = []
        for start in range(0, len(prepared), MAX_BATCH):
            chunk = list(prepared[start : start + MAX_BATCH])
            stops = (stop,) if stop is not None else ()  # passed only when given: stand-ins of ModelPair take none
            probabilities, features = model.classify(to_model_batch(chunk), *stops)
            heatmaps = model.gradcam(features, *stops)
            results += [self._findings(x, p, h) for x, p, h in zip(chunk, probabilities, heatmaps)]
        return results

    def _findings(self, prepared: np.ndarray, probabilities: np.ndarray, heatmaps: np.ndarray) -> Findings:
        assert self._ood is not None and self._thresholds is not None  # set with the model
        labels = self.labels
        thresholds = self._thresholds
        probabilities = np.asarray(probabilities, np.float32)
        score = self._ood.score(prepared)
        flag = self._ood.flag(score)
        notes: tuple[str, ...] = ()
        if not self._ood.enabled:
            notes = (NO_OOD_NOTE,)
        elif flag:
            notes = (
                f"does not look like a frontal chest X-ray (OOD score {score:.2f} > {self._ood.threshold:.2f}): "
                "the findings are not meaningful for this image",
            )
        return Findings(
            labels=labels,
            probabilities=read_only(probabilities),
            thresholds=thresholds,
            flags=read_only(flags_at(probabilities, thresholds)),
            heatmaps=read_only(np.asarray(heatmaps, np.float32)),
            ood_score=score,
            ood_flag=flag,
            notes=notes,
        )

    # -- the cache --------------------------------------------------------------------------------
    @staticmethod
    def _default_key(source: Source) -> Hashable:
        path = source.path if isinstance(source, Radiograph) else source
        frame = source.frame_index if isinstance(source, Radiograph) else 0  # a multi-frame file's frames differ
        try:
            return (*image_key(path), frame)
        except OSError:
            # unreadable: preprocess will raise the proper ImageLoadError; never cache it
            return None

    def _cache_get(self, key: Hashable | None) -> Findings | None:
        if key is None or self.cache_size == 0:
            return None
        with self._cache_lock:
            found = self._cache.get(key)
            if found is None:
                self.cache_misses += 1
                return None
            self._cache.move_to_end(key)
            self.cache_hits += 1
            return found

    def _cache_put(self, key: Hashable | None, findings: Findings) -> None:
        if key is None or self.cache_size == 0:
            return
        with self._cache_lock:
            self._cache[key] = findings
            self._cache.move_to_end(key)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)

    def cached_keys(self) -> list[Hashable]:
        """Keys in the cache, least recently used first."""
        with self._cache_lock:
            return list(self._cache)
