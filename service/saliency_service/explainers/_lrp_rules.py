"""LRP's rules for linear layers, and the autograd functions that make a backward pass carry
relevance instead of gradients.

S. Bach, A. Binder, G. Montavon, F. Klauschen, K.-R. Müller, W. Samek, "On Pixel-Wise
Explanations for Non-Linear Classifier Decisions by Layer-Wise Relevance Propagation", PLoS ONE
2015 (ε and αβ rules); G. Montavon, S. Lapuschkin, A. Binder, W. Samek, K.-R. Müller, "Explaining
nonlinear classification decisions with deep Taylor decomposition", Pattern Recognition 2017
(z⁺ and z^B); G. Montavon, A. Binder, S. Lapuschkin, W. Samek, K.-R. Müller, "Layer-Wise
Relevance Propagation: An Overview", 2019 (γ, and the composites); S. Lapuschkin et al.,
"Unmasking Clever Hans predictors", Nat. Commun. 2019 (flat).

For a layer `z_j = Σ_i x_i w_ij + b_j` every rule has the form
`R_i = Σ_j (contribution of i to j) / (stabilised total of j) · R_j`: a modified forward pass
gives the totals, one vector-Jacobian product of the layer (its transposed operator, which does
not depend on x) spreads `R_j / total_j` back, and the inputs multiply it. The parameter
conventions follow zennit (its rules' documentation): the positive part of a split keeps the
positive bias, the γ rule generalised to negative inputs (Andéol et al. 2021), z^B's bounds in
the layer's input space, and the stabiliser `z + ε·sign(z)` with sign(0) = +1.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor
from torch.autograd.function import FunctionCtx

# Rules other than ε only guard their division with this (zennit's default stabiliser).
STABILIZER = 1e-6
RuleKind = Literal["epsilon", "alpha_beta", "gamma", "z_box", "flat"]


@dataclass(frozen=True)
class Rule:
    """One rule and its constants: ε (the ε rule's own term, other rules' stabiliser is fixed),
    α and β (αβ; α = 1, β = 0 is z⁺), γ (γ)."""

    kind: RuleKind
    epsilon: float = STABILIZER
    alpha: float = 1.0
    beta: float = 0.0
    gamma: float = 0.25


@dataclass(frozen=True)
class Layer:
    """A linear layer's operator: `forward(x, weight, bias)` and the vector-Jacobian product
    `transpose(g, weight, x)` w.r.t. its input (x only gives the input's shape)."""

    forward: Callable[[Tensor, Tensor, Tensor | None], Tensor]
    transpose: Callable[[Tensor, Tensor, Tensor], Tensor]


def stabilize(z: Tensor, epsilon: float) -> Tensor:
    """`z + ε·sign(z)`, sign(0) = +1: never zero, and |z| only grows."""
    return z + epsilon * torch.where(z >= 0, 1.0, -1.0).to(z.dtype)


def relevance(
    rule: Rule,
    layer: Layer,
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    upper: Tensor,
    bounds: tuple[Tensor, Tensor] | None = None,
) -> Tensor:
    """The relevance of the layer's inputs, given the relevance `upper` of its outputs.

    Args:
        bounds: z^B's lowest and highest input values, broadcastable to x.

    Shape:
        x: the layer's input; upper: its output; returns x's shape.
    """
    if rule.kind == "epsilon":
        share = upper / stabilize(layer.forward(x, weight, bias), rule.epsilon)
        return x * layer.transpose(share, weight, x)
    if rule.kind == "flat":
        # Every input of a window counts the same: weights and inputs set to one, no bias.
        ones, unit = torch.ones_like(x), torch.ones_like(weight)
        share = upper / stabilize(layer.forward(ones, unit, None), STABILIZER)
        return layer.transpose(share, unit, x)
    if rule.kind == "z_box":
        if bounds is None:
            raise ValueError("the z^B rule needs the input's bounds")
        low, high = (b.expand_as(x) for b in bounds)
        plus, minus = weight.clamp(min=0), weight.clamp(max=0)
        total = (
            layer.forward(x, weight, bias)
            - layer.forward(low, plus, _part(bias, 1))
            - layer.forward(high, minus, _part(bias, -1))
        )
        share = upper / stabilize(total, STABILIZER)
        transpose = layer.transpose
        return x * transpose(share, weight, x) - low * transpose(share, plus, x) - high * (
            transpose(share, minus, x)
        )
    plus, minus = weight.clamp(min=0), weight.clamp(max=0)
    if rule.kind == "alpha_beta":
        positive = _split(layer, x, upper, plus, minus, _part(bias, 1))
        if rule.beta == 0:
            return rule.alpha * positive
        negative = _split(layer, x, upper, minus, plus, _part(bias, -1))
        return rule.alpha * positive - rule.beta * negative
    if rule.kind == "gamma":
        # Andéol et al.'s generalised γ: where z_j > 0, the contributions that agree with it
        # gain γ times their positive (for x > 0) or negative (x < 0) weights; where z_j < 0,
        # the reverse. Positions with z_j = 0 pass nothing.
        z = layer.forward(x, weight, bias)
        grown, shrunk = weight + rule.gamma * plus, weight + rule.gamma * minus
        positive = _split(
            layer, x, upper * (z > 0), grown, shrunk, _grown(bias, rule.gamma, 1)
        )
        negative = _split(
            layer, x, upper * (z < 0), shrunk, grown, _grown(bias, rule.gamma, -1)
        )
        return positive + negative
    raise ValueError(f"unknown LRP rule {rule.kind!r}")


def _split(
    layer: Layer, x: Tensor, upper: Tensor, for_positive: Tensor, for_negative: Tensor,
    bias: Tensor | None,
) -> Tensor:
    """Relevance through `x⁺ · for_positive + x⁻ · for_negative (+ bias)`, the proportions of
    the two products' sum. After a ReLU x has no negative part, and its half is skipped."""
    positive = x.clamp(min=0)
    negative = x.clamp(max=0)
    has_negative = bool((x < 0).any())
    total = layer.forward(positive, for_positive, bias)
    if has_negative:
        total = total + layer.forward(negative, for_negative, None)
    share = upper / stabilize(total, STABILIZER)
    result = positive * layer.transpose(share, for_positive, x)
    if has_negative:
        result = result + negative * layer.transpose(share, for_negative, x)
    return result


def _part(bias: Tensor | None, sign: int) -> Tensor | None:
    if bias is None:
        return None
    return bias.clamp(min=0) if sign > 0 else bias.clamp(max=0)


def _grown(bias: Tensor | None, gamma: float, sign: int) -> Tensor | None:
    part = _part(bias, sign)
    return None if bias is None or part is None else bias + gamma * part


class LinearRule(torch.autograd.Function):
    """`layer.forward(x, weight, bias)`; backward: the rule's relevance of x.

    `sink`, when a list, also receives the input's relevance (the first layer's, which is the
    pixels' relevance whatever elementwise preprocessing came before it).
    """

    @staticmethod
    def forward(
        ctx: FunctionCtx,
        x: Tensor,
        weight: Tensor,
        bias: Tensor | None,
        layer: Layer,
        rule: Rule,
        bounds: tuple[Tensor, Tensor] | None,
        sink: list[Tensor] | None,
    ) -> Tensor:
        # Only the input is kept: an in-place ReLU may overwrite the output afterwards.
        ctx.save_for_backward(x, weight)
        ctx.bias, ctx.layer, ctx.rule = bias, layer, rule  # type: ignore[attr-defined]
        ctx.bounds, ctx.sink = bounds, sink  # type: ignore[attr-defined]
        return layer.forward(x, weight, bias)

    @staticmethod
    def backward(ctx: Any, upper: Tensor) -> tuple[Tensor | None, ...]:
        x, weight = ctx.saved_tensors
        lower = relevance(ctx.rule, ctx.layer, x, weight, ctx.bias, upper, ctx.bounds)
        if ctx.sink is not None:
            ctx.sink.append(lower)
        return lower, None, None, None, None, None, None


class Proportional(torch.autograd.Function):
    """`function(*inputs)`, a sum or an average of its inputs; backward: each input's share of
    the output's relevance in proportion to its contribution (zennit's Norm rule), so a
    residual addition splits relevance between its branches instead of copying it to both."""

    @staticmethod
    def forward(ctx: FunctionCtx, function: Callable[..., Tensor], *inputs: Tensor) -> Tensor:
        ctx.save_for_backward(*inputs)
        ctx.function = function  # type: ignore[attr-defined]
        return function(*inputs)

    @staticmethod
    def backward(ctx: Any, upper: Tensor) -> tuple[Tensor | None, ...]:
        inputs = ctx.saved_tensors
        with torch.enable_grad():
            leaves = [t.detach().requires_grad_(True) for t in inputs]
            output = ctx.function(*leaves)
            share = upper / stabilize(output.detach(), STABILIZER)
            spread = torch.autograd.grad(output, leaves, share)
        return None, *(t * g for t, g in zip(inputs, spread, strict=True))


class Passed(torch.autograd.Function):
    """`function(x)`, an elementwise affine map (an unmerged batch norm); backward: relevance
    passes unchanged (zennit's Pass rule for batch norms)."""

    @staticmethod
    def forward(ctx: FunctionCtx, x: Tensor, function: Callable[[Tensor], Tensor]) -> Tensor:
        return function(x)

    @staticmethod
    def backward(ctx: Any, upper: Tensor) -> tuple[Tensor, None]:
        return upper, None
