"""HiResCAM (Draelos & Carin 2020, "Use HiResCAM instead of Grad-CAM for faithful explanations
of convolutional neural networks", https://arxiv.org/abs/2011.08891).

M^c = Σ_k ∂y^c/∂A^k ⊙ A^k: the gradient multiplies the feature map element-wise instead of being
averaged first, so for a head of the form y = Σ W·A + b the map sums exactly to y − b. The ReLU
of the family is applied afterwards, as pytorch-grad-cam does.
"""

from __future__ import annotations

from torch import Tensor, nn

from saliency_service.explainers._cam_base import explanation, gradient_cam_at_layer
from saliency_service.explainers.base import Explanation


def hires_cam_map(activations: Tensor, gradients: Tensor) -> Tensor:
    """Σ_k g^k ⊙ A^k, before the ReLU.

    Shape:
        activations, gradients: (N, K, h, w); returns (N, h, w).
    """
    return (gradients * activations).sum(dim=1)


def hires_cam(
    model: nn.Module,
    images: Tensor,
    targets: Tensor,
    *,
    layer: nn.Module,
    chunk_size: int | None = None,
) -> Explanation:
    """HiResCAM of each image for its target class at `layer`.

    Args:
        model: pixels in [0, 1] -> logits, in eval mode.
        images: the batch, not modified.
        targets: the class explained for each row.
        layer: the module whose feature map is weighted.
        chunk_size: most images per forward/backward pass; None for all at once.

    Returns:
        `heatmap`: ReLU(Σ_k g^k ⊙ A^k) upsampled to (H, W), raw.

    Raises:
        InvalidRequest: `layer` cannot be read as a feature map, or a target is out of range.

    Shape:
        images: (N, C, H, W); targets: (N,); heatmap: (N, H, W).
    """
    return explanation(
        gradient_cam_at_layer(model, images, targets, layer, hires_cam_map, chunk_size), images
    )
