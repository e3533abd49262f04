"""Grad-CAM (Selvaraju et al. 2017, "Grad-CAM: Visual Explanations from Deep Networks via
Gradient-based Localization", https://arxiv.org/abs/1610.02391).

L^c = ReLU(Σ_k α_k^c A^k), α_k^c = (1/Z) Σ_ij ∂y^c/∂A^k_ij (eqs. 1-2), y^c the target logit.
Raw values, upsampled to the input (see `_cam_base` for the conventions).
"""

from __future__ import annotations

from torch import Tensor, nn

from saliency_service.explainers._cam_base import explanation, gradient_cam_at_layer, weighted_sum
from saliency_service.explainers.base import Explanation


def grad_cam_map(activations: Tensor, gradients: Tensor) -> Tensor:
    """Σ_k α_k A^k before the ReLU, α_k the spatial mean of the gradients (eq. 1).

    Shape:
        activations, gradients: (N, K, h, w); returns (N, h, w).
    """
    return weighted_sum(activations, gradients.mean(dim=(2, 3)))


def grad_cam(
    model: nn.Module,
    images: Tensor,
    targets: Tensor,
    *,
    layer: nn.Module,
    chunk_size: int | None = None,
) -> Explanation:
    """Grad-CAM of each image for its target class at `layer`.

    Args:
        model: pixels in [0, 1] -> logits, in eval mode.
        images: the batch, not modified.
        targets: the class explained for each row.
        layer: the module whose feature map is weighted.
        chunk_size: most images per forward/backward pass; None for all at once.

    Returns:
        `heatmap`: ReLU(Σ_k α_k A^k) upsampled to (H, W), raw.

    Raises:
        InvalidRequest: `layer` cannot be read as a feature map, or a target is out of range.

    Shape:
        images: (N, C, H, W); targets: (N,); heatmap: (N, H, W).
    """
    return explanation(
        gradient_cam_at_layer(model, images, targets, layer, grad_cam_map, chunk_size), images
    )
