"""Reading a layer of a network: its output during a forward pass, as a feature map.

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


def _is_grid(size: torch.Size, image_size: tuple[int, int]) -> bool:
    (h, w), (height, width) = size, image_size
    return 0 < h <= height and 0 < w <= width and round(height / h) == round(width / w)
