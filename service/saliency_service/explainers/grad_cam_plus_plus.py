"""Grad-CAM++ (Chattopadhay et al. 2018, "Grad-CAM++: Improved Visual Explanations for Deep
Convolutional Networks", https://arxiv.org/abs/1710.11063).

w_k = Σ_ij α^kc_ij ReLU(∂Y^c/∂A^k_ij), with α from eq. 19, where the second and third
derivatives of exp(Y^c) are powers of the first; Y^c is the target logit.
"""

from __future__ import annotations

import torch
from torch import Tensor

from saliency_service.explainers._cam_base import gradient_cam, weighted_sum
from saliency_service.explainers._params import LAYER
from saliency_service.explainers.base import ExplainerSpec


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


grad_cam_plus_plus = gradient_cam("grad_cam_plus_plus", grad_cam_plus_plus_map)

GRAD_CAM_PLUS_PLUS = ExplainerSpec(
    name="grad_cam_plus_plus",
    function=grad_cam_plus_plus,
    params=(LAYER,),
    description="Grad-CAM with higher-order pixel weights (Chattopadhay et al. 2018, eq. 19)",
)
