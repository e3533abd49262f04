"""DeepLIFT's rules, as substitutes for the torch functions they replace during one pass.

A. Shrikumar, P. Greenside, A. Kundaje, "Learning Important Features Through Propagating
Activation Differences", ICML 2017 (arXiv:1704.02685). Images and references go through the
model as one batch, `[x; x']`, so each substitute sees both activations of a pair (its "paired"
input) and returns, as its gradient, the multiplier `m` of the image rows; the reference rows
get none. A rule is exact when `Δy = Σ m ⊙ Δx` for its own inputs; the chain rule for
multipliers (eq. 3) then keeps the whole network's summation-to-delta (eq. 1):
- Rescale (§3.5.2), for single-input nonlinearities: `m = Δy/Δx`, the derivative where
  `|Δx|` is below `_EPS` (Captum's default). ReLU and the smooth gates of mobile networks
  (Hardswish, Hardsigmoid, SiLU, sigmoid, tanh, GELU).
- Max-pool: the difference of the maxima credited to the argmax inputs (below).
- Product of two activations (squeeze-and-excitation's `scale * x`): `Δ(ab) = ā Δb + b̄ Δa`
  with `ā = (a + a')/2`, exact; it is the two-player Shapley split of `Δ(ab)`.
Functions with no rule (normalisations, softmax, attention, other pools, products and quotients
of two activations) raise `UnsupportedMethod` when they meet a paired input, rather than
leaving a gap.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import FunctionCtx

from saliency_service.errors import UnsupportedMethod
from saliency_service.explainers._op_override import RELU_FUNCTIONS

_EPS = 1e-10
aten = torch.ops.aten


class _Rescale(torch.autograd.Function):
    """`y = g(x)` elementwise; the multiplier `Δy/Δx` (Rescale rule, §3.5.2)."""

    @staticmethod
    def forward(ctx: FunctionCtx, x: Tensor, g: Callable[[Tensor], Tensor]) -> Tensor:
        # Only x is kept (as autograd keeps one tensor per activation); y is recomputed.
        ctx.save_for_backward(x)
        ctx.g = g  # type: ignore[attr-defined]
        return g(x)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        (x,) = ctx.saved_tensors
        x_in, x_ref = x.chunk(2)
        delta_in = x_in - x_ref
        with torch.enable_grad():
            point = x_in.detach().requires_grad_(True)
            y_in = ctx.g(point)
            (slope,) = torch.autograd.grad(y_in.sum(), point)
        delta_out = y_in.detach() - ctx.g(x_ref)
        multiplier = torch.where(delta_in.abs() < _EPS, slope, delta_out / delta_in)
        return _image_rows_only(grad.chunk(2)[0] * multiplier), None


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
            credited: Tensor = aten.max_pool2d_with_indices_backward(
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


class _Product(torch.autograd.Function):
    """`a ⊙ b` of two activations (broadcasting); multipliers `(b + b')/2` and `(a + a')/2`."""

    @staticmethod
    def forward(ctx: FunctionCtx, a: Tensor, b: Tensor) -> Tensor:
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, Tensor]:
        a, b = ctx.saved_tensors
        g = grad.chunk(2)[0]
        mean_a, mean_b = (sum(a.chunk(2)) / 2, sum(b.chunk(2)) / 2)
        to_a = (g * mean_b).sum_to_size(mean_a.shape)
        to_b = (g * mean_a).sum_to_size(mean_b.shape)
        return _image_rows_only(to_a), _image_rows_only(to_b)


def _image_rows_only(multiplier: Tensor) -> Tensor:
    return torch.cat([multiplier, torch.zeros_like(multiplier)])


def _pair(value: int | tuple[int, int] | list[int]) -> list[int]:
    return [value, value] if isinstance(value, int) else list(value)


# Single-input nonlinearities → the out-of-place function the Rescale rule differentiates.
_RESCALED: dict[Callable[..., Any], Callable[[Tensor], Tensor]] = {
    **dict.fromkeys(RELU_FUNCTIONS, torch.relu),
    **dict.fromkeys((F.hardswish, aten.hardswish.default, aten.hardswish_.default), F.hardswish),
    **dict.fromkeys(
        (F.hardsigmoid, aten.hardsigmoid.default, aten.hardsigmoid_.default), F.hardsigmoid
    ),
    **dict.fromkeys((F.silu, aten.silu.default, aten.silu_.default), F.silu),
    **dict.fromkeys(
        (torch.sigmoid, torch.Tensor.sigmoid, aten.sigmoid.default, aten.sigmoid_.default),
        torch.sigmoid,
    ),
    **dict.fromkeys(
        (torch.tanh, torch.Tensor.tanh, aten.tanh.default, aten.tanh_.default), torch.tanh
    ),
}
_GELU = (F.gelu, aten.gelu.default)
_MAX_POOL_2D = (F.max_pool2d, aten.max_pool2d.default)
_PRODUCTS = (torch.mul, torch.Tensor.mul, aten.mul.Tensor)
# Functions with no rule: any paired input refuses the call.
NO_RULE: dict[Callable[..., Any], str] = {
    **dict.fromkeys((F.layer_norm, aten.layer_norm.default), "layer_norm"),
    **dict.fromkeys((F.group_norm, aten.group_norm.default), "group_norm"),
    **dict.fromkeys((F.instance_norm, aten.instance_norm.default), "instance_norm"),
    F.local_response_norm: "local_response_norm",
    F.normalize: "normalize",
    **dict.fromkeys(
        (F.softmax, torch.softmax, torch.Tensor.softmax, aten.softmax.int, aten._softmax.default),
        "softmax",
    ),
    **dict.fromkeys((F.log_softmax, torch.log_softmax, torch.Tensor.log_softmax), "log_softmax"),
    F.scaled_dot_product_attention: "attention",
    F.multi_head_attention_forward: "attention",
    **dict.fromkeys((F.max_pool1d, F.max_pool3d, aten.max_pool3d.default), "max_pool"),
    **dict.fromkeys(
        (F.adaptive_max_pool1d, F.adaptive_max_pool2d, F.adaptive_max_pool3d), "adaptive_max_pool"
    ),
    **dict.fromkeys((torch.amax, torch.Tensor.amax, torch.max, torch.min), "max/min reduction"),
    **dict.fromkeys((torch.Tensor.max, torch.Tensor.min, torch.amin), "max/min reduction"),
}
# Binary functions with no rule when two of their inputs are activations.
NO_RULE_BETWEEN_ACTIVATIONS: dict[Callable[..., Any], str] = {
    **dict.fromkeys((torch.div, torch.Tensor.div, torch.Tensor.div_, aten.div.Tensor), "division"),
    torch.Tensor.mul_: "in-place product",
    **dict.fromkeys((torch.matmul, torch.Tensor.matmul, torch.bmm, torch.einsum), "matrix product"),
    **dict.fromkeys((aten.matmul.default, aten.bmm.default, aten.einsum.default), "matrix product"),
}


def substitutes(pairs: int) -> dict[Callable[..., Any], Callable[..., Any]]:
    """Every rule and refusal, for a pass over `pairs` images and their references.

    Only tensors whose leading axis is the paired batch and that depend on the input (they
    need a gradient and are not parameters) are "paired"; anything else keeps the ordinary
    function and gradient.
    """

    def paired(value: object) -> bool:
        return (
            isinstance(value, Tensor)
            and not isinstance(value, nn.Parameter)
            and value.requires_grad
            and value.dim() > 0
            and value.shape[0] == 2 * pairs
        )

    def rescaled(g: Callable[[Tensor], Tensor]) -> Callable[..., Any]:
        def substitute(input: Tensor, *_: Any, **__: Any) -> Any:  # drops `inplace`
            return _Rescale.apply(input, g) if paired(input) else NotImplemented

        return substitute

    def gelu(input: Tensor, approximate: str = "none") -> Any:
        g = functools.partial(F.gelu, approximate=approximate)
        return _Rescale.apply(input, g) if paired(input) else NotImplemented

    def max_pool2d(
        input: Tensor,
        kernel_size: Any,
        stride: Any = None,
        padding: Any = 0,
        dilation: Any = 1,
        ceil_mode: bool = False,
        return_indices: bool = False,
    ) -> Any:
        if not paired(input):
            return NotImplemented
        if return_indices or input.dim() != 4:
            raise _refusal("max_pool2d with indices or without a batch of images")
        sides = (kernel_size, stride or kernel_size, padding, dilation)
        return _RescaleMaxPool2d.apply(input, (*(_pair(side) for side in sides), ceil_mode))

    def product(input: Tensor, other: Any, **_: Any) -> Any:
        return _Product.apply(input, other) if paired(input) and paired(other) else NotImplemented

    def refuse(name: str, needed: int) -> Callable[..., Any]:
        def substitute(*args: Any, **kwargs: Any) -> Any:
            values = [*args, *kwargs.values()]
            operands = [v for a in values for v in (a if isinstance(a, list | tuple) else [a])]
            if sum(paired(v) for v in operands) >= needed:
                raise _refusal(name)
            return NotImplemented

        return substitute

    return {
        **{function: rescaled(g) for function, g in _RESCALED.items()},
        **dict.fromkeys(_GELU, gelu),
        **dict.fromkeys(_MAX_POOL_2D, max_pool2d),
        **dict.fromkeys(_PRODUCTS, product),
        **{function: refuse(name, 1) for function, name in NO_RULE.items()},
        **{function: refuse(name, 2) for function, name in NO_RULE_BETWEEN_ACTIVATIONS.items()},
    }


def _refusal(what: str) -> UnsupportedMethod:
    return UnsupportedMethod(
        f"deeplift has no rule for {what} in this model (rules: ReLU, Hardswish, Hardsigmoid, "
        "SiLU, sigmoid, tanh, GELU, 2-D max-pool, products of two activations); "
        "use integrated_gradients"
    )
