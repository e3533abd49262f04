"""Where a training perturbation starts: random signs, the SAT rule, Madry's and TRADES' starts.

SAT (Mangla, Singh and Balasubramanian, ECML-PKDD 2020): the adversarial direction of a binary
classifier is −∇Φ(x), the negative saliency map, and the mean over the one-against-the-rest
problems of a multi-class one approximates it; early in adversarial training perturbations look
random, later class-discriminative. So in epoch t each component is a random sign with
probability αᵗ and −s otherwise, s the saliency map thresholded to ±1. Masks and boxes serve as
weak saliency maps: +1 on the object, −1 elsewhere.

Every draw comes from the generator the caller passes (seeded per training step), so a run is
reproducible and a resumed run draws what the uninterrupted one would have.
"""

from __future__ import annotations

import torch
from torch import Tensor

from saliency_service.training.recipes import Recipe

# TRADES' start: x + 0.001·N(0, 1) (Zhang et al. 2019, the authors' code).
TRADES_START_STD = 0.001


def weak_saliency(region: Tensor) -> Tensor:
    """A mask (or the union of boxes) as a weak saliency map: +1 inside, −1 outside.

    Shape:
        region: (..., H, W) bool; returns (..., H, W) int8 in {−1, 1}.
    """
    return torch.where(region, 1, -1).to(torch.int8)


def boxes_region(boxes: list[tuple[float, float, float, float]], height: int,
                 width: int) -> Tensor:
    """The pixels inside any of `boxes` (x0, y0, x1, y1 in pixels, x1 and y1 exclusive): the
    pixels whose centres lie inside.

    Shape:
        returns (height, width) bool.
    """
    ys = torch.arange(height, dtype=torch.float64).view(-1, 1) + 0.5
    xs = torch.arange(width, dtype=torch.float64).view(1, -1) + 0.5
    region = torch.zeros(height, width, dtype=torch.bool)
    for x0, y0, x1, y1 in boxes:
        region |= (xs >= x0) & (xs < x1) & (ys >= y0) & (ys < y1)
    return region


def saliency_signs(values: Tensor) -> Tensor:
    """A saliency map thresholded to ±1: +1 where it is positive, −1 elsewhere (SAT's s).

    Shape:
        values: any; returns the same shape, int8.
    """
    return torch.where(values > 0, 1, -1).to(torch.int8)


def random_signs(shape: torch.Size, generator: torch.Generator) -> Tensor:
    """z, uniform over {−1, 1}ᵈ (float)."""
    return torch.where(torch.rand(shape, generator=generator) < 0.5, -1.0, 1.0)


def sat_direction(saliency: Tensor, probability: float, generator: torch.Generator,
                  channels: int) -> Tensor:
    """δ: each component z[i] with probability `probability` (αᵗ), else −s[i].

    Shape:
        saliency: (N, 1 or C, H, W) in {−1, 1} (one channel is shared by every channel);
        returns (N, channels, H, W) float in {−1, 1}.
    """
    shape = torch.Size((len(saliency), channels, *saliency.shape[2:]))
    random = torch.rand(shape, generator=generator) < probability
    return torch.where(random, random_signs(shape, generator), -saliency.float().expand(shape))


def start_point(recipe: Recipe, images: Tensor, saliency: Tensor | None, epoch: int,
                generator: torch.Generator) -> Tensor:
    """The recipe's perturbed images (its attack's start), in the ε-ball and in [0, 1].

    Raises:
        ValueError: a SAT recipe without saliency maps.

    Shape:
        images: (N, C, H, W) in [0, 1]; saliency: (N, 1 or C, H, W) in {−1, 1} or None.
    """
    start, eps, shape = recipe.kind.start, recipe.eps, images.shape
    if start == "none":
        return images
    if start == "uniform":
        move = eps * (2 * torch.rand(shape, generator=generator) - 1)
    elif start == "gaussian":
        move = TRADES_START_STD * torch.randn(shape, generator=generator)
    elif start == "sign_noise":
        move = eps * random_signs(shape, generator)
    else:
        if saliency is None:
            raise ValueError(f"recipe {recipe.name!r} needs saliency maps (masks, boxes, or a "
                             "teacher)")
        move = eps * sat_direction(saliency, recipe.sat_probability(epoch), generator, shape[1])
    return (images + move.to(images.device)).clamp(0, 1)
