"""HiResCAM (Draelos & Carin 2020, "Use HiResCAM instead of Grad-CAM for faithful explanations
of convolutional neural networks", https://arxiv.org/abs/2011.08891).

M^c = Σ_k ∂y^c/∂A^k ⊙ A^k: the gradient multiplies the feature map element-wise instead of being
averaged first, so for a head of the form y = Σ W·A + b the map sums exactly to y − b. The ReLU
of the family is applied afterwards, as pytorch-grad-cam does.
"""

from __future__ import annotations

from torch import Tensor

from saliency_service.explainers._cam_base import gradient_cam
from saliency_service.explainers._params import LAYER
from saliency_service.explainers.base import ExplainerSpec


def hires_cam_map(activations: Tensor, gradients: Tensor) -> Tensor:
    """Σ_k g^k ⊙ A^k, before the ReLU.

    Shape:
        activations, gradients: (N, K, h, w); returns (N, h, w).
    """
    return (gradients * activations).sum(dim=1)


hires_cam = gradient_cam("hires_cam", hires_cam_map)

HIRES_CAM = ExplainerSpec(
    name="hires_cam",
    function=hires_cam,
    params=(LAYER,),
    description="feature map times its gradients element-wise (Draelos & Carin 2020)",
)
