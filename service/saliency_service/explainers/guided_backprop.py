"""Guided backpropagation and deconvnet: gradients with a modified backward rule at ReLUs.

Guided backprop: J. T. Springenberg, A. Dosovitskiy, T. Brox, M. Riedmiller, "Striving for
Simplicity: The All Convolutional Net", ICLR workshop 2015 (arXiv:1412.6806).
Deconvnet: M. D. Zeiler, R. Fergus, "Visualizing and Understanding Convolutional Networks",
ECCV 2014 (arXiv:1311.2901), §2.1. At a ReLU with input x and incoming gradient g, backprop
passes `g · [x > 0]`, deconvnet `g · [g > 0]`, guided backprop `g · [x > 0] · [g > 0]`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.autograd.function import FunctionCtx

from saliency_service.errors import UnsupportedMethod
from saliency_service.explainers._autograd import gradients_and_logits
from saliency_service.explainers._op_override import RELU_FUNCTIONS, Substitution
from saliency_service.explainers._params import reduce_param
from saliency_service.explainers._reduce import reduce_channels
from saliency_service.explainers.base import ExplainerSpec, Explanation


class _GuidedReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx: FunctionCtx, x: Tensor) -> Tensor:
        out = x.clamp(min=0)
        ctx.save_for_backward(out)  # out > 0 exactly where x > 0
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (out,) = ctx.saved_tensors
        opened: Tensor = out > 0
        return grad.clamp(min=0) * opened


class _DeconvReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx: FunctionCtx, x: Tensor) -> Tensor:
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        return grad.clamp(min=0)


def _explain(
    rule: type[torch.autograd.Function],
    name: str,
    model: nn.Module,
    images: Tensor,
    targets: Tensor | None,
    reduce: str,
    chunk_size: int | None,
) -> Explanation:
    def relu(input: Tensor, inplace: bool = False) -> Tensor:
        return rule.apply(input)  # type: ignore[no-any-return]

    with Substitution(dict.fromkeys(RELU_FUNCTIONS, relu)) as substitution:
        gradient, logits = gradients_and_logits(model, images, targets, chunk_size)
    if substitution.calls == 0:
        raise UnsupportedMethod(
            f"{name} found no ReLU to modify: the model has none, or runs outside Python "
            "(TorchScript)"
        )
    return Explanation(
        heatmap=reduce_channels(gradient, reduce), attributions=gradient, logits=logits
    )


def guided_backprop(
    model: nn.Module,
    images: Tensor,
    targets: Tensor | None,
    *,
    reduce: str = "abs_max",
    chunk_size: int | None = None,
) -> Explanation:
    """Backprop that passes only positive gradients through ReLUs with positive input.

    Works with ReLU modules (in place or not, reused or not) and with functional ReLUs.

    Args:
        model: maps pixels in [0, 1] to logits.
        images: the batch, in [0, 1].
        targets: one class per image; None for the class the model predicts.
        reduce: channel reduction for the heatmap (see `reduce_channels`).
        chunk_size: most images per forward/backward pass; None for all at once.

    Returns:
        attributions: the guided gradient; heatmap: its channel reduction.

    Raises:
        UnsupportedMethod: no ReLU was called through Python during the forward pass.

    Shape:
        images: (N, C, H, W); targets: (N,); heatmap (N, H, W); attributions (N, C, H, W).
    """
    return _explain(_GuidedReLU, "guided_backprop", model, images, targets, reduce, chunk_size)


def deconvnet(
    model: nn.Module,
    images: Tensor,
    targets: Tensor | None,
    *,
    reduce: str = "abs_max",
    chunk_size: int | None = None,
) -> Explanation:
    """Backprop whose ReLUs pass the positive part of the gradient, whatever their input.

    Args:
        model: maps pixels in [0, 1] to logits.
        images: the batch, in [0, 1].
        targets: one class per image; None for the class the model predicts.
        reduce: channel reduction for the heatmap (see `reduce_channels`).
        chunk_size: most images per forward/backward pass; None for all at once.

    Returns:
        attributions: the deconvnet signal; heatmap: its channel reduction.

    Raises:
        UnsupportedMethod: no ReLU was called through Python during the forward pass.

    Shape:
        images: (N, C, H, W); targets: (N,); heatmap (N, H, W); attributions (N, C, H, W).
    """
    return _explain(_DeconvReLU, "deconvnet", model, images, targets, reduce, chunk_size)


GUIDED_BACKPROP = ExplainerSpec(
    name="guided_backprop",
    function=guided_backprop,
    params=(reduce_param("abs_max"),),
    description="backprop passing only positive gradients through active ReLUs "
    "(Springenberg et al. 2015)",
    attributions=True,
    predicts=True,
)
DECONVNET = ExplainerSpec(
    name="deconvnet",
    function=deconvnet,
    params=(reduce_param("abs_max"),),
    description="backprop passing only positive gradients through ReLUs, whatever their "
    "input (Zeiler & Fergus 2014)",
    attributions=True,
    predicts=True,
)
