"""XGrad-CAM (Fu et al. 2020, "Axiom-based Grad-CAM: Towards Accurate Visualization and
Explanation of CNNs", https://arxiv.org/abs/2008.02312).

α_k = Σ_ij (A^k_ij / Σ_ab A^k_ab) ∂y^c/∂A^k_ij: the gradient averaged with the
feature map's own values as weights, which satisfies the paper's sensitivity and conservation
axioms.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from saliency_service.explainers._cam_base import explanation, gradient_cam_at_layer, weighted_sum
from saliency_service.explainers.base import Explanation


def xgrad_cam_map(activations: Tensor, gradients: Tensor) -> Tensor:
    """Σ_k α_k A^k before the ReLU, α_k the activation-weighted mean gradient.

    A channel whose values sum to zero gets α_k = 0 (no ε, unlike pytorch-grad-cam's 1e-7).

    Shape:
        activations, gradients: (N, K, h, w); returns (N, h, w).
    """
    totals = activations.sum(dim=(2, 3))
    safe = torch.where(totals != 0, totals, torch.ones_like(totals))
    weights = torch.where(totals != 0, (gradients * activations).sum(dim=(2, 3)) / safe, 0.0)
    return weighted_sum(activations, weights)


def xgrad_cam(
    model: nn.Module,
    images: Tensor,
    targets: Tensor,
    *,
    layer: nn.Module,
    chunk_size: int | None = None,
) -> Explanation:
    """XGrad-CAM of each image for its target class at `layer`.

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
        gradient_cam_at_layer(model, images, targets, layer, xgrad_cam_map, chunk_size), images
    )
