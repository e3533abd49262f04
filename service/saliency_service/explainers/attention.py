"""Attention maps of a vision transformer, and the attention weights that rollout reuses.

Attention map (Dosovitskiy et al. 2021, "An Image is Worth 16x16 Words", arXiv:2010.11929):
the class token's attention over the patches at one layer, heads fused. Attention rollout
(explainers/attention_rollout.py) multiplies the same weights through the layers.

torchvision's `EncoderBlock` calls its `nn.MultiheadAttention` with `need_weights=False`, so a
forward hook recomputes softmax(Q Kᵀ / √d) per head (Vaswani et al. 2017, eq. 1) from the
module's own input and projection weights; timm's and Hugging Face's ViTs call
`scaled_dot_product_attention`, whose weights are recomputed from each call's arguments (a
torch function mode, explainers/_op_override.py). Neither changes the model's outputs, and
both are removed in `finally`. Both methods are class-agnostic: `targets` are not
used. Heads are fused by their mean (default), max or min; rows are renormalised after the
identity is added, which matters for max and min (their rows do not sum to 1).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from math import isqrt, sqrt
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from saliency_service.errors import InvalidRequest, UnsupportedMethod
from saliency_service.explainers._cam_base import upsample
from saliency_service.explainers._op_override import Substitution
from saliency_service.explainers.base import ExplainerSpec, Explanation, forward_pass
from saliency_service.models.feature_maps import prefix_tokens
from saliency_service.params import Param

HEAD_FUSIONS: tuple[str, ...] = ("mean", "max", "min")
HEAD_FUSION = Param("head_fusion", "text", "mean", "how the heads combine", choices=HEAD_FUSIONS)


def attention(
    model: nn.Module,
    images: Tensor,
    targets: Tensor,
    *,
    layer_index: int = -1,
    head_fusion: str = "mean",
) -> Explanation:
    """The class token's attention over the patches at one self-attention layer.

    Args:
        model: a vision transformer taking pixels in [0, 1], in eval mode.
        images: the batch, not modified.
        targets: unused (attention does not depend on the class).
        layer_index: which self-attention layer, counted from 0; negative counts from the end.
        head_fusion: "mean", "max" or "min" over the heads.

    Returns:
        `heatmap`: the fused attention of the class token to each patch, upsampled, raw.

    Raises:
        UnsupportedMethod: the model has no self-attention over a class token and a square grid.
        InvalidRequest: `layer_index` or `head_fusion` is out of range.

    Shape:
        images: (N, C, H, W); heatmap: (N, H, W).
    """
    layers = attention_weights(model, images)
    if not -len(layers) <= layer_index < len(layers):
        raise InvalidRequest(
            f"layer_index must be in [{-len(layers)}, {len(layers)}) for this model's "
            f"{len(layers)} attention layers; got {layer_index}"
        )
    return class_token_heatmap(fuse_heads(layers[layer_index], head_fusion), images)


def attention_weights(model: nn.Module, images: Tensor) -> list[Tensor]:
    """Every self-attention layer's per-head weights, in the order the layers run.

    Two sources: `nn.MultiheadAttention` modules (torchvision's ViT), recomputed from their
    input and projection by a forward hook; and every `scaled_dot_product_attention` call made
    elsewhere (timm's and Hugging Face's ViT and DeiT, exported programs), whose softmax is
    recomputed from the call's own query, key, mask and scale while the call itself runs
    unchanged.

    Raises:
        UnsupportedMethod: the model runs no self-attention over all of its tokens (windowed
            attention, as swin's, works on windows of the image, not on its patches).

    Shape:
        images: (N, C, H, W); each entry (N, heads, L, L), rows summing to 1.
    """
    modules = [m for m in model.modules() if isinstance(m, nn.MultiheadAttention)]
    recorded: list[Tensor] = []
    inside = [0]

    def sdpa(query: Tensor, key: Tensor, *args: Any, **kwargs: Any) -> object:
        if not inside[0]:
            recorded.append(_sdpa_weights(query, key, *args, **kwargs))
        return NotImplemented  # the call itself runs as it would have

    calls: dict[Callable[..., Any], Callable[..., Any]] = dict.fromkeys(SDPA_FUNCTIONS, sdpa)
    with _recording(modules, recorded, inside), Substitution(calls), torch.no_grad():
        model(images)
    if not recorded:
        raise UnsupportedMethod(
            "attention maps need a vision transformer (self-attention over a class token and "
            "a square grid of patches, e.g. vit_b_16, timm's ViT/DeiT, Hugging Face ViT/DeiT); "
            "this model runs no attention (CNNs have none)"
        )
    if any(w.shape[0] != len(images) for w in recorded):
        raise UnsupportedMethod(
            "attention maps need self-attention over the whole image; this model's attention "
            "runs on windows of it (as swin's does)"
        )
    return recorded


# scaled_dot_product_attention as Python code and as exported programs call it.
SDPA_FUNCTIONS = (
    F.scaled_dot_product_attention,
    torch.ops.aten.scaled_dot_product_attention.default,
)


def _sdpa_weights(
    query: Tensor,
    key: Tensor,
    value: object = None,
    attn_mask: Tensor | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    **_: object,
) -> Tensor:
    """softmax(Q Kᵀ · scale + mask) as the call computes it (Vaswani et al. 2017, eq. 1)."""
    if is_causal:
        raise UnsupportedMethod("attention maps need bidirectional (not causal) self-attention")
    scores = query @ key.transpose(-2, -1) * (scale or 1 / sqrt(query.shape[-1]))
    if attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            scores = scores.masked_fill(~attn_mask, float("-inf"))
        else:
            scores = scores + attn_mask
    weights = scores.float().softmax(dim=-1)
    return weights if weights.dim() == 4 else weights.reshape(len(weights), -1, *weights.shape[-2:])


@contextmanager
def _recording(
    layers: list[nn.MultiheadAttention], recorded: list[Tensor], inside: list[int]
) -> Iterator[None]:
    """Hooks that record each `nn.MultiheadAttention`'s weights; `inside[0]` counts the ones
    running, whose own scaled_dot_product_attention calls are not recorded twice."""

    def enter(module: nn.Module, args: object) -> None:
        inside[0] += 1

    def leave(layer: nn.MultiheadAttention, *hook_args: Any) -> None:
        inside[0] -= 1
        _record(layer, recorded, *hook_args)

    handles = [layer.register_forward_pre_hook(enter) for layer in layers]
    handles += [
        layer.register_forward_hook(partial(leave, layer), with_kwargs=True) for layer in layers
    ]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def _record(
    layer: nn.MultiheadAttention,
    recorded: list[Tensor],
    module: nn.Module,
    args: tuple[object, ...],
    kwargs: dict[str, object],
    output: object,
) -> None:
    """Forward hook: append the layer's attention weights; returns None, so outputs stay."""
    query = args[0] if args else kwargs.get("query")
    key = args[1] if len(args) > 1 else kwargs.get("key")
    masked = kwargs.get("attn_mask") is not None or kwargs.get("key_padding_mask") is not None
    if masked or not isinstance(query, Tensor) or not isinstance(key, Tensor):
        raise UnsupportedMethod("attention maps need unmasked self-attention called with tensors")
    recorded.append(_softmax_weights(layer, query, key))


def _softmax_weights(module: nn.MultiheadAttention, query: Tensor, key: Tensor) -> Tensor:
    """softmax(Q Kᵀ / √d) per head, from the module's packed input projection."""
    if module.in_proj_weight is None or module.bias_k is not None:
        raise UnsupportedMethod(
            "attention maps need self-attention with a packed query/key/value projection "
            "and no extra key bias, as torchvision's VisionTransformer has"
        )
    if not module.batch_first:
        query, key = query.transpose(0, 1), key.transpose(0, 1)
    weight_q, weight_k, _ = module.in_proj_weight.chunk(3)
    bias_q, bias_k = (None, None)
    if module.in_proj_bias is not None:
        bias_q, bias_k, _ = module.in_proj_bias.chunk(3)
    n, length, heads = query.shape[0], query.shape[1], module.num_heads
    q = F.linear(query, weight_q, bias_q).reshape(n, length, heads, -1).transpose(1, 2)
    k = F.linear(key, weight_k, bias_k).reshape(n, key.shape[1], heads, -1).transpose(1, 2)
    return (q @ k.transpose(-2, -1) / sqrt(q.shape[-1])).softmax(dim=-1)


def fuse_heads(weights: Tensor, head_fusion: str) -> Tensor:
    """(N, heads, L, L) -> (N, L, L) by the mean, max or min over the heads."""
    if head_fusion == "mean":
        return weights.mean(dim=1)
    if head_fusion == "max":
        return weights.amax(dim=1)
    if head_fusion == "min":
        return weights.amin(dim=1)
    raise InvalidRequest(
        f"head_fusion must be one of {', '.join(HEAD_FUSIONS)}; got {head_fusion!r}"
    )


def class_token_heatmap(matrix: Tensor, images: Tensor) -> Explanation:
    """Row 0 (the class token) over the patch columns, as a square grid upsampled to the input.

    The patches are the last g² tokens; the tokens before them (class, distillation, register
    tokens) are left out (feature_maps.prefix_tokens).
    """
    tokens = matrix.shape[-1]
    prefix = prefix_tokens(tokens)
    if prefix is None:
        raise UnsupportedMethod(
            f"attention maps need a class token and a square grid of patches; this model has "
            f"{tokens} tokens"
        )
    side = isqrt(tokens - prefix)
    grid = matrix[:, 0, prefix:].reshape(-1, side, side)
    return Explanation(heatmap=upsample(grid, (images.shape[-2], images.shape[-1])))


ATTENTION = ExplainerSpec(
    name="attention",
    function=attention,
    params=(
        Param(
            "layer_index",
            "integer",
            -1,
            "which self-attention layer, from 0; negative counts from the last (-1)",
            minimum=-1024,
            maximum=1023,
        ),
        HEAD_FUSION,
    ),
    description="a vision transformer's class-token attention over the patches at one "
    "layer; class-agnostic",
    passes=forward_pass,
    chunks=False,
)
