"""What the original pair says about the local images: raw logits, probabilities, OOD scores.

One pass over the images: each is read and prepared by THE preprocessing at the card's size (as
``Predictor.prepare`` does) and run through an in-memory copy of the classifier that also outputs
its raw logits (``graph.with_raw_logits``). The probabilities are checked against the calibration
the graph applies to those logits, so a wrongly found logit tensor stops here. Unreadable images
are left out and named, never silently.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import onnx
import onnxruntime as ort

from viewer.core.model_card import ModelCard
from viewer.core.ood import OodCheck
from viewer.core.preprocess import preprocess, to_model_batch

from ..data.images import none_readable, prepared_in_chunks
from ..data.labels import Sample
from ..errors import TrainerError
from .graph import PROBABILITIES, CalibrationSite, with_raw_logits

RAW_OUTPUT = "recalibration_raw_logits"
BATCH = 8
CONSISTENCY = 1e-4  # |graph probability - sigmoid(scale * raw + bias)|: the raw logits are the right tensor

Progress = Callable[[int, int], None]


@dataclass
class Scored:
    """Row i is ``samples[i]``: what the original pair computed for each readable image."""

    samples: list[Sample]
    raw: np.ndarray  # [N, L] float32 logits before the calibration
    probabilities: np.ndarray  # [N, L] float32, the pair's output
    ood_scores: np.ndarray  # [N], NaN where the card has no OOD check
    prepared: dict[str, np.ndarray]  # image name -> prepared pixels, for the images asked to keep
    unreadable: dict[str, str] = field(default_factory=dict)


def sigmoid(z: np.ndarray) -> np.ndarray:
    """The logistic function in float64, without overflow warnings for large |z|."""
    z = np.asarray(z, np.float64)
    return np.exp(-np.logaddexp(0.0, -z))


def score_images(classifier: onnx.ModelProto, site: CalibrationSite, card: ModelCard, samples: Sequence[Sample],
                 keep: set[str], keep_first: int = 0, threads: int | None = None,
                 on_progress: Progress | None = None) -> Scored:
    """Raw logits, probabilities and OOD scores of every readable image of ``samples``; the
    prepared pixels of the images named in ``keep``, and of the first ``keep_first`` readable
    ones, are kept."""
    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    session = ort.InferenceSession(with_raw_logits(classifier, site, RAW_OUTPUT).SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    check = OodCheck(card.ood)
    height, width = card.input.height, card.input.width
    kept: list[Sample] = []
    raw, probabilities, scores = [], [], []
    prepared: dict[str, np.ndarray] = {}
    unreadable: dict[str, str] = {}
    for chunk, images in prepared_in_chunks(samples, lambda rg: preprocess(rg, height, width), BATCH, unreadable,
                                            on_progress):
        for position, (sample, image) in enumerate(zip(chunk, images), start=len(kept) + 1):
            scores.append(check.score(image))
            if sample.image_index in keep or position <= keep_first:
                prepared[sample.image_index] = image
        probs, logits = session.run([PROBABILITIES, RAW_OUTPUT], {"image": to_model_batch(images)})
        probabilities.append(probs)
        raw.append(logits)
        kept += chunk
    if not kept:
        raise none_readable(samples, unreadable)
    result = Scored(kept, np.concatenate(raw).astype(np.float32), np.concatenate(probabilities).astype(np.float32),
                    np.asarray(scores, np.float64), prepared, unreadable)
    expected = sigmoid(result.raw * site.scale.astype(np.float64) + site.bias.astype(np.float64))
    difference = float(np.abs(expected - result.probabilities).max())
    if difference > CONSISTENCY:
        raise TrainerError(f"the classifier's probabilities are not sigmoid(scale * logit + bias) of the tensor "
                           f"'{site.logits}' (they differ by {difference:.2e}); the pair cannot be recalibrated "
                           "exactly")
    return result
