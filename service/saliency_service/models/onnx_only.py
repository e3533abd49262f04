"""Models that come only as an ONNX file: served for what needs forward passes alone.

ONNX Runtime runs the file; no torch graph exists, so there are no gradients and no layers to
hook. `OrtNetwork` puts the session behind an `nn.Module` so that forward-only methods
(occlusion, black-box attacks) call it like any network; a call that needs gradients is refused
(operations refuse such methods before queueing; this is the second line).

The file is checked before ONNX Runtime sees it: tensors stored as external data name other
files by path, which could point outside the model's folder, so they are refused (keep the
weights inside the `.onnx` file). ONNX Runtime loads no custom-operator libraries unless told to,
so an unknown operator fails to load rather than running code.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from torch import Tensor, nn

from saliency_service.errors import UnsupportedMethod
from saliency_service.models.classifier import Classifier
from saliency_service.models.onnx_runtime import OnnxClassifier
from saliency_service.models.sources import SourceDefaults
from saliency_service.models.toml_fields import ModelConfigError


def read_onnx(path: Path) -> bytes:
    """The file's bytes, once it parsed as ONNX and holds no external data.

    Raises:
        ModelConfigError: not an ONNX model, or it refers to external data files.
    """
    data = path.read_bytes()
    try:
        model = onnx.load_from_string(data)
    except Exception as error:  # noqa: BLE001 - any parse failure: not an ONNX file
        raise ModelConfigError(f"{path.name} is not a valid ONNX model: {error}") from None
    if any(t.data_location == onnx.TensorProto.EXTERNAL for t in _tensors(model.graph)):
        raise ModelConfigError(
            f"{path.name} stores tensors in external files; save it with the weights inside"
        )
    return data


def onnx_defaults(path: Path) -> SourceDefaults:
    """(C, H, W) from the first input's static shape, classes from the first output's."""
    model = onnx.load_from_string(read_onnx(path))
    weights = {t.name for t in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in weights]
    if not inputs or not model.graph.output:
        raise ModelConfigError(f"{path.name} has no input or no output")
    shape = _dims(inputs[0])
    if len(shape) != 4:
        raise ModelConfigError(f"{path.name}: the input must be (N, C, H, W), got {shape}")
    out = _dims(model.graph.output[0])
    return SourceDefaults(
        channels=shape[1],
        height=shape[2],
        width=shape[3],
        num_classes=out[1] if len(out) == 2 else None,
    )


def _dims(value: onnx.ValueInfoProto) -> list[int | None]:
    dims = value.type.tensor_type.shape.dim
    return [d.dim_value if d.HasField("dim_value") else None for d in dims]


def _tensors(graph: onnx.GraphProto) -> Iterator[onnx.TensorProto]:
    yield from graph.initializer
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.HasField("t"):
                yield attribute.t
            yield from attribute.tensors
            if attribute.HasField("g"):
                yield from _tensors(attribute.g)
            for sub in attribute.graphs:
                yield from _tensors(sub)


class OrtNetwork(nn.Module):
    """An ONNX Runtime session as a network: (N, C, H, W) normalised in, logits out.

    `run(images)` is the session's forward pass on a float32 array. Copies share the session
    (ONNX Runtime sessions may run from several threads at once).
    """

    def __init__(self, run: Any, source: str) -> None:
        super().__init__()
        self.run = run
        self.source = source

    def forward(self, images: Tensor) -> Tensor:
        if torch.is_grad_enabled() and images.requires_grad:
            raise UnsupportedMethod(
                f"the model is served from its ONNX file {self.source!r} only: ONNX Runtime "
                "computes forward passes, not gradients"
            )
        array = images.detach().float().cpu().numpy()
        logits = np.asarray(self.run(array), dtype=np.float32)
        return torch.from_numpy(logits).to(images.device)

    def __deepcopy__(self, memo: dict[int, Any]) -> OrtNetwork:
        return OrtNetwork(self.run, self.source)


def ort_classifier(onnx: OnnxClassifier, channels: int, source: str) -> Classifier:
    """ONNX Runtime as a pixel-space classifier: pixels in [0, 1] in, logits out.

    `onnx.logits` normalises (or the export holds the normalisation), so the wrapper's own is
    the identity. Forward-only work that runs faster on ONNX Runtime than on torch (Square's
    thousands of queries on a CPU) calls the model through it, hooked like any replica.
    """
    network = OrtNetwork(onnx.logits, source)
    return Classifier(network, [0.0] * channels, [1.0] * channels).eval()
