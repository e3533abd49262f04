"""Forward-only work of the assessment metrics: perturbed copies of images, scored in batches.

Each copy is one work item (a probe): built on the worker from its image (a few tensor
operations), then scored with every other probe of the batch — from any metric, method or
request of the same model — in one forward pass. A batch is at most the model's batch size, so
deadlines, cancellation and preemption act between such short passes.

The pass runs on ONNX Runtime or on the torch replica with folded batch norms, whichever the
first batch on each model and device measured faster (ONNX Runtime's CPU kernels usually win
on the CPU, cuDNN on a GPU); the choice is kept for the life of the server.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from saliency_service.assessment.base import Builder, Scores
from saliency_service.engine.placement import stack_on
from saliency_service.engine.work import BatchKey, Job
from saliency_service.models.loading import LoadedModel


@dataclass(frozen=True)
class Probe:
    """One input to score for `target`: `build()` makes it, (C, H, W) at the model's size."""

    build: Builder
    target: int


@dataclass(frozen=True)
class ProbeScore:
    logit: float
    probability: float
    predicted: int


class ForwardEngines:
    """Scores batches on the faster of ONNX Runtime and torch, per model and device."""

    def __init__(self) -> None:
        self._onnx_faster: dict[tuple[str, str], bool] = {}
        self._lock = threading.Lock()

    def job(self, model: str) -> Job:
        """Every probe of `model` (a `LoadedModel.key`) shares one queue and may share any
        batch."""
        return Job(
            BatchKey(model, "probe", "", ()),
            lambda instance, probes, _rows: self.score(instance, probes),
            chunking="none",
            foldable=True,
        )

    def score(self, model: LoadedModel, probes: Sequence[Probe]) -> list[ProbeScore]:
        """Build and score `probes` in one pass (on a worker thread)."""
        images = stack_on(model.device, [probe.build() for probe in probes])
        targets = torch.tensor([probe.target for probe in probes], device=model.device)
        scores = Scores.of(self._logits(model, images), targets)
        return [
            ProbeScore(float(logit), float(probability), int(predicted))
            for logit, probability, predicted in zip(
                scores.logit.tolist(), scores.probability.tolist(), scores.predicted.tolist(),
                strict=True,
            )
        ]

    def _logits(self, model: LoadedModel, images: Tensor) -> Tensor:
        key = (model.key, str(model.device))
        with self._lock:
            onnx_faster = self._onnx_faster.get(key)
        if onnx_faster is None:
            onnx_faster = _seconds(_onnx(model), images) < _seconds(_torch(model), images)
            with self._lock:
                self._onnx_faster[key] = onnx_faster
        return (_onnx(model) if onnx_faster else _torch(model))(images)


def _onnx(model: LoadedModel) -> Callable[[Tensor], Tensor]:
    def logits(images: Tensor) -> Tensor:
        return torch.from_numpy(model.onnx.logits(images.cpu().numpy())).to(model.device)

    return logits


def _torch(model: LoadedModel) -> Callable[[Tensor], Tensor]:
    def forward(images: Tensor) -> Tensor:
        with torch.no_grad():
            logits: Tensor = model.classifier(images)
        return logits

    return forward


def _seconds(forward: Callable[[Tensor], Tensor], images: Tensor) -> float:
    """The second of two runs (the first pays one-time costs)."""
    seconds = 0.0
    for _ in range(2):
        started = time.perf_counter()
        forward(images)
        if images.device.type == "cuda":
            torch.cuda.synchronize(images.device)
        seconds = time.perf_counter() - started
    return seconds
