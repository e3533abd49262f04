"""Reading a layer of a network: its output during a forward pass, as a feature map.

Layouts. CAM maths wants (N, K, h, w). A layer's output is read as:
- 4-D channels-first (N, K, h, w), as convolutions give;
- 4-D channels-last (N, h, w, K), as swin_t's stages and convnext's in-block LayerNorm/Linear
  give, when dims 1-2 and not dims 2-3 form a grid with the input's aspect (equal strides);
  when both readings fit, channels-first wins; when neither does, it is no feature map (timm's
  per-head queries and keys, (N, heads, L, d));
- 3-D tokens (N, L, D), as ViT gives, when L = p + g² with p leading tokens (none for swin's
  stages; a class token for torchvision's and timm's ViT; a class and a distillation token for
  DeiT; register tokens too), p < `MAX_PREFIX_TOKENS` and the smallest such p, which are
  dropped; the g x g grid is row-major.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from math import isqrt

import torch
from torch import Tensor, nn

# Class, distillation and register tokens: ViTs put at most a few before the patches.
MAX_PREFIX_TOKENS = 9


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
        if _is_grid(output.shape[2:4], image_size):
            return output
        # Neither reading: a 4-D tensor that is no image grid (a ViT's per-head queries).
        return output.permute(0, 3, 1, 2) if _is_grid(output.shape[1:3], image_size) else None
    if output.ndim == 3:
        prefix = prefix_tokens(output.shape[1], allow_none=True)
        if prefix is None:
            return None
        side = isqrt(output.shape[1] - prefix)
        grid = output[:, prefix:]
        return grid.reshape(output.shape[0], side, side, output.shape[2]).permute(0, 3, 1, 2)
    return None


def prefix_tokens(tokens: int, *, allow_none: bool = False) -> int | None:
    """The fewest leading tokens (at least 1 unless `allow_none`) that leave a square grid of
    patch tokens, or None when fewer than `MAX_PREFIX_TOKENS` do not."""
    for prefix in range(0 if allow_none else 1, min(MAX_PREFIX_TOKENS, tokens)):
        side = isqrt(tokens - prefix)
        if side > 0 and side * side == tokens - prefix:
            return prefix
    return None


def _is_grid(size: torch.Size, image_size: tuple[int, int]) -> bool:
    (h, w), (height, width) = size, image_size
    return 0 < h <= height and 0 < w <= width and round(height / h) == round(width / w)
