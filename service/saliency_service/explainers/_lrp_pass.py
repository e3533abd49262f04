"""One forward pass under LRP's rules: the canonizers and the composite, applied per function call.

Rules are attached to the torch functions a forward pass calls, not to modules, so the model is
never modified and nothing is installed on it (see `_op_override` for why function calls, not
module hooks). This also canonizes the torchvision networks as they are (zennit needs
canonizers, rewritten modules, for the same):
- a batch norm applied to the output of the convolution just computed is merged into it: the
  rule sees one layer with weights `w·s` and bias `(b − μ)·s + β`, `s = γ/√(σ² + ε)`;
  a batch norm on anything else (DenseNet's, after a concatenation) passes relevance unchanged;
- an addition of two tensors (ResNet's residual `out += identity`) and average pooling split
  relevance in proportion to each input's contribution (zennit's Norm rule), where the gradient
  would copy it to both branches;
- concatenation (DenseNet), max-pooling (winner takes all), ReLU, flattening and the other
  reshapes keep their gradient, which moves relevance without creating or losing any.
Any other function that meets a tensor carrying relevance stops the pass with
`UnsupportedMethod` naming it: a map that silently broke conservation would be worse.

Everything before the first linear layer (the Classifier's normalisation) is elementwise and
carries no rule: the first layer's input relevance is the pixels' relevance, captured there.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.overrides import TorchFunctionMode

from saliency_service.errors import UnsupportedMethod
from saliency_service.explainers._lrp_rules import Layer, LinearRule, Passed, Proportional, Rule
from saliency_service.explainers._op_override import RELU_FUNCTIONS

aten = torch.ops.aten


@dataclass(frozen=True)
class Composite:
    """The rule of each kind of linear layer; `first` (if any) replaces it for the first linear
    layer, when that layer is a convolution or `first_any` (zennit's first maps)."""

    convolution: Rule
    linear: Rule
    first: Rule | None = None
    first_any: bool = False


_ADDITIONS = (torch.add, Tensor.add, Tensor.__add__, Tensor.__radd__)
_IN_PLACE_ADDITIONS = (Tensor.add_, Tensor.__iadd__)
_AVERAGES = (F.avg_pool2d, F.adaptive_avg_pool2d, torch.avg_pool1d)
# Functions whose gradient moves relevance without changing its sum, or that compute no value
# from relevance-carrying tensors (metadata, copies).
_KEPT: frozenset[Callable[..., Any]] = frozenset({
    *RELU_FUNCTIONS, F.max_pool2d, torch.max_pool2d, F.max_pool2d_with_indices, F.dropout,
    torch.flatten, Tensor.flatten, Tensor.view, Tensor.reshape, torch.reshape, torch.cat,
    Tensor.contiguous, Tensor.__getitem__, Tensor.squeeze, Tensor.unsqueeze, torch.squeeze,
    torch.unsqueeze, Tensor.clone, Tensor.to, Tensor.float, Tensor.permute, Tensor.detach,
    Tensor.requires_grad_, Tensor.size, Tensor.dim, Tensor.numel,
})  # fmt: skip


class LrpPass(TorchFunctionMode):
    """While active, the forward pass carries `composite`'s rules.

    Attributes:
        captured: the first layer's input relevance, appended by the backward pass.
    """

    def __init__(self, composite: Composite, bounds: tuple[Tensor, Tensor]) -> None:
        super().__init__()
        self.composite = composite
        self.bounds = bounds
        self.captured: list[Tensor] = []
        self._started = False
        # The last convolution: its output, and how to redo it with other weights and bias.
        self._last: _Convolved | None = None

    def __torch_function__(
        self,
        func: Callable[..., Any],
        types: object,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        kwargs = kwargs or {}
        if func is torch.conv2d or func is F.linear:
            return self._linear(func, *args, **kwargs)
        if not self._started:  # elementwise preprocessing: its relevance is the pixels'
            return func(*args, **kwargs)
        if func is F.batch_norm:
            return self._batch_norm(*args, **kwargs)
        if func in _ADDITIONS or func in _IN_PLACE_ADDITIONS:
            return self._add(func, *args, **kwargs)
        if func in _AVERAGES:
            return Proportional.apply(_with_input(func, args[1:], kwargs), args[0])
        if func is F.dropout and (kwargs.get("training") or (len(args) > 2 and args[2])):
            raise UnsupportedMethod("lrp needs the model in eval mode (dropout is training)")
        result = func(*args, **kwargs)
        if func not in _KEPT and isinstance(result, Tensor) and _carries(args, kwargs):
            name = getattr(func, "__name__", repr(func))
            raise UnsupportedMethod(
                f"lrp has no rule for {name!r}, which this model applies to a feature map; "
                "LRP covers convolutions, linear layers, batch norm, ReLU, max and average "
                "pooling, residual additions and concatenations (vgg, resnet, densenet)"
            )
        return result

    def _linear(
        self,
        func: Callable[..., Tensor],
        x: Tensor,
        weight: Tensor,
        bias: Tensor | None = None,
        *geometry: Any,
        **options: Any,
    ) -> Tensor:
        convolution = func is torch.conv2d
        composite, first = self.composite, not self._started
        rule = composite.convolution if convolution else composite.linear
        if first and composite.first is not None and (convolution or composite.first_any):
            rule = composite.first
        layer = _convolution(*geometry, **options) if convolution else _LINEAR
        sink = self.captured if first else None
        bounds = self.bounds if rule.kind == "z_box" else None
        self._started = True

        def run(w: Tensor, b: Tensor | None) -> Tensor:
            return cast(Tensor, LinearRule.apply(x, w, b, layer, rule, bounds, sink))

        output = run(weight, bias)
        self._last = _Convolved(output, run, weight, bias) if convolution else None
        return output

    def _batch_norm(
        self,
        x: Tensor,
        mean: Tensor | None,
        var: Tensor | None,
        weight: Tensor | None = None,
        bias: Tensor | None = None,
        training: bool = False,
        momentum: float | None = 0.1,
        eps: float = 1e-5,
    ) -> Tensor:
        if training or mean is None or var is None:
            raise UnsupportedMethod("lrp needs the model in eval mode (batch norm is training)")
        norm = functools.partial(
            F.batch_norm, running_mean=mean, running_var=var, weight=weight, bias=bias, eps=eps
        )
        last, self._last = self._last, None
        if last is None or x is not last.output:
            return cast(Tensor, Passed.apply(x, norm))
        # The canonizer: the affine map merged into the convolution that produced x.
        scale = (1.0 if weight is None else weight) / (var + eps).sqrt()
        shape = (-1, *[1] * (last.weight.dim() - 1))
        shift = (0.0 if last.bias is None else last.bias) - mean
        merged_bias = shift * scale + (0.0 if bias is None else bias)
        return last.run(last.weight * scale.view(shape), merged_bias)

    def _add(self, func: Callable[..., Any], a: Any, b: Any, **options: Any) -> Any:
        if options.get("alpha", 1) != 1 or not isinstance(a, Tensor):
            raise UnsupportedMethod("lrp has no rule for a scaled addition")
        operands = (a, b) if isinstance(b, Tensor) else (a,)
        add = torch.add if isinstance(b, Tensor) else functools.partial(torch.add, other=b)
        if func not in _IN_PLACE_ADDITIONS:
            return Proportional.apply(add, *operands)
        # In place: the sum is computed from a copy of `a` (the rule keeps its inputs for the
        # backward pass) and written back, so code that ignores the return value still works.
        total = Proportional.apply(add, a.clone(), *operands[1:])
        return a.copy_(total)


@dataclass(frozen=True)
class _Convolved:
    output: Tensor
    run: Callable[[Tensor, Tensor | None], Tensor]
    weight: Tensor
    bias: Tensor | None


def _with_input(
    func: Callable[..., Tensor], rest: tuple[Any, ...], kwargs: dict[str, Any]
) -> Callable[[Tensor], Tensor]:
    return lambda x: func(x, *rest, **kwargs)


def _carries(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    """Whether a call receives a tensor on the relevance path (one that requires grad)."""
    values = [*args, *kwargs.values()]
    values += [v for value in values if isinstance(value, (list, tuple)) for v in value]
    return any(isinstance(v, Tensor) and v.requires_grad for v in values)


def _convolution(
    stride: Any = 1, padding: Any = 0, dilation: Any = 1, groups: int = 1
) -> Layer:
    def forward(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        return torch.conv2d(x, weight, bias, stride, padding, dilation, groups)

    if isinstance(padding, str):  # "same"/"valid": let autograd find the transpose
        return Layer(forward, functools.partial(_transpose_by_autograd, forward))

    def transpose(g: Tensor, weight: Tensor, x: Tensor) -> Tensor:
        pairs = [_pair(v) for v in (stride, padding, dilation)]
        gradients = aten.convolution_backward(
            g, x, weight, None, *pairs, False, [0, 0], groups, [True, False, False]
        )
        return cast(Tensor, gradients[0])

    return Layer(forward, transpose)


def _pair(value: Any) -> list[int]:
    return [int(value)] * 2 if isinstance(value, int) else [int(v) for v in value]


def _transpose_by_autograd(
    forward: Callable[[Tensor, Tensor, Tensor | None], Tensor], g: Tensor, weight: Tensor, x: Tensor
) -> Tensor:
    with torch.enable_grad():
        leaf = torch.zeros_like(x).requires_grad_(True)
        (result,) = torch.autograd.grad(forward(leaf, weight, None), leaf, g)
    return result


_LINEAR = Layer(
    forward=lambda x, weight, bias: F.linear(x, weight, bias),
    transpose=lambda g, weight, _x: g @ weight,
)
