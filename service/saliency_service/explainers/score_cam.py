"""Score-CAM (Wang et al. 2020, "Score-CAM: Score-Weighted Visual Explanations for Convolutional
Neural Networks", https://arxiv.org/abs/1910.01279).

Each channel A^k, upsampled and min-max scaled to [0, 1], masks the input; its weight is the
softmax over channels of the target logit of the masked input (Algorithm 1; the baseline score
f(X_b) of eq. 5 cancels in the softmax). No gradients.

Masks multiply the pixels in [0, 1] (the model normalises inside), so masked-out regions are
black. They are upsampled with `align_corners=False`, as the authors' code does
(github.com/haofanwang/Score-CAM); pytorch-grad-cam's `ScoreCAM` uses `UpsamplingBilinear2d`,
whose corners are aligned.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

import torch
from torch import Tensor, nn

from saliency_service.explainers._autograd import chunks, target_scores
from saliency_service.explainers._cam_base import explanation, upsample, weighted_sum
from saliency_service.explainers._layer_capture import capture_activations
from saliency_service.explainers._masking import Forward, forward_of
from saliency_service.explainers._params import LAYER
from saliency_service.explainers.base import FORWARD, ExplainerSpec, Explanation

MASKS_PER_PASS = 64


# Channels assumed where a layer does not say (no convolution or norm inside it).
DEFAULT_CHANNELS = 512


def channels_of(layer: nn.Module) -> int:
    """The feature map's channel count, as its last convolution or norm declares it (for
    pricing: Score-CAM runs one forward pass per channel)."""
    count = DEFAULT_CHANNELS
    for module in layer.modules():
        for attribute in ("out_channels", "num_features"):
            value = getattr(module, attribute, None)
            if isinstance(value, int):
                count = value
    return count


def score_cam(
    model: nn.Module,
    images: Tensor,
    targets: Tensor,
    *,
    layer: nn.Module,
    chunk_size: int | None = None,
    forward: Forward | None = None,
) -> Explanation:
    """Score-CAM of each image for its target class at `layer`: N·K extra forward passes.

    Args:
        model: pixels in [0, 1] -> logits, in eval mode.
        images: the batch, not modified.
        targets: the class explained for each row.
        layer: the module whose channels become masks.
        chunk_size: masked images per forward pass (a memory budget, not a method parameter);
            None for 64, since all N·K at once rarely fit.
        forward: what runs the masked passes instead of `model` (its ONNX Runtime session);
            the feature map always comes from `model`.

    Returns:
        `heatmap`: ReLU(Σ_k softmax_k(f_c(X ⊙ M^k)) A^k) upsampled to (H, W), raw.

    Raises:
        InvalidRequest: `layer` cannot be read as a feature map, or a target is out of range.

    Shape:
        images: (N, C, H, W); targets: (N,); heatmap: (N, H, W).
    """
    activations, _ = capture_activations(model, layer, images, targets)
    n, k, h, w = activations.shape
    size = (images.shape[-2], images.shape[-1])
    flat = activations.reshape(n * k, h, w)
    scores = []
    for rows in chunks(n * k, MASKS_PER_PASS if chunk_size is None else chunk_size):
        owners = torch.arange(rows.start, rows.stop, device=images.device) // k
        masks = upsample(flat[rows], size)
        low = masks.amin(dim=(1, 2), keepdim=True)
        span = (masks.amax(dim=(1, 2), keepdim=True) - low).clamp_min(torch.finfo(masks.dtype).tiny)
        masked = images[owners] * ((masks - low) / span)[:, None]
        scores.append(target_scores(forward_of(model, forward), masked, targets[owners]))
    weights = torch.cat(scores).reshape(n, k).softmax(dim=1)
    return explanation(weighted_sum(activations, weights).clamp_min(0), images)


def _score_cam_passes(params: Mapping[str, object], _shape: tuple[int, int, int]) -> float:
    return FORWARD * (channels_of(cast(nn.Module, params["layer"])) + 1)


SCORE_CAM = ExplainerSpec(
    name="score_cam",
    function=score_cam,
    params=(LAYER,),
    description="channels weighted by the class score of the input masked by each; one "
    "forward pass per channel, no gradients (Wang et al. 2020)",
    passes=_score_cam_passes,
    forward_passes=True,
)
