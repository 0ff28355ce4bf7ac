"""Export: the classifier ONNX and the exact Grad-CAM sidecar, the card in both, checked or removed.

``export_pair`` writes ``NAME.onnx`` and ``NAME.gradcam.onnx`` (the graphs of ``graphs.py``)
with the model card in each, then runs the checks of ``checks.py``; if any check fails the
files are deleted and ``ExportCheckError`` is raised.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch

from viewer.core.model import SIDECAR_SUFFIX
from viewer.core.model_card import ModelCard
from viewer.core.onnx_card import set_card

from ..errors import ExportCheckError
from ..evaluation.calibrate import Calibration
from ..models.network import CxrNet
from .checks import run_checks
from .graphs import ExportClassifier, classifier_proto, gradcam_weights, model_id_of, sidecar_proto

log = logging.getLogger(__name__)


@dataclass
class ExportResult:
    """Where the pair went, its id, and the outcome of every check."""

    classifier_path: Path
    sidecar_path: Path
    model_id: str
    card: ModelCard
    checks: dict[str, Any]


def export_pair(
    net: CxrNet,
    calibration: Calibration,
    card_fields: dict[str, Any],
    out_dir: Path,
    name: str,
    check_images: np.ndarray,
) -> ExportResult:
    """Write ``NAME.onnx`` + ``NAME.gradcam.onnx`` with the card, then check them.

    ``card_fields`` is the card without ``model_id`` (filled in here). ``check_images`` are
    prepared real images [N, H, W] for the comparisons. Raises ``ExportCheckError`` (and
    removes both files) when a check fails.
    """
    size = int(card_fields["input"]["height"])
    net = copy.deepcopy(net).cpu().eval()  # the caller's model keeps its device and layout
    net.set_channels_last(False)
    classifier = ExportClassifier(net, calibration).eval()
    model_id = model_id_of(classifier)
    card = ModelCard.from_dict({**card_fields, "model_id": model_id}, source="the exported model card")
    with torch.no_grad():
        feature_hw = tuple(net.feature_maps(torch.zeros(1, 1, size, size)).shape[2:])

    out_dir.mkdir(parents=True, exist_ok=True)
    classifier_path = out_dir / f"{name}.onnx"
    sidecar_path = out_dir / f"{name}{SIDECAR_SUFFIX}"
    protos = {
        classifier_path: classifier_proto(classifier, size),
        sidecar_path: sidecar_proto(gradcam_weights(classifier, feature_hw), feature_hw),  # type: ignore[arg-type]
    }
    for path, proto in protos.items():
        set_card(proto, card)
        onnx.save(proto, str(path))
    try:
        checks = run_checks(classifier_path, sidecar_path, classifier, check_images)
    except BaseException:
        _remove(classifier_path, sidecar_path)
        raise
    failed = [key for key, result in checks.items() if not result["passed"]]
    if failed:
        _remove(classifier_path, sidecar_path)
        details = "; ".join(f"{key}: {checks[key].get('problem', checks[key])}" for key in failed)
        raise ExportCheckError(f"export of {name} refused, checks failed ({details})")
    log.info("exported %s and %s (model_id %s...), all checks passed", classifier_path.name,
             sidecar_path.name, model_id[:12])
    return ExportResult(classifier_path, sidecar_path, model_id, card, checks)


def _remove(*paths: Path) -> None:
    for path in paths:
        path.unlink(missing_ok=True)
