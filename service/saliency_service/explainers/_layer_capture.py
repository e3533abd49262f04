"""A layer's feature map and the gradients of the target scores w.r.t. it: the CAM hooks.

`layer_recorder` is the only place that installs hooks for CAM methods; it removes them in
`finally`, whatever happens. Gradients come from `torch.autograd.grad` on the recorded output, so
the backward pass stops at the layer and no weight gradient is computed or accumulated.

Layouts. CAM maths wants (N, K, h, w). A layer's output is read as:
- 4-D channels-first (N, K, h, w), as convolutions give;
- 4-D channels-last (N, h, w, K), as swin_t's stages and convnext's in-block LayerNorm/Linear
  give, when dims 1-2 and not dims 2-3 form a grid with the input's aspect (equal strides);
  when both readings fit, channels-first wins;
- 3-D tokens (N, L, D), as ViT gives, when L = g² or L = 1 + g² (a leading class token, as
  torchvision's VisionTransformer puts it, is dropped) and the g x g grid is row-major.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from math import isqrt

import torch
from torch import Tensor, nn

from saliency_service.errors import InvalidRequest
from saliency_service.models.classifier import Classifier


@dataclass
class Recording:
    """What a forward hook saw of one module during a forward pass."""

    calls: int = 0
    output: object = None

    def hook(self, module: nn.Module, args: object, output: object) -> object:
        """Keep the output and hand the rest of the network a copy.

        The copy protects the recorded values from in-place operations that follow the layer
        (resnet's `out += identity`, `ReLU(inplace=True)`). When grad mode is on but the output
        does not require grad (frozen weights), the recorded output becomes a leaf that does, so
        its gradient exists without building a graph upstream of the layer.
        """
        self.calls += 1
        if not isinstance(output, Tensor):
            self.output = output
            return None
        if torch.is_grad_enabled() and not output.requires_grad:
            output = output.detach().requires_grad_(True)
        self.output = output
        return output.clone()


@contextmanager
def layer_recorder(layer: nn.Module) -> Iterator[Recording]:
    """Record `layer`'s output during the forward passes run inside the `with` block."""
    recording = Recording()
    handle = layer.register_forward_hook(recording.hook)
    try:
        yield recording
    finally:
        handle.remove()


def capture_activations(
    model: nn.Module, layer: nn.Module, images: Tensor, targets: Tensor
) -> tuple[Tensor, Tensor]:
    """`layer`'s feature map and the logits, from one forward pass without a graph.

    Raises:
        InvalidRequest: a target is not a class of the model; `layer` does not run exactly once
            per forward pass, or its output cannot be read as a feature map.

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
        InvalidRequest: as `capture_activations`.

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


def as_feature_map(output: Tensor, image_size: tuple[int, int]) -> Tensor | None:
    """`output` as (N, K, h, w) by the layout rules of this module, or None if none applies.

    Shape:
        output: (N, K, h, w), (N, h, w, K) or (N, L, D); returns (N, K, h, w).
    """
    if output.ndim == 4:
        channels_last = _is_grid(output.shape[1:3], image_size)
        if channels_last and not _is_grid(output.shape[2:4], image_size):
            return output.permute(0, 3, 1, 2)
        return output
    if output.ndim == 3:
        tokens = output.shape[1]
        side = isqrt(tokens)
        if side * side != tokens:
            side = isqrt(tokens - 1)
            if side * side != tokens - 1:
                return None
            output = output[:, 1:]
        return output.reshape(output.shape[0], side, side, output.shape[2]).permute(0, 3, 1, 2)
    return None


def module_name(model: nn.Module, layer: nn.Module) -> str:
    """`layer`'s name as clients spell it: in the wrapped network when `model` is a Classifier.

    Raises:
        InvalidRequest: `layer` is not a sub-module of `model`.
    """
    root = model.network if isinstance(model, Classifier) else model
    for name, module in root.named_modules():
        if module is layer:
            return str(name)
    raise InvalidRequest(f"layer {type(layer).__name__} is not part of the model")


def _is_grid(size: torch.Size, image_size: tuple[int, int]) -> bool:
    (h, w), (height, width) = size, image_size
    return 0 < h <= height and 0 < w <= width and round(height / h) == round(width / w)


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
        raise InvalidRequest(
            f"layer '{module_name(model, layer)}' ran {recording.calls} times in one forward "
            "pass; CAM methods need a layer that runs once (name its enclosing block instead)"
        )
    if not isinstance(recording.output, Tensor):
        kind = type(recording.output).__name__
        name = module_name(model, layer)
        raise InvalidRequest(f"layer '{name}' returns a {kind}, not a feature map tensor")
    return recording.output, logits


def _feature_map(model: nn.Module, layer: nn.Module, output: Tensor, images: Tensor) -> Tensor:
    feature_map = as_feature_map(output, (images.shape[-2], images.shape[-1]))
    if feature_map is None:
        raise InvalidRequest(
            f"layer '{module_name(model, layer)}' gives shape {tuple(output.shape)}, which is not "
            "a feature map (N, K, h, w), (N, h, w, K) or a square grid of tokens (N, [1 +] g*g, D)"
        )
    return feature_map
