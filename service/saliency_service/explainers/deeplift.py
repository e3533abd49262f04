"""DeepLIFT with the Rescale rule, for ReLU networks with max-pooling (torchvision ResNets too).

A. Shrikumar, P. Greenside, A. Kundaje, "Learning Important Features Through Propagating
Activation Differences", ICML 2017 (arXiv:1704.02685). Multipliers `m = Δy/Δx` replace
gradients at nonlinearities (the Rescale rule) and compose by the chain rule for multipliers;
affine layers (convolutions, eval-mode batch norm, linear, average pooling, residual sums)
keep their gradients, which are their multipliers. So `Σ (x − x') ⊙ m = f_c(x) − f_c(x')`
(summation-to-delta, eq. 1), up to rounding and to nonlinearities not handled here.

Images and references go through the model as one batch, `[x; x']`, so each substituted
nonlinearity sees both activations of a pair; the substitutes give the reference rows no
gradient, since only the image rows' multipliers are wanted.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import FunctionCtx

from saliency_service.errors import UnsupportedMethod
from saliency_service.explainers._autograd import chunks, input_gradients
from saliency_service.explainers._op_override import RELU_FUNCTIONS, Substitution
from saliency_service.explainers._reduce import reduce_channels
from saliency_service.explainers._reference import baselines, completeness
from saliency_service.explainers.base import Explanation

# Where |Δx| is below this, the gradient at x stands in for Δy/Δx (Captum's default eps).
_EPS = 1e-10


class _RescaleReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx: FunctionCtx, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        x_in, x_ref = x.chunk(2)
        delta_in = x_in - x_ref
        delta_out = x_in.clamp(min=0) - x_ref.clamp(min=0)
        gradient = (x_in > 0).to(grad.dtype)
        multiplier = torch.where(delta_in.abs() < _EPS, gradient, delta_out / delta_in)
        return _image_rows_only(grad.chunk(2)[0] * multiplier)


class _RescaleMaxPool2d(torch.autograd.Function):
    """The max-pool rule of Captum's DeepLift (`deep_lift.maxpool`), exact for overlaps.

    `Δy = (max(y, y') − y') + (y − max(y, y'))`: the first part is credited to the image's
    argmax, the second to the reference's, each then divided by that input's Δx. Crediting
    goes through max-pool's own backward, which adds where windows overlap (resnet's 3×3,
    stride-2 pool) instead of overwriting as `max_unpool2d` does, so no difference is lost.
    """

    @staticmethod
    def forward(ctx: FunctionCtx, x: Tensor, geometry: tuple[Any, ...]) -> Tensor:
        out, indices = F.max_pool2d(x, *geometry, return_indices=True)
        ctx.save_for_backward(x, out, indices)
        ctx.geometry = geometry  # type: ignore[attr-defined]
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        x, out, indices = ctx.saved_tensors
        kernel, stride, padding, dilation, ceil_mode = ctx.geometry

        def credit(per_output: Tensor) -> Tensor:
            credited: Tensor = torch.ops.aten.max_pool2d_with_indices_backward(
                per_output, x, kernel, stride, padding, dilation, ceil_mode, indices
            )
            return credited

        x_in, x_ref = x.chunk(2)
        y_in, y_ref = out.chunk(2)
        g = grad.chunk(2)[0]
        top = torch.maximum(y_in, y_ref)
        to_image, to_reference = credit(torch.cat([g * (top - y_ref), g * (y_in - top)])).chunk(2)
        delta_in = x_in - x_ref
        plain = credit(torch.cat([g, torch.zeros_like(g)])).chunk(2)[0]
        multiplier = torch.where(delta_in.abs() < _EPS, plain, (to_image + to_reference) / delta_in)
        return _image_rows_only(multiplier), None


def _image_rows_only(multiplier: Tensor) -> Tensor:
    return torch.cat([multiplier, torch.zeros_like(multiplier)])


def _substitutes(pairs: int) -> dict[Any, Any]:
    # Only tensors whose leading axis is the paired batch are rescaled; anything else keeps
    # the ordinary function and gradient.
    def relu(input: Tensor, inplace: bool = False) -> Any:
        if input.dim() == 0 or input.shape[0] != 2 * pairs:
            return NotImplemented
        return _RescaleReLU.apply(input)

    def max_pool2d(
        input: Tensor,
        kernel_size: Any,
        stride: Any = None,
        padding: Any = 0,
        dilation: Any = 1,
        ceil_mode: bool = False,
        return_indices: bool = False,
    ) -> Any:
        if return_indices or input.dim() != 4 or input.shape[0] != 2 * pairs:
            return NotImplemented
        sides = (kernel_size, stride or kernel_size, padding, dilation)
        return _RescaleMaxPool2d.apply(input, (*(_pair(side) for side in sides), ceil_mode))

    return {**dict.fromkeys(RELU_FUNCTIONS, relu), F.max_pool2d: max_pool2d}


def _pair(value: int | tuple[int, int] | list[int]) -> list[int]:
    return [value, value] if isinstance(value, int) else list(value)


def deeplift(
    model: nn.Module,
    images: Tensor,
    targets: Tensor,
    *,
    baseline: str = "black",
    blur_sigma: float = 5.0,
    seed: int = 0,
    baseline_image: Tensor | np.ndarray | None = None,
    reduce: str = "sum",
    chunk_size: int | None = None,
) -> Explanation:
    """DeepLIFT-Rescale contributions `(x − x') ⊙ m` of each pixel to `f_c(x) − f_c(x')`.

    ReLUs (any spelling, in place or reused) and `max_pool2d` follow the rules above; other
    nonlinearities keep their gradients, which shows as a completeness gap.

    Args:
        model: maps pixels in [0, 1] to logits; rows must not interact (eval mode).
        images: the batch, in [0, 1].
        targets: one class per image.
        baseline: the reference x' (see `_reference.baselines`): "black", "blurred",
            "uniform" or "given".
        blur_sigma: blur in pixels for the "blurred" baseline.
        seed: seeds the "uniform" baseline.
        baseline_image: the "given" baseline, (H, W, C) in [0, 1] pixel space.
        reduce: channel reduction for the heatmap; "sum" keeps summation-to-delta.
        chunk_size: most rows per forward/backward pass, each image taking two (x and x');
            None for all at once.

    Returns:
        attributions, their channel reduction as heatmap, and per image the diagnostics
        "score_delta", "completeness_gap" (the summation-to-delta gap) and
        "relative_completeness_gap".

    Raises:
        UnsupportedMethod: no ReLU or max-pool was called through Python during the forward
            pass, so no rule applied.

    Shape:
        images: (N, C, H, W); targets: (N,); heatmap (N, H, W); attributions (N, C, H, W);
        each diagnostic (N,).
    """
    references = baselines(
        images, baseline, blur_sigma=blur_sigma, seed=seed, baseline_image=baseline_image
    )
    multipliers, scores, reference_scores = [], [], []
    images_per_pass = None if chunk_size is None else max(1, chunk_size // 2)
    for rows in chunks(len(images), images_per_pass):
        pairs = torch.cat([images[rows], references[rows]])
        with Substitution(_substitutes(len(images[rows]))) as substitution:
            gradient, score = input_gradients(model, pairs, targets[rows].repeat(2))
        if substitution.calls == 0:
            raise UnsupportedMethod(
                "deeplift found no ReLU or max-pool to apply its rules to: the model has none, "
                "or runs outside Python (TorchScript)"
            )
        multipliers.append(gradient.chunk(2)[0])
        scores.append(score.chunk(2)[0])
        reference_scores.append(score.chunk(2)[1])
    attributions = (images - references) * torch.cat(multipliers)
    return Explanation(
        heatmap=reduce_channels(attributions, reduce),
        attributions=attributions,
        diagnostics=completeness(attributions, torch.cat(scores), torch.cat(reference_scores)),
    )
