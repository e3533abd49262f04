"""Grad-CAM++ (Chattopadhay et al. 2018, "Grad-CAM++: Improved Visual Explanations for Deep
Convolutional Networks", https://arxiv.org/abs/1710.11063).

w_k = Σ_ij α^kc_ij ReLU(∂Y^c/∂A^k_ij), with α from eq. 19, where the second and third
derivatives of exp(Y^c) are powers of the first; Y^c is the target logit.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from saliency_service.explainers._cam_base import explanation, gradient_cam_at_layer, weighted_sum
from saliency_service.explainers.base import Explanation


def grad_cam_plus_plus_map(activations: Tensor, gradients: Tensor) -> Tensor:
    """Σ_k w_k A^k before the ReLU, w_k from eq. 19.

    Shape:
        activations, gradients: (N, K, h, w); returns (N, h, w).
    """
    squared = gradients.pow(2)
    # Equation 19: α = g² / (2g² + Σ_ab A_ab · g³).
    denominator = 2 * squared + activations.sum(dim=(2, 3), keepdim=True) * squared * gradients
    # Where the denominator vanishes, so does g² (or the point is singular): α = 0 there, as in
    # the authors' code (github.com/adityac94/Grad_CAM_plus_plus), with no ε.
    alpha = squared / torch.where(denominator != 0, denominator, torch.ones_like(denominator))
    weights = (alpha * gradients.clamp_min(0)).sum(dim=(2, 3))
    return weighted_sum(activations, weights)


def grad_cam_plus_plus(
    model: nn.Module,
    images: Tensor,
    targets: Tensor,
    *,
    layer: nn.Module,
    chunk_size: int | None = None,
) -> Explanation:
    """Grad-CAM++ of each image for its target class at `layer`.

    Args:
        model: pixels in [0, 1] -> logits, in eval mode.
        images: the batch, not modified.
        targets: the class explained for each row.
        layer: the module whose feature map is weighted.
        chunk_size: most images per forward/backward pass; None for all at once.

    Returns:
        `heatmap`: ReLU(Σ_k w_k A^k) upsampled to (H, W), raw.

    Raises:
        InvalidRequest: `layer` cannot be read as a feature map, or a target is out of range.

    Shape:
        images: (N, C, H, W); targets: (N,); heatmap: (N, H, W).
    """
    maps = gradient_cam_at_layer(model, images, targets, layer, grad_cam_plus_plus_map, chunk_size)
    return explanation(maps, images)
