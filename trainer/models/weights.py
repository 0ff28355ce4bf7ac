"""Loading a user's local weights file (``--weights``) into a ``CxrNet``, whatever its key names.

Files met in practice: torchvision state dicts (``conv1.weight``/``fc.weight`` for ResNets,
``features.*``/``classifier.*`` for DenseNets), checkpoints of ``nn.DataParallel`` (``module.``
prefixes), CheXNet-style wrappers (``module.densenet121.features...``, a ``classifier.0`` head),
DenseNet files saved before torchvision 0.3 (``norm.1``/``conv.2`` key names) and this trainer's
own checkpoints. Keys are normalised, then matched on their trailing components. The backbone
must fit completely (every tensor present, every shape equal) or the file is refused: a
half-loaded network trains worse than a random one and nobody would notice. The linear head is
loaded only when its shape fits (an ImageNet head has 1000 outputs; it is left random). A file's
own classifier tensors that have no place here (torchvision's MobileNetV3 head is two linear
layers, ``classifier.0`` and ``classifier.3``) are ignored: the head is always replaced.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from viewer.core.errors import one_line

from ..errors import TrainerError
from .network import CxrNet

log = logging.getLogger(__name__)

# torchvision's own fix for DenseNet files from before 0.3 (densenet.py, _load_state_dict).
_OLD_DENSENET = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$"
)
_WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "net", "ema", "model_ema")
_HEAD_PREFIX = "classifier."
_AUX_HEAD_PREFIX = "aux_head."  # cxr-train's training-only head (--aux-weight)
_RESNET_HEAD = "fc."
# a file key naming a classifier head (torchvision: classifier.N / fc; CheXNet: classifier.0; ours: aux_head)
_FILE_HEAD = re.compile(r"(^|\.)(classifier|fc|aux_head)\.")


@dataclass(frozen=True)
class LoadReport:
    """What ``load_weights`` did."""

    loaded: int
    backbone: int
    head_loaded: bool
    ignored: tuple[str, ...]  # file keys that are not model tensors (e.g. num_batches_tracked)

    def summary(self) -> str:
        head = "loaded" if self.head_loaded else "kept random (its shape differs)"
        return f"{self.loaded} tensors loaded ({self.backbone} backbone); linear head {head}"


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a weights file, unwrapped from a checkpoint dict if need be."""
    path = Path(path)
    if not path.is_file():
        raise TrainerError(f"{path}: weights file not found")
    try:
        # weights_only: a weights file must never be able to run code on this machine
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, EOFError, ...
        raise TrainerError(f"{path}: not a PyTorch weights file this trainer can read ({one_line(exc, 200)})") from None
    for _ in range(3):  # {"state_dict": {...}}, {"model": {"state_dict": ...}}
        if isinstance(data, Mapping) and not _is_tensor_dict(data):
            inner = next((data[k] for k in _WRAPPER_KEYS if isinstance(data.get(k), Mapping)), None)
            if inner is None:
                break
            data = inner
    if not isinstance(data, Mapping) or not _is_tensor_dict(data):
        raise TrainerError(f"{path}: holds no state dict of tensors (found {type(data).__name__})")
    return {str(k): v for k, v in data.items() if isinstance(v, torch.Tensor)}


def _is_tensor_dict(data: Mapping) -> bool:
    values = list(data.values())
    return bool(values) and sum(isinstance(v, torch.Tensor) for v in values) >= len(values) / 2


def normalise_key(key: str) -> str:
    """Undo wrapper prefixes and old naming: ``module.norm.1.weight`` -> ``norm1.weight``."""
    while key.startswith("module."):
        key = key[len("module."):]
    match = _OLD_DENSENET.match(key)
    if match:
        key = match.group(1) + match.group(2)
    # CheXNet-style heads are nn.Sequential(Linear, Sigmoid): classifier.0.weight
    return re.sub(r"(^|\.)classifier\.0\.", r"\1classifier.", key)


def _aliases(model: CxrNet) -> dict[str, str]:
    """Names under which each model tensor may appear in a file -> the model's own name."""
    aliases = {}
    for name in model.state_dict():
        aliases[name] = name
        if model.arch.startswith("resnet"):
            if name.startswith("features."):
                aliases[name[len("features."):]] = name  # torchvision: conv1.weight, layer1...
            elif name.startswith(_HEAD_PREFIX):
                aliases[_RESNET_HEAD + name[len(_HEAD_PREFIX):]] = name
    return aliases


def match_keys(model: CxrNet, state: Mapping[str, torch.Tensor]) -> tuple[dict[str, str], list[str]]:
    """Map file keys to model keys; also list the file keys that found no place.

    Exact names (after ``normalise_key``) are matched first, then the remaining keys by their
    longest tail that names a model tensor (``densenet121.features.conv0.weight``). Exact names
    first, so a tail like ``conv1.weight`` of ``layer1.2.conv1.weight`` cannot take the place
    of the real ``conv1.weight``.
    """
    aliases = _aliases(model)
    normalised = {key: normalise_key(key) for key in state}
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    for key, name in normalised.items():
        if name in aliases and aliases[name] not in taken:
            mapping[key] = aliases[name]
            taken.add(aliases[name])
    unmatched = []
    for key, name in normalised.items():
        if key in mapping:
            continue
        parts = name.split(".")
        tails = (".".join(parts[i:]) for i in range(1, len(parts) - 1))
        target = next((aliases[t] for t in tails if t in aliases and aliases[t] not in taken), None)
        if target is None:
            unmatched.append(key)
        else:
            mapping[key] = target
            taken.add(target)
    return mapping, unmatched


def load_weights(model: CxrNet, path: str | Path) -> LoadReport:
    """Load ``path`` into ``model`` in place; ``TrainerError`` if it does not fit the arch."""
    path = Path(path)
    state = read_state_dict(path)
    mapping, unmatched = match_keys(model, state)
    own = model.state_dict()
    # the classifier, and the training-only auxiliary head (which no other program's file has)
    is_head = lambda name: name.startswith((_HEAD_PREFIX, _AUX_HEAD_PREFIX))  # noqa: E731
    optional = lambda name: name.endswith("num_batches_tracked")  # noqa: E731  absent from old files

    backbone_names = [n for n in own if not is_head(n)]
    found = {target: key for key, target in mapping.items()}
    missing = [n for n in backbone_names if n not in found and not optional(n)]
    wrong_shape = [n for n in backbone_names if n in found and tuple(state[found[n]].shape) != tuple(own[n].shape)]
    # extra tensors that look like network weights mean a bigger network of the same family;
    # the file's own head is no part of the backbone, whatever its shape
    extra = [k for k in unmatched if not k.endswith("num_batches_tracked") and state[k].ndim > 0
             and not _FILE_HEAD.search(normalise_key(k))]
    if missing or wrong_shape or extra:
        problems = []
        if missing:
            problems.append(f"{len(missing)} of its {len(backbone_names)} backbone tensors are missing "
                            f"(e.g. {missing[0]})")
        if wrong_shape:
            n = wrong_shape[0]
            problems.append(f"{len(wrong_shape)} have other shapes (e.g. {n}: file "
                            f"{tuple(state[found[n]].shape)}, model {tuple(own[n].shape)})")
        if extra:
            problems.append(f"{len(extra)} file tensors have no place in it (e.g. {extra[0]})")
        raise TrainerError(
            f"{path}: these weights do not fit --arch {model.arch}: " + "; ".join(problems)
            + " (pass the --arch the file was made for, or another weights file)"
        )

    new_state = dict(own)
    for name in backbone_names:
        if name in found:
            new_state[name] = state[found[name]].to(own[name].dtype)
    head_names = [n for n in own if n.startswith(_HEAD_PREFIX)]
    head_loaded = all(n in found and tuple(state[found[n]].shape) == tuple(own[n].shape) for n in head_names)
    aux_names = [n for n in own if n.startswith(_AUX_HEAD_PREFIX)]
    if aux_names and all(n in found and tuple(state[found[n]].shape) == tuple(own[n].shape) for n in aux_names):
        head_names += aux_names  # a checkpoint of a run with the same auxiliary targets
    if head_loaded:
        for name in head_names:
            new_state[name] = state[found[name]].to(own[name].dtype)
    model.load_state_dict(new_state)
    report = LoadReport(
        loaded=sum(1 for n in own if n in found and (not is_head(n) or head_loaded)),
        backbone=sum(1 for n in backbone_names if n in found),
        head_loaded=head_loaded,
        ignored=tuple(unmatched),
    )
    log.info("%s: %s", path.name, report.summary())
    return report
