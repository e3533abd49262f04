"""What every CAM method shares: the weighted sum, ReLU, upsampling, the gradient-CAM factory.

Each gradient-weighted method supplies only its formula to `gradient_cam`, which builds its
explainer, as pytorch-grad-cam's `base_cam.py` lets a subclass override `get_cam_weights`.
Conventions, and how they compare with the peers:
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


def gradient_cam(name: str, formula: Formula) -> Callable[..., Explanation]:
    """The explainer `name(model, images, targets, *, layer, chunk_size=None)` of a
    gradient-weighted CAM variant: ReLU(formula(A, ∂y^c/∂A)) upsampled to the input.

    Its docstring is `_EXPLAINER_DOC` with the formula's first line.
    """

    def explainer(
        model: nn.Module,
        images: Tensor,
        targets: Tensor,
        *,
        layer: nn.Module,
        chunk_size: int | None = None,
    ) -> Explanation:
        maps = gradient_cam_at_layer(model, images, targets, layer, formula, chunk_size)
        return explanation(maps, images)

    explainer.__name__ = explainer.__qualname__ = name
    explainer.__module__ = formula.__module__
    summary = (formula.__doc__ or "").strip().splitlines()[0]
    explainer.__doc__ = _EXPLAINER_DOC.format(name=name, formula=summary)
    return explainer


_EXPLAINER_DOC = """`{name}` of each image for its target class at `layer`.

    The map, before its ReLU and upsampling: {formula}

    Args:
        model: pixels in [0, 1] -> logits, in eval mode.
        images: the batch, not modified.
        targets: the class explained for each row.
        layer: the module whose feature map is weighted.
        chunk_size: most images per forward/backward pass; None for all at once.

    Returns:
        `heatmap`: the ReLU of that map, upsampled to (H, W), raw.

    Raises:
        InvalidRequest: `layer` cannot be read as a feature map, or a target is out of range.

    Shape:
        images: (N, C, H, W); targets: (N,); heatmap: (N, H, W).
    """


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
