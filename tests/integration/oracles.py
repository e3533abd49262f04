"""Independent oracles for the demo model's answers: its network and an ONNX Runtime session,
both built here from the committed weights, not taken from the server."""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable

import numpy as np
import onnxruntime as ort
import safetensors.torch
import torch
from saliency_service.config import DEMO_REPOSITORY
from saliency_service.models.classifier import Classifier
from saliency_service.models.config import read_model_config
from saliency_service.models.shapes_cnn import ShapesCNN


def demo_classifier() -> Classifier:
    """The demo model ("shapes") loaded here, pixels in [0, 1] in, logits out."""
    config = read_model_config(DEMO_REPOSITORY / "shapes")
    network = ShapesCNN(num_classes=config.num_classes)
    assert config.weights is not None
    network.load_state_dict(safetensors.torch.load_file(str(config.weights)))
    return Classifier(network, config.mean, config.std).eval()


def onnx_logits(model: Classifier, size: int) -> Callable[[np.ndarray], np.ndarray]:
    """ONNX Runtime on an export of `model` made here, with the legacy TorchScript exporter
    (the server uses the torch.export-based one): (N, C, H, W) float32 → logits."""
    buffer = io.BytesIO()
    example = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(0))
    with warnings.catch_warnings():  # PyTorch deprecates this exporter; it still works
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (example,), buffer, dynamo=False, input_names=["x"],
                          output_names=["logits"], dynamic_axes={"x": {0: "n"}})
    session = ort.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])

    def logits(pixels: np.ndarray) -> np.ndarray:
        return np.asarray(session.run(None, {"x": np.asarray(pixels, np.float32)})[0])

    return logits
