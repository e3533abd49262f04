"""Projected Gradient Descent under an L∞ budget.

Madry, Makelov, Schmidt, Tsipras and Vladu, "Towards Deep Learning Models Resistant to
Adversarial Attacks", ICLR 2018, https://arxiv.org/abs/1706.06083: BIM from a uniformly random
point of the ε-ball.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from saliency_service.attacks._common import per_image, seeded_generator
from saliency_service.attacks._linf import iterate_linf
from saliency_service.attacks._params import (
    ALPHA,
    EARLY_STOP,
    LINF_EPS,
    RANDOM_START,
    SEED,
    STEPS,
)
from saliency_service.attacks.base import AttackOutput, AttackSpec


def pgd(
    model: nn.Module,
    images: Tensor,
    labels: Tensor,
    *,
    targets: Tensor | None,
    eps: Tensor,
    alpha: float | Tensor = 2 / 255,
    steps: int = 10,
    random_start: bool = True,
    seed: int = 0,
    early_stop: bool = False,
) -> AttackOutput:
    """L∞ PGD: `steps` signed-gradient steps of size α, each projected onto the ε-ball and [0, 1].

    With `random_start` the iteration starts at x + U(−ε, ε)ᴰ (clipped to [0, 1]), the noise drawn
    from a generator seeded with `seed` for each image (see `seeded_generator`); without it, PGD
    is BIM. `alpha` may be a (N,) tensor, for callers that scale it with a per-image ε.

    Shape:
        images: (N, C, H, W) in [0, 1]; labels, targets, eps: (N,).
        Returns adversarial images (N, C, H, W) in [0, 1] and `eps`.
    """
    images = images.detach()
    start = images
    if random_start:
        generator = seeded_generator(seed, images.device)
        unit = torch.rand(
            images.shape[1:], generator=generator, device=images.device, dtype=images.dtype
        )
        start = (images + per_image(eps) * (2 * unit - 1)).clamp(0, 1)
    adversarial = pgd_from(model, images, labels, targets=targets, start=start, eps=eps,
                           alpha=alpha, steps=steps, early_stop=early_stop)
    return AttackOutput(adversarial, eps=eps)


def pgd_from(
    model: nn.Module,
    images: Tensor,
    labels: Tensor,
    *,
    targets: Tensor | None,
    start: Tensor,
    eps: Tensor,
    alpha: float | Tensor,
    steps: int,
    early_stop: bool = False,
) -> Tensor:
    """PGD's iteration from a given start in the ε-ball, for callers that draw their own starts
    (adversarial training draws a different one for every image and step).

    Shape:
        images, start: (N, C, H, W) in [0, 1]; labels, targets, eps: (N,); alpha: () or (N,).
        Returns the adversarial images (N, C, H, W) in [0, 1].
    """
    return iterate_linf(
        model,
        images.detach(),
        labels,
        targets,
        start=start,
        eps=eps,
        alpha=torch.as_tensor(alpha, dtype=images.dtype, device=images.device).expand_as(eps),
        steps=torch.full_like(labels, steps),
        early_stop=early_stop,
    )


PGD = AttackSpec(
    name="pgd",
    function=pgd,
    params=(LINF_EPS, ALPHA, STEPS, RANDOM_START, SEED, EARLY_STOP),
    description="Projected Gradient Descent (L∞): BIM from a random point of the ε-ball.",
    autocast=True,
)
