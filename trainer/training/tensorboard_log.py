"""Optional TensorBoard logs of a run: losses, validation AUROCs, learning rate, speed, Grad-CAM.

The training loop calls ``TensorBoardLog.epoch`` once per epoch. Scalars, with the epoch as
TensorBoard's step:

* ``loss/train``, ``loss/val``, ``auroc/mean``, ``auroc/<label>`` for every label with a value,
  ``lr`` (the learning rate the epoch started with), ``speed`` (training images per second).
  A value that is None or not finite (no validation split, a label without positives) is left
  out, so the chart has a gap rather than a made-up point.

Grad-CAM images, ``gradcam/<i>`` for each fixed validation image i: the map of the image's most
probable finding over the grey image in colour, with the finding and its probability written in
a caption band above it (the tag stays the same from epoch to epoch, so TensorBoard's step slider
shows how one image's map develops). The map is computed here in PyTorch as the exported sidecar
does (``trainer.export.graphs``): the gradient of that finding's logit with respect to
``CxrNet.feature_maps``, its spatial mean as channel weights, ReLU of the weighted sum; then
upsampled and normalised by ``viewer.core.heatmap``, the same steps the viewer draws with. The
probability is the sigmoid of the model's logit, before any calibration.

``tensorboard`` is an optional dependency (the ``tensorboard`` extra): without it, constructing
a ``TensorBoardLog`` raises ``TrainerError`` saying what to install.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import cv2
import numpy as np
import torch

from viewer.core.heatmap import normalize_to_uint8, upsample

from ..errors import TrainerError
from ..models.network import CxrNet

INSTALL_HINT = "pip install 'cxr-viewer[tensorboard]' (or pip install tensorboard)"
# The overlay as in the gallery (trainer/report/gallery.py): jet, opacity 0.6 at the map's maximum, none at zero.
COLORMAP = "jet"
OVERLAY_OPACITY = 0.6


@dataclass(frozen=True)
class TopFindingCam:
    """Grad-CAM of each image's most probable finding.

    ``maps`` [N, H, W] uint8 (the map upsampled to the image and min-max normalised to 0..255, all
    zero where the ReLU left nothing), ``labels`` [N] the finding's index, ``probabilities`` [N].
    """

    maps: np.ndarray
    labels: np.ndarray
    probabilities: np.ndarray


def top_finding_gradcam(model: CxrNet, images: np.ndarray) -> TopFindingCam:
    """Grad-CAM of the most probable finding of each prepared image ``[N, 1, H, W]`` in [0, 1].

    Runs the model in eval mode on its own device and layout, with gradients only for the
    feature maps (never for the weights, whose ``.grad`` stays untouched), and puts the model
    back in the mode it was in.
    """
    if images.ndim != 4 or images.shape[1] != 1:
        raise ValueError(f"Grad-CAM needs prepared images [N, 1, H, W], got shape {images.shape}")
    parameter = next(model.parameters())
    was_training = model.training
    model.eval()
    try:
        x = torch.as_tensor(images).to(device=parameter.device, dtype=parameter.dtype)
        with torch.no_grad():
            features = model.feature_maps(x)
        with torch.enable_grad():
            features = features.detach().requires_grad_(True)
            logits = model.head(features)
            top = logits.detach().argmax(dim=1)
            chosen = logits.gather(1, top[:, None]).sum()  # each image's logit depends on it alone
            (gradient,) = torch.autograd.grad(chosen, features)
        with torch.no_grad():
            alpha = gradient.mean(dim=(2, 3), keepdim=True)
            cams = torch.relu((alpha * features).sum(dim=1)).float().cpu().numpy()
            probabilities = torch.sigmoid(logits.detach().gather(1, top[:, None])[:, 0]).float().cpu().numpy()
    finally:
        model.train(was_training)
    height, width = images.shape[2:]
    maps = np.stack([normalize_to_uint8(upsample(cam, height, width)) for cam in cams])
    return TopFindingCam(maps, top.cpu().numpy(), probabilities)


def overlay(grey: np.ndarray, heatmap: np.ndarray) -> np.ndarray:
    """A grey image [H, W] in [0, 1] with a uint8 heatmap [H, W] over it: RGB uint8 [H, W, 3]."""
    import matplotlib

    weight = heatmap.astype(np.float32)[..., None] / 255.0
    colour = matplotlib.colormaps[COLORMAP](heatmap)[..., :3].astype(np.float32)
    alpha = OVERLAY_OPACITY * weight
    rgb = np.clip(grey, 0.0, 1.0)[..., None] * (1.0 - alpha) + colour * alpha
    return np.rint(rgb * 255.0).astype(np.uint8)


def caption_height(width: int) -> int:
    """Height in pixels of the caption band above an image ``width`` pixels wide."""
    return max(12, round(width * 0.08))


def with_caption(image: np.ndarray, text: str) -> np.ndarray:
    """``image`` [H, W, 3] uint8 below a black band with ``text`` in white, shrunk to fit."""
    width = image.shape[1]
    band = np.zeros((caption_height(width), width, 3), np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX
    (text_width, text_height), baseline = cv2.getTextSize(text, font, 1.0, 1)
    scale = min((width - 4) / text_width, (len(band) - 4) / (text_height + baseline))
    bottom = len(band) - 2 - round(baseline * scale)
    cv2.putText(band, text, (2, bottom), font, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return np.concatenate([band, image])


class TensorBoardLog:
    """One run's TensorBoard event files in ``folder``; ``epoch`` once per epoch, then ``close``.

    ``gradcam_images``: a few fixed validation images, prepared ``[N, 1, H, W]`` float32 in
    [0, 1], shown with their Grad-CAM every epoch a model is passed. ``purge_step``: when a run
    is resumed after epoch k, pass k + 1 so events an interrupted run wrote for later epochs are
    dropped (``SummaryWriter``'s option of that name).
    """

    def __init__(
        self,
        folder: Path,
        labels: Sequence[str],
        gradcam_images: np.ndarray | None = None,
        *,
        purge_step: int | None = None,
    ) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as exc:
            raise TrainerError(
                f"TensorBoard logs need the tensorboard package, which could not be imported ({exc}); "
                f"install it: {INSTALL_HINT}"
            ) from None
        self.labels = tuple(labels)
        if gradcam_images is not None:
            gradcam_images = np.ascontiguousarray(gradcam_images, np.float32)
            if gradcam_images.ndim != 4 or gradcam_images.shape[1] != 1:
                raise ValueError(f"gradcam_images must be prepared images [N, 1, H, W], got shape "
                                 f"{gradcam_images.shape}")
            if len(gradcam_images) == 0:
                gradcam_images = None
        self.gradcam_images = gradcam_images
        self.folder = Path(folder)
        self.writer: Any = SummaryWriter(log_dir=str(self.folder), purge_step=purge_step)
        self.closed = False

    def epoch(
        self,
        epoch: int,
        *,
        train_loss: float,
        val_loss: float,
        val_auroc: Mapping[str, float | None],
        mean_auroc: float | None,
        lr: float,
        images_per_second: float,
        model: CxrNet | None = None,
    ) -> None:
        """Log one epoch at step ``epoch`` (the trainer's 1-based ``EpochRecord.epoch``).

        ``val_auroc`` maps labels to their validation AUROC (None: not defined); a label not in
        ``labels`` is an error. With ``model`` and ``gradcam_images``, the Grad-CAM images too.
        """
        if self.closed:
            raise RuntimeError("this TensorBoardLog is closed")
        unknown = sorted(set(val_auroc) - set(self.labels))
        if unknown:
            raise ValueError(f"val_auroc has labels the log was not made for: {', '.join(unknown)}")
        scalars: dict[str, float | None] = {
            "loss/train": train_loss,
            "loss/val": val_loss,
            "auroc/mean": mean_auroc,
            **{f"auroc/{label}": val_auroc.get(label) for label in self.labels},
            "lr": lr,
            "speed": images_per_second,
        }
        for tag, value in scalars.items():
            if value is not None and math.isfinite(value):
                self.writer.add_scalar(tag, float(value), global_step=epoch)
        if model is not None and self.gradcam_images is not None:
            self._gradcam(epoch, model)
        self.writer.flush()

    def _gradcam(self, epoch: int, model: CxrNet) -> None:
        model_labels = tuple(getattr(model, "labels", self.labels))
        if model_labels != self.labels:
            raise ValueError("the model's labels differ from the labels the log was made for")
        assert self.gradcam_images is not None
        cam = top_finding_gradcam(model, self.gradcam_images)
        for i, image in enumerate(self.gradcam_images):
            label = self.labels[int(cam.labels[i])]
            picture = with_caption(overlay(image[0], cam.maps[i]), f"{label} p={cam.probabilities[i]:.2f}")
            self.writer.add_image(f"gradcam/{i}", picture, global_step=epoch, dataformats="HWC")

    def close(self) -> None:
        """Write out everything and close the event file (again: nothing happens)."""
        if not self.closed:
            self.writer.close()
            self.closed = True

    def __enter__(self) -> TensorBoardLog:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()
