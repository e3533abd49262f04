"""What every CAM method shares: the layer parameter, the weighted sum, ReLU and upsampling.

Each method supplies only its formula, as in pytorch-grad-cam's `base_cam.py`, where a subclass
overrides `get_cam_weights`. Conventions, and how they compare with the peers:
- Every map but `cam`'s (Zhou et al.'s has no ReLU; it takes `relu`) is ReLU'd at the layer's
  resolution, then upsampled bilinearly
  (`align_corners=False`, the same sampling grid as OpenCV's `INTER_LINEAR` that pytorch-grad-cam
  uses) to the input's (H, W). pytorch-grad-cam applies the same ReLU to every method.
- Values are raw: not min-max normalised. pytorch-grad-cam returns each map scaled to [0, 1]
  (min-max before and after resizing); Captum's `LayerGradCam` returns raw values at the layer's
  resolution. Tests compare like with like.
- All maths runs in torch on the images' device.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from saliency_service.explainers._autograd import chunks
from saliency_service.explainers._layer_capture import capture_gradients
from saliency_service.explainers.base import Explanation
from saliency_service.params import Param

LAYER = Param(
    name="layer",
    kind="layer",
    default=None,
    description="module whose feature map is explained (GetModel lists them); "
    "the model's default CAM layer when empty",
)

Formula = Callable[[Tensor, Tensor], Tensor]
"""(activations, gradients) -> the map before ReLU: (N, K, h, w), (N, K, h, w) -> (N, h, w)."""


def weighted_sum(activations: Tensor, weights: Tensor) -> Tensor:
    """Σ_k w_k A^k, one weight vector per image.

    Shape:
        activations: (N, K, h, w); weights: (N, K); returns (N, h, w).
    """
    return (weights[:, :, None, None] * activations).sum(dim=1)


def gradient_cam_at_layer(
    model: nn.Module,
    images: Tensor,
    targets: Tensor,
    layer: nn.Module,
    formula: Formula,
    chunk_size: int | None = None,
) -> Tensor:
    """ReLU(formula(A, ∂f_c/∂A)) at the layer's resolution, `chunk_size` images per pass.

    Shape:
        images: (N, C, H, W); targets: (N,); returns (N, h, w).
    """

    def at_layer(part: Tensor, part_targets: Tensor) -> Tensor:
        activations, gradients = capture_gradients(model, layer, part, part_targets)
        return formula(activations, gradients).clamp_min(0)

    return in_chunks(at_layer, images, targets, chunk_size)


def in_chunks(
    compute: Callable[[Tensor, Tensor], Tensor],
    images: Tensor,
    targets: Tensor,
    chunk_size: int | None,
) -> Tensor:
    """`compute(images, targets)` over consecutive chunks of at most `chunk_size` rows, joined.

    Shape:
        images: (N, C, H, W); targets: (N,); returns (N, ...).
    """
    parts = chunks(len(images), chunk_size)
    return torch.cat([compute(images[rows], targets[rows]) for rows in parts])


def upsample(maps: Tensor, size: tuple[int, int]) -> Tensor:
    """Bilinear resize (`align_corners=False`) of layer-resolution maps to the input's size.

    Shape:
        maps: (N, h, w); returns (N, *size).
    """
    return F.interpolate(maps[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]


def explanation(maps: Tensor, images: Tensor) -> Explanation:
    """Wrap layer-resolution maps, upsampled to `images`' size, as an `Explanation`.

    Shape:
        maps: (N, h, w); images: (N, C, H, W); heatmap: (N, H, W).
    """
    return Explanation(heatmap=upsample(maps, (images.shape[-2], images.shape[-1])))
