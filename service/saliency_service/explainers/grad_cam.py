"""Grad-CAM (Selvaraju et al. 2017, "Grad-CAM: Visual Explanations from Deep Networks via
Gradient-based Localization", https://arxiv.org/abs/1610.02391).

L^c = ReLU(Σ_k α_k^c A^k), α_k^c = (1/Z) Σ_ij ∂y^c/∂A^k_ij (eqs. 1-2), y^c the target logit.
Raw values, upsampled to the input (see `_cam_base` for the conventions).
"""

from __future__ import annotations

from torch import Tensor

from saliency_service.explainers._cam_base import gradient_cam, weighted_sum
from saliency_service.explainers._params import LAYER
from saliency_service.explainers.base import ExplainerSpec


def grad_cam_map(activations: Tensor, gradients: Tensor) -> Tensor:
    """Σ_k α_k A^k before the ReLU, α_k the spatial mean of the gradients (eq. 1).

    Shape:
        activations, gradients: (N, K, h, w); returns (N, h, w).
    """
    return weighted_sum(activations, gradients.mean(dim=(2, 3)))


grad_cam = gradient_cam("grad_cam", grad_cam_map)

GRAD_CAM = ExplainerSpec(
    name="grad_cam",
    function=grad_cam,
    params=(LAYER,),
    description="feature map weighted by its spatially averaged gradients, ReLU "
    "(Selvaraju et al. 2017)",
)
