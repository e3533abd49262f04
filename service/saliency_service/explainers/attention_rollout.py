"""Attention rollout of a vision transformer.

Abnar & Zuidema 2020, "Quantifying Attention Flow in Transformers", arXiv:2005.00928, §3: per
layer A' = ½·A + ½·I (the residual connection), rows renormalised, multiplied over the layers
from the first to the last; the map is the class token's row. The weights are read as for
attention maps (explainers/attention.py); class-agnostic: `targets` are not used.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from saliency_service.explainers.attention import (
    HEAD_FUSION,
    attention_weights,
    class_token_heatmap,
    fuse_heads,
)
from saliency_service.explainers.base import ExplainerSpec, Explanation, forward_pass


def attention_rollout(
    model: nn.Module, images: Tensor, targets: Tensor, *, head_fusion: str = "mean"
) -> Explanation:
    """Attention rollout (Abnar & Zuidema 2020) from the input patches to the last class token.

    Args:
        model: a vision transformer taking pixels in [0, 1], in eval mode.
        images: the batch, not modified.
        targets: unused (attention does not depend on the class).
        head_fusion: "mean", "max" or "min" over the heads.

    Returns:
        `heatmap`: the class token's row of the rollout over the patches, upsampled, raw.

    Raises:
        UnsupportedMethod: the model has no self-attention over a class token and a square grid.
        InvalidRequest: `head_fusion` is not one of the choices.

    Shape:
        images: (N, C, H, W); heatmap: (N, H, W).
    """
    layers = attention_weights(model, images)
    tokens = layers[0].shape[-1]
    identity = torch.eye(tokens, device=images.device, dtype=layers[0].dtype)
    rollout = identity.expand(len(images), tokens, tokens)
    for weights in layers:
        # §3: the residual connection as an identity, equally weighted; rows sum to 1 again.
        mixed = 0.5 * fuse_heads(weights, head_fusion) + 0.5 * identity
        rollout = (mixed / mixed.sum(dim=-1, keepdim=True)) @ rollout
    return class_token_heatmap(rollout, images)


ATTENTION_ROLLOUT = ExplainerSpec(
    name="attention_rollout",
    function=attention_rollout,
    params=(HEAD_FUSION,),
    description="attention multiplied through the layers with the residual as identity "
    "(Abnar & Zuidema 2020); class-agnostic",
    passes=forward_pass,
    chunks=False,
)
