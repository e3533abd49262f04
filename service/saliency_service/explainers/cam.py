"""CAM (Zhou et al. 2016, "Learning Deep Features for Discriminative Localization",
https://arxiv.org/abs/1512.04150).

M_c = Σ_k w^c_k f_k(x, y) (eq. 2), where the network computes its logits as
S_c = Σ_k w^c_k GAP(f_k) + b_c: a global average pool and one linear layer after the feature map.

Rather than trusting the architecture's name, the head is checked on the batch itself: some
linear layer with K inputs and one output per class must reproduce the logits from the pooled
feature map (or from the pooled ReLU of it: DenseNet applies `F.relu` after its last module).
A linear layer is an `nn.Linear` or any module holding a (classes, K) `weight` and a (classes,)
`bias` or none: an exported program unflattened to modules keeps its `fc` as such a module,
whose graph calls `aten.linear`. Otherwise CAM is undefined and `UnsupportedMethod` says why.

The map is returned as eq. 2 defines it, negative evidence included: no ReLU, unlike Grad-CAM
(whose eq. 2 has one) and pytorch-grad-cam, which applies one to every method. `relu=True`
clamps it at zero at the layer's resolution, as the rest of the family does. With an integer
upsampling factor the map's mean plus the class bias is then still the logit (eq. 1).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from saliency_service.errors import UnsupportedMethod
from saliency_service.explainers._cam_base import explanation, in_chunks, weighted_sum
from saliency_service.explainers._layer_capture import capture_activations, module_name
from saliency_service.explainers._params import LAYER
from saliency_service.explainers.base import ExplainerSpec, Explanation, forward_pass
from saliency_service.params import Param


def cam(
    model: nn.Module,
    images: Tensor,
    targets: Tensor,
    *,
    layer: nn.Module,
    relu: bool = False,
    chunk_size: int | None = None,
) -> Explanation:
    """CAM of each image for its target class at `layer`, the feature map the pool reads.

    Args:
        model: pixels in [0, 1] -> logits, in eval mode.
        images: the batch, not modified.
        targets: the class explained for each row.
        layer: the module whose output is globally average-pooled into the final linear layer.
        relu: clamp the map at zero (before upsampling), as Grad-CAM does; off by default.
        chunk_size: most images per forward pass; None for all at once.

    Returns:
        `heatmap`: Σ_k w^c_k A^k (ReLU'd if `relu`) upsampled to (H, W), raw.

    Raises:
        InvalidRequest: `layer` cannot be read as a feature map, or a target is out of range.
        UnsupportedMethod: the logits are not a linear function of the pooled feature map.

    Shape:
        images: (N, C, H, W); targets: (N,); heatmap: (N, H, W).
    """

    def at_layer(part: Tensor, part_targets: Tensor) -> Tensor:
        activations, logits = capture_activations(model, layer, part, part_targets)
        features, weight = _pooled_linear_head(model, layer, activations, logits)
        maps = weighted_sum(features, weight[part_targets].detach())
        return maps.clamp_min(0) if relu else maps

    return explanation(in_chunks(at_layer, images, targets, chunk_size), images)


def _pooled_linear_head(
    model: nn.Module, layer: nn.Module, activations: Tensor, logits: Tensor
) -> tuple[Tensor, Tensor]:
    """The feature map the head pools and the head's (classes, K) weight."""
    channels, classes = activations.shape[1], logits.shape[1]
    name = module_name(model, layer)
    linears = list(_linear_layers(model, channels, classes))
    if not linears:
        raise UnsupportedMethod(
            f"CAM needs global average pooling and one linear layer after the feature map; no "
            f"linear layer maps the {channels} channels of layer '{name}' to the {classes} "
            "classes (e.g. vgg16's and mobilenet_v3's heads stack several linear layers); use "
            "grad_cam"
        )
    tolerance = 1e-4 * logits.abs().max().clamp_min(1.0)
    with torch.no_grad():
        for features in (activations, activations.clamp_min(0)):
            for weight, bias in reversed(linears):
                pooled = F.linear(features.mean(dim=(2, 3)), weight, bias)
                if (pooled - logits).abs().max() <= tolerance:
                    return features, weight
    raise UnsupportedMethod(
        f"CAM needs logits = linear(global average pool(layer '{name}')), and this network's "
        "head does something else in between (e.g. convnext's LayerNorm, vit's class token); "
        "use grad_cam"
    )


def _linear_layers(
    model: nn.Module, channels: int, classes: int
) -> Iterator[tuple[Tensor, Tensor | None]]:
    """(weight, bias) of every module that holds a (classes, channels) weight of its own."""
    for module in model.modules():
        own = dict(module.named_parameters(recurse=False)) | dict(
            module.named_buffers(recurse=False)
        )
        weight, bias = own.get("weight"), own.get("bias")
        if weight is None or tuple(weight.shape) != (classes, channels):
            continue
        if bias is None or tuple(bias.shape) == (classes,):
            yield weight, bias


CAM = ExplainerSpec(
    name="cam",
    function=cam,
    params=(
        LAYER,
        Param(
            "relu",
            "flag",
            False,
            "clamp the map at zero, as Grad-CAM does; Zhou et al.'s map has no ReLU",
        ),
    ),
    description="class activation map: final linear weights times the feature map, for "
    "networks ending in global average pooling + one linear layer, negative values kept "
    "(Zhou et al. 2016)",
    passes=forward_pass,
)
