"""Projected Gradient Descent under an L2 budget.

Madry, Makelov, Schmidt, Tsipras and Vladu, "Towards Deep Learning Models Resistant to
Adversarial Attacks", ICLR 2018, https://arxiv.org/abs/1706.06083.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from saliency_service.attacks._common import (
    l2_norms,
    loss_gradient,
    per_image,
    reached,
    seeded_generator,
)
from saliency_service.attacks._params import EARLY_STOP, RANDOM_START, SEED, STEPS
from saliency_service.attacks.base import AttackOutput, AttackSpec
from saliency_service.params import Param


def project_l2(adversarial: Tensor, images: Tensor, eps: Tensor) -> Tensor:
    """Scale each perturbation back onto its L2 ball of radius ε if it left it, then clip to [0, 1].

    Shape:
        adversarial, images: (N, C, H, W); eps: (N,); returns (N, C, H, W).
    """
    delta = adversarial - images
    # The floor keeps ε = 0 with a zero perturbation from computing 0/0.
    factor = torch.clamp(eps / l2_norms(delta).clamp_min(1e-12), max=1)
    return (images + delta * per_image(factor)).clamp(0, 1)


def random_l2_start(images: Tensor, eps: Tensor, seed: int) -> Tensor:
    """A point drawn uniformly from the volume of each image's L2 ball, clipped to [0, 1].

    The direction is a normalised gaussian and the radius ε·u^(1/D) with u ~ U(0, 1) and D the
    pixel count (torchattacks' PGDL2 uses radius ε·u, which crowds the centre).

    Shape:
        images: (N, C, H, W); eps: (N,); returns (N, C, H, W).
    """
    generator = seeded_generator(seed, images.device)
    direction = torch.randn(
        images.shape[1:], generator=generator, device=images.device, dtype=images.dtype
    )
    u = torch.rand((), generator=generator, device=images.device, dtype=images.dtype)
    unit = direction / direction.square().sum().sqrt()
    radius = per_image(eps) * u ** (1 / direction.numel())
    return (images + radius * unit).clamp(0, 1)


def pgd_l2(
    model: nn.Module,
    images: Tensor,
    labels: Tensor,
    *,
    targets: Tensor | None,
    eps: Tensor,
    alpha: float = 0.1,
    steps: int = 10,
    random_start: bool = True,
    seed: int = 0,
    early_stop: bool = False,
) -> AttackOutput:
    """L2 PGD: `steps` steps of length α along ∇/‖∇‖₂, each projected onto the L2 ball and [0, 1].

    With `random_start` it starts from `random_l2_start`. With `early_stop` an image is frozen at
    its first successful iterate.

    Shape:
        images: (N, C, H, W) in [0, 1]; labels, targets, eps: (N,).
        Returns adversarial images (N, C, H, W) in [0, 1] and `eps`.
    """
    images = images.detach()
    adversarial = random_l2_start(images, eps, seed) if random_start else images
    frozen = torch.zeros_like(labels, dtype=torch.bool)
    for _ in range(steps):
        gradient, logits = loss_gradient(model, adversarial, labels, targets)
        # + 1e-10 as in torchattacks, so that a zero gradient gives a zero step.
        unit = gradient / per_image(l2_norms(gradient) + 1e-10)
        moved = project_l2(adversarial + alpha * unit, images, eps)
        if early_stop:
            frozen = frozen | reached(logits, labels, targets)
        adversarial = torch.where(per_image(frozen), adversarial, moved)
    return AttackOutput(adversarial, eps=eps)


PGD_L2 = AttackSpec(
    name="pgd_l2",
    function=pgd_l2,
    params=(
        Param("eps", "number", 0.5, "L2 budget in pixel units", minimum=0.0, maximum=1000.0),
        Param("alpha", "number", 0.1, "L2 step length", minimum=0.0, maximum=1000.0),
        STEPS,
        RANDOM_START,
        SEED,
        EARLY_STOP,
    ),
    description="Projected Gradient Descent (L2): normalised steps projected onto the L2 ball.",
)
