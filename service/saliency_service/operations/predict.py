"""Predict: the top-k classes of each image, by ONNX Runtime."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from saliency_service.engine.work import BatchKey, Job
from saliency_service.errors import InvalidRequest
from saliency_service.models.loading import LoadedModel
from saliency_service.operations.calls import ImageInput
from saliency_service.operations.inputs import model_input
from saliency_service.operations.runner import Price

# A forward-only pass costs about a third of a forward+backward one; a class score's bytes.
FORWARD = 1 / 3
SCORE_BYTES = 64
DEFAULT_TOP_K = 5


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


@dataclass(frozen=True)
class PredictPlan:
    """A validated Predict request (see operations/runner.py for what a plan is)."""

    model: LoadedModel
    top_k: int
    row_seconds: float
    max_pixels: int

    @property
    def job(self) -> Job:
        """Top-k classes by ONNX Runtime: forward only, so never split for memory."""
        model, top_k = self.model, self.top_k
        return Job(
            BatchKey(model.key, "predict", "", (("top_k", top_k),)),
            lambda instance, images, _: predict(instance, torch.stack(images), top_k),
            chunking="none",
        )

    def image(self, item: ImageInput) -> ImageInput:
        return item

    def price(self, item: ImageInput, size: tuple[int, int]) -> Price:
        return Price(FORWARD * self.row_seconds, self.top_k * SCORE_BYTES)

    def prepare(self, item: ImageInput) -> Tensor:
        return model_input(self.model, item, self.max_pixels)[0]


def plan_predict(
    model: LoadedModel, top_k: int, row_seconds: float, max_pixels: int
) -> PredictPlan:
    """Check the request-level fields.

    Raises:
        InvalidRequest: `top_k` is out of 0..num_classes (0 asks for the default, 5 at most).
    """
    classes = model.config.num_classes
    if not 0 <= top_k <= classes:
        raise InvalidRequest(f"top_k must be in 0..{classes}, got {top_k}")
    return PredictPlan(model, top_k or min(DEFAULT_TOP_K, classes), row_seconds, max_pixels)
