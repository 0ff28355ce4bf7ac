"""Writing the recalibrated pair beside (never over) the original, and checking it as the
exporter checks its pairs: ``onnx.checker``, the viewer's ``ModelPair.open``, the probabilities
against ``sigmoid(scale * raw + bias)``, and the maps against the original's times the scale
ratio. A pair that fails a check is removed and the command stops.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from viewer.core.errors import ModelContractError, display_name, one_line
from viewer.core.model import ModelPair, sidecar_path_for
from viewer.core.model_card import ModelCard
from viewer.core.onnx_card import set_card
from viewer.core.preprocess import to_model_batch

from ..errors import ExportCheckError, TrainerError

PROBABILITY_TOLERANCE = 1e-5
MAP_TOLERANCE = 1e-4  # relative to the largest map value


def default_out(model: Path) -> Path:
    """``NAME-local.onnx`` beside ``NAME.onnx``."""
    return model.with_name(f"{model.name.removesuffix('.onnx')}-local.onnx")


def check_out(model: Path, out: Path, force: bool) -> None:
    """Refuse an output that is (or pairs with) the original's files, or that exists without
    ``force``; the original pair is never written to."""
    if not out.name.endswith(".onnx") or out.name.endswith(".gradcam.onnx"):
        raise TrainerError(f"{out}: --out must be NEW.onnx (its NEW.gradcam.onnx is written beside it)")
    originals = {model.resolve(), sidecar_path_for(model).resolve()}
    for path in (out, sidecar_path_for(out)):
        same = path.resolve() in originals or any(
            path.exists() and original.exists() and os.path.samefile(path, original) for original in originals)
        if same:
            raise TrainerError(f"{path}: is the original pair's file; the original is kept: pass another --out")
        if path.exists() and not force:
            raise TrainerError(f"{path}: already exists (pass --force to replace it, or another --out)")
    if not out.parent.is_dir():
        raise TrainerError(f"{out.parent}: folder not found (for --out)")


@dataclass(frozen=True)
class Reference:
    """What the new pair must compute on a few prepared images."""

    images: list[np.ndarray]
    probabilities: np.ndarray  # [n, L] sigmoid(new scale * raw + new bias)
    heatmaps: np.ndarray  # [n, L, h, w] the original pair's maps
    ratio: np.ndarray  # [L] new scale / old scale


def write_pair(classifier: onnx.ModelProto, sidecar: onnx.ModelProto, card: ModelCard, out: Path,
               reference: Reference) -> dict[str, Any]:
    """Save both files with ``card`` (through temporary names, so no half-written pair is left),
    then check them; returns the checks' figures. Raises ``ExportCheckError`` (files removed)."""
    paths = (out, sidecar_path_for(out))
    partial = [path.with_name(f".partial-{path.name}") for path in paths]
    try:
        for proto, path in zip((classifier, sidecar), partial):
            set_card(proto, card)
            onnx.save(proto, str(path))
        for path, final in zip(partial, paths):
            os.replace(path, final)
    finally:
        for path in partial:
            path.unlink(missing_ok=True)
    try:
        return check_pair(out, reference)
    except BaseException:
        for path in paths:
            path.unlink(missing_ok=True)
        raise


def check_pair(out: Path, reference: Reference) -> dict[str, Any]:
    """The written pair's checks; ``ExportCheckError`` when one fails."""
    for path in (out, sidecar_path_for(out)):
        try:
            onnx.checker.check_model(str(path), full_check=True)
        except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
            raise ExportCheckError(f"{display_name(path.name)}: onnx.checker refused it ({one_line(exc)})") from None
    try:
        pair = ModelPair.open(out, threads=1)
    except ModelContractError as exc:
        raise ExportCheckError(f"the viewer refuses the recalibrated pair ({exc})") from None
    probabilities, features = pair.classify(to_model_batch(reference.images))
    heatmaps = pair.gradcam(features)
    probability_diff = float(np.abs(probabilities - reference.probabilities).max())
    expected = reference.heatmaps * reference.ratio[None, :, None, None]
    map_diff = float(np.abs(heatmaps - expected).max()) / max(float(np.abs(expected).max()), 1e-12)
    if probability_diff > PROBABILITY_TOLERANCE or map_diff > MAP_TOLERANCE:
        raise ExportCheckError(
            f"the recalibrated pair does not compute what was fitted: probabilities differ by {probability_diff:.2e} "
            f"(tolerance {PROBABILITY_TOLERANCE:g}), maps by {map_diff:.2e} (relative, tolerance {MAP_TOLERANCE:g})")
    return {"onnx_checker": True, "viewer_opens": True, "images": len(reference.images),
            "max_abs_diff_probabilities": probability_diff, "max_rel_diff_heatmaps": map_diff}
