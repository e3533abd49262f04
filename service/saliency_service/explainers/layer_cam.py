"""Layer-CAM (Jiang et al. 2021, "LayerCAM: Exploring Hierarchical Class Activation Maps for
Localization", IEEE TIP 30, https://doi.org/10.1109/TIP.2021.3089943).

M^c = ReLU(Σ_k ReLU(∂y^c/∂A^k_ij) · A^k_ij): each position keeps its own positive gradient as
the weight instead of a channel-wide mean.
"""

from __future__ import annotations

from torch import Tensor

from saliency_service.explainers._cam_base import gradient_cam
from saliency_service.explainers._params import LAYER
from saliency_service.explainers.base import ExplainerSpec


def layer_cam_map(activations: Tensor, gradients: Tensor) -> Tensor:
    """Σ_k ReLU(g^k_ij) A^k_ij, before the final ReLU.

    Shape:
        activations, gradients: (N, K, h, w); returns (N, h, w).
    """
    return (gradients.clamp_min(0) * activations).sum(dim=1)


layer_cam = gradient_cam("layer_cam", layer_cam_map)

LAYER_CAM = ExplainerSpec(
    name="layer_cam",
    function=layer_cam,
    params=(LAYER,),
    description="feature map times its positive gradients, position by position "
    "(Jiang et al. 2021)",
)
