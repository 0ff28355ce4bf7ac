"""The parameter-randomisation sanity check of the Grad-CAM maps (Adebayo et al. 2018).

A saliency map that explains a model must change when the model's learned weights are replaced
by random ones; a map that stays the same shows the image, not what the model learned.
``randomisation_check`` runs the first two steps of Adebayo's cascading randomisation, top down,
on copies of the trained network (the network itself is never changed):

1. ``head``: the linear head (the logits layer) re-initialised;
2. ``head_and_last_block``: the head and the trunk's last block (``last_block``) re-initialised.

Re-initialised means given the weights a freshly built network of the same ``--arch`` has (the
architecture's own initialisation; ``DRAWS`` seeded draws, none the training run's own). On a few
prepared check images it computes every label's Grad-CAM map exactly as the exported pair does
(``ReLU(conv1x1(features, V))`` with ``V`` from ``graphs.gradcam_weights``, at the features'
resolution) for the trained copy and each randomised one, and Spearman's rank correlation
between each trained map and its randomised counterpart, pooled over images, labels and draws.
The check fails when the median correlation of step 2 is above ``MAX_MEDIAN_CORRELATION``
(docs/trainer.md says why step 2 and why 0.5). The export does not stop for it: the result is
recorded and a failure logged.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from scipy.stats import spearmanr
from torch import nn
from torch.nn import functional

from ..errors import TrainerError
from ..evaluation.calibrate import Calibration
from ..models.network import CxrNet, build_model
from .graphs import ExportClassifier, gradcam_weights

log = logging.getLogger(__name__)

CHECK_IMAGES = 8  # prepared images the maps are compared on (the run's first test images)
DRAWS = 3  # re-initialisations pooled: one draw's median moves by ~0.2 from seed to seed
MAX_MEDIAN_CORRELATION = 0.5  # step 2's median Spearman correlation above this fails the check
GATING_STEP = "head_and_last_block"
HEAD = "classifier"  # CxrNet's linear head: the logits layer, where the cascade starts


def last_block(net: CxrNet) -> tuple[str, ...]:
    """The names (in ``net``) of the trunk's last block: its last child module that holds a
    weight of two or more dimensions (a convolution), and every later child with state (the
    normalisation after it, e.g. DenseNet's ``norm5``).

    Children are taken in registration order, which is the order ``nn.Sequential`` runs them:
    DenseNet121's ``denseblock4`` + ``norm5``, a ResNet's ``layer4``, MobileNetV3's last
    Conv-BN-Hardswish, the tiny arch's ``conv2`` + ``norm2``.
    """
    children = _trunk_children(net)
    block = children[_block_start(net):]
    return tuple(".".join(filter(None, ("features", name))) for name, child in block if _has_state(child))


def _trunk_children(net: CxrNet) -> list[tuple[str, nn.Module]]:
    # a trunk that is one module (no children) is its own last block
    return list(net.features.named_children()) or [("", net.features)]


def _block_start(net: CxrNet) -> int:
    """The index, among the trunk's children, where its last block starts."""
    children = _trunk_children(net)
    with_conv = [i for i, (_, child) in enumerate(children) if any(p.dim() >= 2 for p in child.parameters())]
    if not with_conv:
        raise TrainerError(f"arch {net.arch}: its trunk has no convolution (no weight of two or more "
                           "dimensions) to re-initialise for the randomisation check")
    return with_conv[-1]


def _has_state(module: nn.Module) -> bool:
    return any(True for _ in module.parameters()) or any(True for _ in module.buffers())


def randomise(net: CxrNet, fresh: CxrNet, modules: Sequence[str]) -> None:
    """Give ``net``'s ``modules`` (in place) ``fresh``'s weights and BatchNorm statistics."""
    for name in modules:
        net.get_submodule(name).load_state_dict(fresh.get_submodule(name).state_dict())


def fresh_network(net: CxrNet, seed: int) -> CxrNet:
    """A newly initialised network of ``net``'s arch and labels, seeded, without touching the
    caller's random state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_model(net.arch, net.labels).eval()


def gradcam_maps(net: CxrNet, calibration: Calibration, images: np.ndarray) -> np.ndarray:
    """Every label's map [N, L, h, w] for prepared images [N, H, W], as the exported pair computes
    it: the classifier's features, then the sidecar's ReLU(conv1x1(features, V))."""
    with torch.no_grad():
        return maps_of(net, calibration, net.feature_maps(_batch(images)))


def maps_of(net: CxrNet, calibration: Calibration, features: torch.Tensor) -> np.ndarray:
    """The sidecar's maps of ``features`` [N, C, h, w] under ``net``'s head: ReLU of the features
    convolved with ``gradcam_weights`` (post-ReLU, at the features' resolution)."""
    with torch.no_grad():
        kernel = gradcam_weights(ExportClassifier(net, calibration), tuple(features.shape[2:]))  # type: ignore[arg-type]
        return functional.relu(functional.conv2d(features, torch.from_numpy(kernel))).numpy()


def features_and_block_input(net: CxrNet, images: np.ndarray) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``net``'s features of prepared images [N, H, W], and what its last block received (None
    when the trunk is not an ``nn.Sequential``, whose children run in their order)."""
    captured: list[torch.Tensor] = []
    hook = None
    if isinstance(net.features, nn.Sequential):
        hook = net.features[_block_start(net)].register_forward_pre_hook(lambda _, args: captured.append(args[0]))
    try:
        with torch.no_grad():
            features = net.feature_maps(_batch(images))
    finally:
        if hook is not None:
            hook.remove()
    return features, (captured[0] if captured else None)


def features_from_block(net: CxrNet, block_input: torch.Tensor) -> torch.Tensor:
    """The features of a network whose trunk below its last block is the one that produced
    ``block_input``: only the last block and ``act`` run (the second step's saving)."""
    with torch.no_grad():
        return net.act(net.features[_block_start(net):](block_input))  # type: ignore[index]


def _batch(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(images[:, None], np.float32))


def rank_correlations(trained: np.ndarray, randomised: np.ndarray) -> tuple[np.ndarray, int]:
    """Spearman's rho between each pair of maps [N, L, h, w] (ties get average ranks), and the
    number of pairs left out because one map is flat (all zero after the ReLU: it has no ranking)."""
    pixels = trained.shape[2] * trained.shape[3]
    rhos, flat = [], 0
    for a, b in zip(trained.reshape(-1, pixels), randomised.reshape(-1, pixels)):
        if np.ptp(a) == 0 or np.ptp(b) == 0:
            flat += 1
            continue
        rhos.append(float(spearmanr(a, b).statistic))
    return np.asarray(rhos, np.float64), flat


def _step_record(modules: Sequence[str], rhos: list[float], flat: int) -> dict[str, Any]:
    return {
        "randomised": list(modules),
        "maps_compared": len(rhos),
        "flat_maps_left_out": flat,
        "median_correlation": round(float(np.median(rhos)), 4) if rhos else None,
        "max_correlation": round(float(np.max(rhos)), 4) if rhos else None,
    }


def randomisation_check(net: CxrNet, calibration: Calibration, images: np.ndarray, seed: int = 0,
                        draws: int = DRAWS, threshold: float = MAX_MEDIAN_CORRELATION) -> dict[str, Any]:
    """The sanity check's record (``export_checks.json["gradcam_randomisation"]``): for each step
    the modules re-initialised, the median and largest Spearman correlation between trained and
    randomised maps over every image, label and draw, and ``passed``: step 2's median <= ``threshold``.

    ``images`` are prepared images [N, H, W]; draw ``d`` re-initialises with seed ``seed + d``.
    """
    if images.ndim != 3 or len(images) == 0:
        raise TrainerError("the randomisation check needs at least one prepared image [N, H, W]")
    started = time.perf_counter()
    trained = copy.deepcopy(net).cpu().eval()  # the exported network keeps its weights, device and layout
    trained.set_channels_last(False)
    steps = {"head": (HEAD,), GATING_STEP: (HEAD, *last_block(trained))}
    features, block_input = features_and_block_input(trained, images)
    reference = maps_of(trained, calibration, features)
    rhos: dict[str, list[float]] = {step: [] for step in steps}
    flat = dict.fromkeys(steps, 0)

    def compare(step: str, maps: np.ndarray) -> None:
        found, left_out = rank_correlations(reference, maps)
        rhos[step].extend(found.tolist())
        flat[step] += left_out

    work = copy.deepcopy(trained)  # every draw overwrites the same modules of this one copy
    for draw in range(draws):
        fresh = fresh_network(trained, seed + draw)
        # step 1: the trained features under a random head
        randomise(work, fresh, steps["head"])
        compare("head", maps_of(work, calibration, features))
        # step 2: the same random head over the features of a random last block; the trunk below
        # it is the trained one, so only the block runs again
        randomise(work, fresh, steps[GATING_STEP])
        if block_input is None:
            block_features, _ = features_and_block_input(work, images)
        else:
            block_features = features_from_block(work, block_input)
        compare(GATING_STEP, maps_of(work, calibration, block_features))

    records = {step: _step_record(modules, rhos[step], flat[step]) for step, modules in steps.items()}
    median = records[GATING_STEP]["median_correlation"]
    passed = median is not None and median <= threshold
    result: dict[str, Any] = {
        "passed": passed,
        "images": int(len(images)),
        "labels": len(trained.labels),
        "seeds": [seed + draw for draw in range(draws)],
        "gating_step": GATING_STEP,
        "max_median_correlation": threshold,
        "steps": records,
        "seconds": round(time.perf_counter() - started, 2),
    }
    if median is None:
        result["problem"] = "every Grad-CAM map was flat (all zero), so no correlation could be measured"
    elif not passed:
        result["problem"] = (
            f"the Grad-CAM maps barely change when the head and last block are re-initialised: median "
            f"Spearman correlation {median:.3f} > {threshold:g}; they show the image more than what the model learned"
        )
    return result


def log_result(result: dict[str, Any]) -> None:
    """One line in the run's log: the figures, as a warning when the check failed."""
    figures = ", ".join(f"{step} {record['median_correlation']}" for step, record in result["steps"].items())
    if result["passed"]:
        log.info("Grad-CAM randomisation check passed (median Spearman correlation, trained vs randomised: %s; "
                 "limit %g)", figures, result["max_median_correlation"])
    else:
        log.warning("Grad-CAM randomisation check FAILED: %s (median correlations: %s); the model was exported "
                    "anyway, see docs/trainer.md", result["problem"], figures)
