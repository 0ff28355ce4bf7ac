"""The logits of a model on every image of a dataset, in order: validation, finishing, export checks."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset


@torch.no_grad()
def predict_logits(model: nn.Module, dataset: Dataset, batch_size: int = 32, workers: int = 0) -> np.ndarray:
    """Logits ``[N, L]`` of the model on every item of ``dataset``, in order (eval mode)."""
    was_training = model.training
    model.eval()
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers)
    device = next(model.parameters()).device
    out = [model(images.to(device)).float().cpu().numpy() for images, _ in loader]
    model.train(was_training)
    classifier = getattr(model, "classifier", None)  # a CxrNet's head; other modules may have none
    n_labels = classifier.out_features if classifier is not None else 0
    return np.concatenate(out) if out else np.zeros((0, n_labels), np.float32)
