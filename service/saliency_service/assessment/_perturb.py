"""What the faithfulness metrics share: the order in which pixels leave, and what replaces them.

A pixel is removed whole (every channel), in the order of its heatmap value: most relevant
first ("morf") or least relevant first ("lerf"), ties in raster order. Removed pixels take the
values of a replacement image: black (zeros), the image's mean colour, a Gaussian blur of the
image, or uniform noise in [0, 1) (one noise image per metric, from its seed).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from saliency_service.assessment.base import Params, integer, number, sample_generator, text
from saliency_service.images import gaussian_blur
from saliency_service.params import Param

ORDERS = ("morf", "lerf")
REPLACEMENTS = ("black", "mean", "blur", "noise")
SEED = Param(
    "seed", "integer", 0, "seeds every random draw; each image gets the same draws in any batch",
    minimum=0, maximum=2**31 - 1,
)
ORDER = Param(
    "order", "text", "morf", "most relevant pixels first (morf) or least relevant first (lerf)",
    choices=ORDERS,
)
BLUR_SIGMA = Param(
    "blur_sigma", "number", 5.0, "standard deviation of the 'blur' replacement, in pixels",
    minimum=0.1, maximum=64.0,
)


def replacement_param(default: str) -> Param:
    return Param(
        "replacement",
        "text",
        default,
        "what removed pixels become: black, the image's mean colour, its Gaussian blur, or "
        "uniform noise",
        choices=REPLACEMENTS,
    )


def removal_ranks(heatmap: Tensor, order: str) -> Tensor:
    """Each pixel's place in the removal order (0 leaves first).

    Shape:
        heatmap: (H, W); returns (H, W) int64.
    """
    values = heatmap.flatten().double()
    leaving = torch.argsort(-values if order == "morf" else values, stable=True)
    ranks = torch.empty_like(leaving)
    ranks[leaving] = torch.arange(len(leaving), device=leaving.device)
    return ranks.view(heatmap.shape)


def fill(image: Tensor, kind: str, blur_sigma: float, seed: int) -> Tensor:
    """The replacement image of `image` (see the module's docstring).

    Shape:
        image: (C, H, W); returns (C, H, W).
    """
    if kind == "black":
        return torch.zeros_like(image)
    if kind == "mean":
        return image.mean(dim=(1, 2), keepdim=True).expand_as(image)
    if kind == "blur":
        return gaussian_blur(image[None], blur_sigma)[0]
    if kind == "noise":
        noise = torch.rand(image.shape, generator=sample_generator(seed, 0), dtype=torch.float64)
        return noise.to(image)
    raise ValueError(f"unknown replacement {kind!r}; valid: {', '.join(REPLACEMENTS)}")


def fill_of(image: Tensor, params: Params) -> Tensor:
    """`fill` with a metric's `replacement`, `blur_sigma` and `seed` parameters."""
    kind = text(params, "replacement")
    return fill(image, kind, number(params, "blur_sigma"), integer(params, "seed"))


def replaced(image: Tensor, replacement: Tensor, ranks: Tensor, count: int) -> Tensor:
    """`image` with its first `count` pixels in removal order taken from `replacement`.

    Shape:
        image, replacement: (C, H, W); ranks: (H, W); returns (C, H, W).
    """
    return torch.where(ranks < count, replacement, image)


def step_counts(pixels: int, steps: int) -> list[int]:
    """Pixels removed after each step: 0, s, 2s, … up to all, with s = ⌈pixels / steps⌉."""
    size = math.ceil(pixels / steps)
    return [min(k * size, pixels) for k in range(math.ceil(pixels / size) + 1)]


def trapezoid(values: Tensor, x: Tensor) -> Tensor:
    """Area under each row of `values` sampled at `x`, by the trapezoid rule.

    Shape:
        values: (N, K); x: (K,); returns (N,).
    """
    widths = (x[1:] - x[:-1]).to(values)
    return ((values[:, 1:] + values[:, :-1]) / 2 * widths).sum(dim=1)
