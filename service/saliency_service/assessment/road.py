"""ROAD: remove the pixels a map ranks highest (or lowest) and fill them by noisy linear
imputation, so that the removal itself tells the model nothing about where the pixels were.

Y. Rong, T. Leemann, V. Borisov, G. Kasneci, E. Kasneci, "A Consistent and Efficient Evaluation
Strategy for Attribution Methods", ICML 2022, §4 (Remove And Debias). Each removed pixel takes
the weighted mean of its 8 neighbours (weight 1/6 for the 4 direct ones, 1/12 for the diagonal
ones, neighbours outside the image left out), which couples the removed pixels into one sparse
linear system per channel; then Gaussian noise of standard deviation `noise` is added to them.
The system is solved here by conjugate gradients on the pixel grid (it is the graph Laplacian
of the removed pixels with the kept ones as boundary values, symmetric positive definite
wherever a removed region touches a kept pixel), in float64 to a relative residual of 1e-8.

The curve is, at each fraction removed (k / (steps + 1), k = 1 … steps), whether the model still
predicts the explained class (1) or not (0); the score is its mean, the share of removal levels
the prediction survives. Averaged over images, the curve is the paper's accuracy curve.
Most-relevant-first: lower is better; least-relevant-first: higher is better.
"""

from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor

from saliency_service.assessment._perturb import ORDER, SEED, removal_ranks
from saliency_service.assessment.base import (
    Builder,
    Params,
    Result,
    Scores,
    integer,
    number,
    sample_generator,
    text,
)
from saliency_service.params import Param

PARAMS = (
    Param("steps", "integer", 9, "removal levels k / (steps + 1), k = 1 … steps",
          minimum=1, maximum=256),
    ORDER,
    Param("noise", "number", 0.01, "standard deviation of the noise added to imputed pixels",
          minimum=0.0, maximum=1.0),
    SEED,
)
_TOLERANCE = 1e-8
# Enough for the largest holes of the largest images (CG needs about their diameter in steps).
_MAX_ITERATIONS = 10_000


def fractions(params: Params) -> list[float]:
    steps = integer(params, "steps")
    return [k / (steps + 1) for k in range(1, steps + 1)]


def rows(params: Params, _pixels: int) -> int:
    return integer(params, "steps")


def _neighbours(values: Tensor) -> Tensor:
    """Σ_q w_pq · values_q over each pixel's neighbours q inside the grid (zero outside).

    Shape:
        values: (..., H, W); returns the same shape.
    """
    height, width = values.shape[-2:]
    padded = F.pad(values, (1, 1, 1, 1))

    def shifted(dy: int, dx: int) -> Tensor:
        return padded[..., 1 + dy : 1 + dy + height, 1 + dx : 1 + dx + width]

    direct = shifted(-1, 0) + shifted(1, 0) + shifted(0, -1) + shifted(0, 1)
    diagonal = shifted(-1, -1) + shifted(-1, 1) + shifted(1, -1) + shifted(1, 1)
    return direct / 6 + diagonal / 12


def linear_imputation(image: Tensor, removed: Tensor) -> Tensor:
    """`image` with every removed pixel the weighted mean of its neighbours (no noise).

    Shape:
        image: (C, H, W); removed: (H, W) bool; returns (C, H, W) in image's dtype.
    """
    values = image.double()[:, None]
    unknown = removed.to(values.device)[None, None].double()
    known = 1.0 - unknown
    degree = _neighbours(torch.ones_like(values[:1]))

    def apply(x: Tensor) -> Tensor:
        return unknown * (degree * x - _neighbours(x))

    b = unknown * _neighbours(values * known)
    x = torch.zeros_like(b)
    r = b.clone()
    p = r.clone()
    rr = r.square().sum(dim=(1, 2, 3), keepdim=True)
    limit = _TOLERANCE**2 * rr.clamp_min(1e-300)
    for _ in range(_MAX_ITERATIONS):
        if bool((rr <= limit).all()):
            break
        ap = apply(p)
        alpha = rr / (p * ap).sum(dim=(1, 2, 3), keepdim=True).clamp_min(1e-300)
        x = x + alpha * p
        r = r - alpha * ap
        new = r.square().sum(dim=(1, 2, 3), keepdim=True)
        p = r + (new / rr.clamp_min(1e-300)) * p
        rr = new
    return (values * known + x)[:, 0].to(image.dtype)


def imputed(image: Tensor, ranks: Tensor, count: int, noise: float, seed: int, k: int) -> Tensor:
    """Level k's input: the first `count` pixels in removal order imputed, plus noise.

    Shape:
        image: (C, H, W); ranks: (H, W); returns (C, H, W).
    """
    removed = ranks < count
    filled = linear_imputation(image, removed)
    if noise > 0:
        draws = torch.randn(image.shape, generator=sample_generator(seed, k), dtype=torch.float64)
        filled = filled + (noise * draws).to(image) * removed.to(image.device)
    return filled


def inputs(image: Tensor, heatmap: Tensor, params: Params) -> list[Builder]:
    """The image at each removal level.

    Shape:
        image: (C, H, W); heatmap: (H, W).
    """
    ranks = removal_ranks(heatmap, text(params, "order"))
    pixels = heatmap.numel()
    noise, seed = number(params, "noise"), integer(params, "seed")
    return [
        partial(imputed, image, ranks, int(pixels * f), noise, seed, k)
        for k, f in enumerate(fractions(params), start=1)
    ]


def road(images: Tensor, heatmaps: Tensor, clean: Scores, levels: Scores, params: Params) -> Result:
    """Whether the explained class is still predicted at each level, and the mean over levels.

    Shape:
        levels: (N, K); curves (N, K).
    """
    kept = (levels.predicted == levels.target).double()
    return Result(kept.mean(dim=1), kept, fractions(params))
