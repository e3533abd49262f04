"""Layer-CAM (Jiang et al. 2021, "LayerCAM: Exploring Hierarchical Class Activation Maps for
Localization", IEEE TIP 30, https://doi.org/10.1109/TIP.2021.3089943).

M^c = ReLU(Σ_k ReLU(∂y^c/∂A^k_ij) · A^k_ij): each position keeps its own positive gradient as
the weight instead of a channel-wide mean.
"""

from __future__ import annotations

from torch import Tensor, nn

from saliency_service.explainers._cam_base import explanation, gradient_cam_at_layer
from saliency_service.explainers.base import Explanation


def layer_cam_map(activations: Tensor, gradients: Tensor) -> Tensor:
    """Σ_k ReLU(g^k_ij) A^k_ij, before the final ReLU.

    Shape:
        activations, gradients: (N, K, h, w); returns (N, h, w).
    """
    return (gradients.clamp_min(0) * activations).sum(dim=1)


def layer_cam(
    model: nn.Module,
    images: Tensor,
    targets: Tensor,
    *,
    layer: nn.Module,
    chunk_size: int | None = None,
) -> Explanation:
    """Layer-CAM of each image for its target class at `layer`.

    Args:
        model: pixels in [0, 1] -> logits, in eval mode.
        images: the batch, not modified.
        targets: the class explained for each row.
        layer: the module whose feature map is weighted.
        chunk_size: most images per forward/backward pass; None for all at once.

    Returns:
        `heatmap`: ReLU(Σ_k ReLU(g^k) ⊙ A^k) upsampled to (H, W), raw.

    Raises:
        InvalidRequest: `layer` cannot be read as a feature map, or a target is out of range.

    Shape:
        images: (N, C, H, W); targets: (N,); heatmap: (N, H, W).
    """
    return explanation(
        gradient_cam_at_layer(model, images, targets, layer, layer_cam_map, chunk_size), images
    )
