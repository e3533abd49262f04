"""Class scores by ONNX Runtime."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from torch import Tensor

from saliency_service.models.loading import LoadedModel


@dataclass(frozen=True)
class ClassScore:
    index: int
    label: str
    logit: float
    probability: float


def predict(model: LoadedModel, images: Tensor, top_k: int) -> list[list[ClassScore]]:
    """The `top_k` best classes per image, best first.

    Shape:
        images: (N, C, H, W) in [0, 1] at the model's input size.
    """
    logits = model.onnx.logits(images.cpu().numpy()).astype(np.float64)
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities = shifted / shifted.sum(axis=1, keepdims=True)
    order = np.argsort(-logits, axis=1, kind="stable")[:, :top_k]
    labels = model.config.labels
    return [
        [ClassScore(int(c), labels[c], float(row_logits[c]), float(row_probs[c])) for c in row]
        for row, row_logits, row_probs in zip(order, logits, probabilities, strict=True)
    ]
