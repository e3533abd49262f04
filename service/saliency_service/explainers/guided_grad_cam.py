"""Guided Grad-CAM (Selvaraju et al. 2017, "Grad-CAM: Visual Explanations from Deep Networks via
Gradient-based Localization", https://arxiv.org/abs/1610.02391, §3.1).

The guided-backpropagation signal times the Grad-CAM map upsampled to the input, pixel by pixel
and for every channel: fine detail from the former, class discrimination from the latter. Both
factors are raw; pytorch-grad-cam's example multiplies by its [0, 1]-scaled map instead, and
Captum's `GuidedGradCam` by the raw map (nearest-neighbour upsampling by default).
"""

from __future__ import annotations

from torch import Tensor, nn

from saliency_service.explainers._params import LAYER, reduce_param
from saliency_service.explainers._reduce import reduce_channels
from saliency_service.explainers.base import ExplainerSpec, Explanation, two_passes
from saliency_service.explainers.grad_cam import grad_cam
from saliency_service.explainers.guided_backprop import guided_backprop


def guided_grad_cam(
    model: nn.Module,
    images: Tensor,
    targets: Tensor,
    *,
    layer: nn.Module,
    reduce: str = "abs_max",
    chunk_size: int | None = None,
) -> Explanation:
    """Guided backpropagation ⊙ upsampled Grad-CAM at `layer`.

    Args:
        model: pixels in [0, 1] -> logits, in eval mode.
        images: the batch, not modified.
        targets: the class explained for each row.
        layer: the module whose feature map Grad-CAM weights.
        reduce: channel reduction for the heatmap (see `reduce_channels`).
        chunk_size: most images per forward/backward pass; None for all at once.

    Returns:
        `attributions`: the product; `heatmap`: its channel reduction.

    Raises:
        InvalidRequest: `layer` cannot be read as a feature map, or a target is out of range.
        UnsupportedMethod: the model has no ReLU for guided backpropagation to modify.

    Shape:
        images: (N, C, H, W); targets: (N,); heatmap: (N, H, W); attributions: (N, C, H, W).
    """
    guided = guided_backprop(model, images, targets, reduce=reduce, chunk_size=chunk_size)
    assert guided.attributions is not None  # guided backpropagation always has them
    cam = grad_cam(model, images, targets, layer=layer, chunk_size=chunk_size).heatmap
    attributions = guided.attributions * cam[:, None]
    return Explanation(heatmap=reduce_channels(attributions, reduce), attributions=attributions)


GUIDED_GRAD_CAM = ExplainerSpec(
    name="guided_grad_cam",
    function=guided_grad_cam,
    params=(LAYER, reduce_param("abs_max")),
    description="guided backpropagation times the upsampled Grad-CAM (Selvaraju et al. 2017)",
    passes=two_passes,
    attributions=True,
)
