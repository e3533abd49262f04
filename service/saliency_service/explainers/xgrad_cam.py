"""XGrad-CAM (Fu et al. 2020, "Axiom-based Grad-CAM: Towards Accurate Visualization and
Explanation of CNNs", https://arxiv.org/abs/2008.02312).

α_k = Σ_ij (A^k_ij / Σ_ab A^k_ab) ∂y^c/∂A^k_ij: the gradient averaged with the
feature map's own values as weights, which satisfies the paper's sensitivity and conservation
axioms.
"""

from __future__ import annotations

import torch
from torch import Tensor

from saliency_service.explainers._cam_base import gradient_cam, weighted_sum
from saliency_service.explainers._params import LAYER
from saliency_service.explainers.base import ExplainerSpec


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


xgrad_cam = gradient_cam("xgrad_cam", xgrad_cam_map)

XGRAD_CAM = ExplainerSpec(
    name="xgrad_cam",
    function=xgrad_cam,
    params=(LAYER,),
    description="gradients averaged with the feature map's values as weights (Fu et al. 2020)",
)
