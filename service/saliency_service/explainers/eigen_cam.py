"""Eigen-CAM (Muhammad & Yeasin 2020, "Eigen-CAM: Class Activation Map using Principal
Components", https://arxiv.org/abs/2008.00299).

The map is the projection of each position's feature vector on the first principal component
of the layer's activations: no gradients and no target class, so every target gives the same map.

Sign: a principal component's sign is arbitrary (A = UΣVᵀ = (−U)Σ(−V)ᵀ), and pytorch-grad-cam's
`EigenCAM` keeps whatever sign NumPy's SVD returns. Here it is fixed so that the map's value of
largest magnitude is positive, the rule of Chung & Ying 2025 (Seg-Eigen-CAM, eq. 13) that
pytorch-grad-cam implements as `get_2d_projection_with_sign_correction`.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from saliency_service.explainers._cam_base import explanation, in_chunks
from saliency_service.explainers._layer_capture import capture_activations
from saliency_service.explainers._params import LAYER
from saliency_service.explainers.base import ExplainerSpec, Explanation, forward_pass


def eigen_cam_map(activations: Tensor) -> Tensor:
    """Projection on the first principal component, sign-corrected, before the ReLU.

    Shape:
        activations: (N, K, h, w); returns (N, h, w).
    """
    n, _, h, w = activations.shape
    points = activations.flatten(2).transpose(1, 2)
    # Centred per channel over the positions, as principal components need.
    centred = points - points.mean(dim=1, keepdim=True)
    _, _, v_transposed = torch.linalg.svd(centred, full_matrices=False)
    projection = (centred @ v_transposed[:, 0, :, None])[..., 0]
    flip = projection.amin(dim=1).abs() > projection.amax(dim=1).abs()
    return torch.where(flip[:, None], -projection, projection).reshape(n, h, w)


def eigen_cam(
    model: nn.Module,
    images: Tensor,
    targets: Tensor,
    *,
    layer: nn.Module,
    chunk_size: int | None = None,
) -> Explanation:
    """Eigen-CAM of each image at `layer`; `targets` are checked but do not change the map.

    Args:
        model: pixels in [0, 1] -> logits, in eval mode.
        images: the batch, not modified.
        targets: one class per row (Eigen-CAM is class-agnostic).
        layer: the module whose feature map is projected.
        chunk_size: most images per forward pass; None for all at once.

    Returns:
        `heatmap`: ReLU(projection) upsampled to (H, W), raw.

    Raises:
        InvalidRequest: `layer` cannot be read as a feature map, or a target is out of range.

    Shape:
        images: (N, C, H, W); targets: (N,); heatmap: (N, H, W).
    """

    def at_layer(part: Tensor, part_targets: Tensor) -> Tensor:
        activations, _ = capture_activations(model, layer, part, part_targets)
        return eigen_cam_map(activations).clamp_min(0)

    return explanation(in_chunks(at_layer, images, targets, chunk_size), images)


EIGEN_CAM = ExplainerSpec(
    name="eigen_cam",
    function=eigen_cam,
    params=(LAYER,),
    description="first principal component of the feature map; class-agnostic "
    "(Muhammad & Yeasin 2020)",
    passes=forward_pass,
)
