"""The iterative L∞ loop that BIM, PGD and MI-FGSM share: step, project, repeat.

Kurakin, Goodfellow and Bengio, "Adversarial Examples in the Physical World", 2016,
https://arxiv.org/abs/1607.02533 (eq. 3, the clipped iteration).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from saliency_service.attacks._common import loss_gradient, per_image, reached


def project_linf(adversarial: Tensor, images: Tensor, eps: Tensor) -> Tensor:
    """Clip each image into its ε-ball around `images`, then into the valid pixel range [0, 1].

    Shape:
        adversarial, images: (N, C, H, W); eps: (N,); returns (N, C, H, W).
    """
    radius = per_image(eps)
    return torch.min(torch.max(adversarial, images - radius), images + radius).clamp(0, 1)


def iterate_linf(
    model: nn.Module,
    images: Tensor,
    labels: Tensor,
    targets: Tensor | None,
    *,
    start: Tensor,
    eps: Tensor,
    alpha: Tensor,
    steps: Tensor,
    early_stop: bool,
    direction: Callable[[Tensor], Tensor] = torch.sign,
) -> Tensor:
    """Run x ← clip_{x₀,ε}(x + α·direction(∇ₓL(x))) from `start`, image i for steps[i] steps.

    `direction` maps the loss gradient to the step (sign for BIM/PGD, momentum for MI-FGSM).
    With `early_stop`, an image is frozen at the first iterate that succeeds (misclassified, or
    at its target), judged from the logits the step computes anyway, so it costs no extra pass.

    Shape:
        images, start: (N, C, H, W) in [0, 1]; labels, targets, eps, alpha, steps: (N,).
        Returns (N, C, H, W) in [0, 1].
    """
    images = images.detach()
    adversarial = start.detach()
    frozen = torch.zeros_like(labels, dtype=torch.bool)
    # One host sync before the loop; per-image step counts are then masks, not Python ints.
    for step in range(int(steps.max())):
        gradient, logits = loss_gradient(model, adversarial, labels, targets)
        moved = project_linf(adversarial + per_image(alpha) * direction(gradient), images, eps)
        if early_stop:
            frozen = frozen | reached(logits, labels, targets)
        active = (steps > step) & ~frozen
        adversarial = torch.where(per_image(active), moved, adversarial)
    return adversarial
