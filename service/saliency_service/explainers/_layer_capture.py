"""A layer's feature map and the gradients of the target scores w.r.t. it: the CAM hooks.

`layer_recorder` is the only place that installs hooks for CAM methods; it removes them in
`finally`, whatever happens. Gradients come from `torch.autograd.grad` on the recorded output, so
the backward pass stops at the layer and no weight gradient is computed or accumulated.

Layouts: see `models/feature_maps.py`.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from saliency_service.errors import InvalidLayer, InvalidRequest
from saliency_service.models.classifier import Classifier
from saliency_service.models.feature_maps import as_feature_map, layer_recorder


def capture_activations(
    model: nn.Module, layer: nn.Module, images: Tensor, targets: Tensor
) -> tuple[Tensor, Tensor]:
    """`layer`'s feature map and the logits, from one forward pass without a graph.

    Raises:
        InvalidRequest: a target is not a class of the model.
        InvalidLayer: `layer` does not run exactly once per forward pass, or its output cannot
            be read as a feature map.

    Shape:
        images: (N, C, H, W); targets: (N,); returns ((N, K, h, w), (N, num_classes)).
    """
    raw, logits = _forward(model, layer, images, targets, grad=False)
    return _feature_map(model, layer, raw, images), logits


def capture_gradients(
    model: nn.Module, layer: nn.Module, images: Tensor, targets: Tensor
) -> tuple[Tensor, Tensor]:
    """`layer`'s feature map A and ∂f_c/∂A, from one forward and one backward pass to the layer.

    Raises:
        InvalidRequest, InvalidLayer: as `capture_activations`.

    Shape:
        images: (N, C, H, W); targets: (N,); returns ((N, K, h, w), (N, K, h, w)).
    """
    raw, logits = _forward(model, layer, images, targets, grad=True)
    scores = logits.gather(1, targets[:, None]).sum()
    (gradients,) = torch.autograd.grad(scores, raw, allow_unused=True, materialize_grads=True)
    return (
        _feature_map(model, layer, raw.detach(), images),
        _feature_map(model, layer, gradients, images),
    )


def module_name(model: nn.Module, layer: nn.Module) -> str:
    """`layer`'s name as clients spell it: in the wrapped network when `model` is a Classifier.

    Raises:
        InvalidLayer: `layer` is not a sub-module of `model`.
    """
    root = model.network if isinstance(model, Classifier) else model
    for name, module in root.named_modules():
        if module is layer:
            return str(name)
    raise InvalidLayer(f"layer {type(layer).__name__} is not part of the model")


def _forward(
    model: nn.Module, layer: nn.Module, images: Tensor, targets: Tensor, *, grad: bool
) -> tuple[Tensor, Tensor]:
    with layer_recorder(layer) as recording, torch.set_grad_enabled(grad):
        logits = model(images)
    classes = logits.shape[1]
    outside = (targets < 0) | (targets >= classes)
    if bool(outside.any()):
        raise InvalidRequest(
            f"targets must be class indices in [0, {classes}); got {targets[outside].tolist()}"
        )
    if recording.calls != 1:
        raise InvalidLayer(
            f"layer '{module_name(model, layer)}' ran {recording.calls} times in one forward "
            "pass; CAM methods need a layer that runs once (name its enclosing block instead)"
        )
    if not isinstance(recording.output, Tensor):
        kind = type(recording.output).__name__
        name = module_name(model, layer)
        raise InvalidLayer(f"layer '{name}' returns a {kind}, not a feature map tensor")
    return recording.output, logits


def _feature_map(model: nn.Module, layer: nn.Module, output: Tensor, images: Tensor) -> Tensor:
    feature_map = as_feature_map(output, (images.shape[-2], images.shape[-1]))
    if feature_map is None:
        raise InvalidLayer(
            f"layer '{module_name(model, layer)}' gives shape {tuple(output.shape)}, which is not "
            "a feature map (N, K, h, w), (N, h, w, K) or a square grid of tokens (N, [1 +] g*g, D)"
        )
    return feature_map
