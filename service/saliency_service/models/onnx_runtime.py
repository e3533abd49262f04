"""The model's ONNX export, run by ONNX Runtime for forward-only work.

A second engine re-checks what torch computes: predictions and every attack's resulting label.
"""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Sequence
from typing import Any, cast

import numpy as np
import onnxruntime as ort
import torch
from torch import Tensor, nn

log = logging.getLogger(__name__)


class OnnxClassifier:
    """An ONNX Runtime session over the exported pixel-space classifier (normalisation inside).

    Shape:
        input: (N, C, H, W) float32 in [0, 1]; output: (N, num_classes) logits.
    """

    def __init__(
        self,
        model_bytes: bytes,
        device: torch.device,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
    ) -> None:
        """`mean` and `std`: normalise pixels before the session (an ONNX-only model's file
        takes normalised input; exports of the pixel-space classifier have it inside)."""
        providers: list[str | tuple[str, dict[str, int]]] = ["CPUExecutionProvider"]
        if device.type == "cuda":
            providers.insert(0, ("CUDAExecutionProvider", {"device_id": device.index or 0}))
        options = ort.SessionOptions()
        options.log_severity_level = 3
        self._session = ort.InferenceSession(model_bytes, options, providers=providers)
        first = self._session.get_inputs()[0]
        self._input = first.name
        # A file exported with a fixed batch size runs in batches of that size.
        self._batch = first.shape[0] if isinstance(first.shape[0], int) else None
        self._mean = None if mean is None else np.asarray(mean, np.float32).reshape(1, -1, 1, 1)
        self._std = None if std is None else np.asarray(std, np.float32).reshape(1, -1, 1, 1)

    def logits(self, images: np.ndarray) -> np.ndarray:
        """Logits for a float32 batch of pixels (ORT releases the GIL while it runs)."""
        batch = np.asarray(images, dtype=np.float32)
        if self._mean is not None and self._std is not None:
            batch = (batch - self._mean) / self._std
        return self.run(batch)

    def run(self, batch: np.ndarray) -> np.ndarray:
        """The session's output for `batch` as it is (no normalisation)."""
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        if self._batch is None or len(batch) == self._batch:
            return np.asarray(self._session.run(None, {self._input: batch})[0])
        parts = []
        for start in range(0, len(batch), self._batch):
            part = batch[start : start + self._batch]
            padded = np.zeros((self._batch, *batch.shape[1:]), np.float32)
            padded[: len(part)] = part
            parts.append(np.asarray(self._session.run(None, {self._input: padded})[0])[: len(part)])
        return np.concatenate(parts)


def export_onnx(model: nn.Module, height: int, width: int, channels: int) -> bytes:
    """Export `model` (pixels in, logits out) with a dynamic batch dimension."""
    example = torch.rand(2, channels, height, width)
    if any(isinstance(m, torch.jit.ScriptModule) for m in model.modules()):
        return _export_torchscript(model, example)
    batch = torch.export.Dim("batch", min=1, max=4096)
    program = torch.onnx.export(
        model.cpu().eval(),
        (example,),
        dynamo=True,
        input_names=["images"],
        output_names=["logits"],
        dynamic_shapes=({0: batch},),
        verbose=False,
    )
    assert program is not None  # dynamo=True always returns the program
    return bytes(program.model_proto.SerializeToString())


def logit_gap(model: nn.Module, onnx: OnnxClassifier, images: Tensor) -> tuple[float, float]:
    """Largest |torch − ORT| logit difference on `images`: absolute, and relative to max |logit|."""
    with torch.no_grad():
        expected = model(images).float().cpu().numpy()
    got = onnx.logits(images.cpu().numpy())
    gap = float(np.max(np.abs(expected - got)))
    return gap, gap / max(float(np.max(np.abs(expected))), 1e-12)


def _export_torchscript(model: nn.Module, example: Tensor) -> bytes:
    # torch.export cannot trace TorchScript, so these go through the older exporter, which warns
    # that it is deprecated; the warning is about the exporter, not about the user's model.
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # Scripted, the wrapper calls the loaded ScriptModule as a submodule; traced, it cannot.
        torch.onnx.export(
            torch.jit.script(model.cpu().eval()),
            (example,),
            cast(Any, buffer),  # the stubs say a path; a file object works too
            dynamo=False,
            input_names=["images"],
            output_names=["logits"],
            dynamic_axes={"images": {0: "batch"}},
        )
    return buffer.getvalue()
