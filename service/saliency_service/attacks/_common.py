"""Mechanics every gradient attack shares: the loss gradient, success, per-image shapes, noise."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F


def loss_gradient(
    model: nn.Module, images: Tensor, labels: Tensor, targets: Tensor | None
) -> tuple[Tensor, Tensor]:
    """The gradient of the attack loss with respect to the images, and the logits it came from.

    Untargeted: cross-entropy at `labels` (to increase). Targeted: minus cross-entropy at
    `targets` (so that increasing it moves towards the target). The loss is summed, not averaged,
    so each image's gradient does not depend on the batch size; torchattacks averages, which
    scales every gradient by 1/N and leaves sign() and per-image normalisation unchanged.

    Shape:
        images: (N, C, H, W); labels, targets: (N,); returns (N, C, H, W) and (N, num_classes).
    """
    images = images.detach().requires_grad_(True)
    logits = model(images)
    if targets is None:
        loss = F.cross_entropy(logits, labels, reduction="sum")
    else:
        loss = -F.cross_entropy(logits, targets, reduction="sum")
    # Gradient with respect to the input only: the model's parameters accumulate nothing.
    (gradient,) = torch.autograd.grad(loss, images)
    return gradient, logits.detach()


def reached(logits: Tensor, labels: Tensor, targets: Tensor | None) -> Tensor:
    """Whether each image has succeeded: misclassified, or classified as its target.

    Shape:
        logits: (N, num_classes); labels, targets: (N,); returns (N,) bool.
    """
    predicted = logits.argmax(dim=1)
    return predicted != labels if targets is None else predicted == targets


def per_image(values: Tensor) -> Tensor:
    """(N,) per-image values shaped to broadcast over (N, C, H, W)."""
    return values.view(-1, 1, 1, 1)


def l2_norms(batch: Tensor) -> Tensor:
    """The L2 norm of each image of a batch.

    Shape:
        batch: (N, ...); returns (N,).
    """
    return batch.flatten(1).square().sum(dim=1).sqrt()


def seeded_generator(seed: int, device: torch.device) -> torch.Generator:
    """The generator each image draws its random start from.

    Every image uses a generator seeded with `seed` alone, so the noise an image gets does not
    depend on which other images the batcher put beside it (batched == one at a time); images of
    the same size therefore share one noise pattern, scaled by their own ε.
    """
    return torch.Generator(device=device).manual_seed(seed)
