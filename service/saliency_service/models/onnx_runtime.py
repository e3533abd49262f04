"""The model's ONNX export, run by ONNX Runtime for forward-only work.

A second engine re-checks what torch computes: predictions and every attack's resulting label.
"""

from __future__ import annotations

import io
import logging
import warnings
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

    def __init__(self, model_bytes: bytes, device: torch.device) -> None:
        providers: list[str | tuple[str, dict[str, int]]] = ["CPUExecutionProvider"]
        if device.type == "cuda":
            providers.insert(0, ("CUDAExecutionProvider", {"device_id": device.index or 0}))
        options = ort.SessionOptions()
        options.log_severity_level = 3
        self._session = ort.InferenceSession(model_bytes, options, providers=providers)
        self._input = self._session.get_inputs()[0].name

    def logits(self, images: np.ndarray) -> np.ndarray:
        """Logits for a float32 batch (ORT releases the GIL while it runs)."""
        batch = np.ascontiguousarray(images, dtype=np.float32)
        return np.asarray(self._session.run(None, {self._input: batch})[0])


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
