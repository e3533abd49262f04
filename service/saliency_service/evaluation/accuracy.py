"""Accuracy under attack as a function of ε.

The curve of Kurakin, Goodfellow and Bengio, "Adversarial Examples in the Physical World", 2016,
https://arxiv.org/abs/1607.02533 (Fig. 2): top-1 accuracy on adversarial images per budget.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from saliency_service.attacks.base import AttackOutput


def accuracy_under_attack(
    model: nn.Module,
    images: Tensor,
    labels: Tensor,
    attack_fn: Callable[..., AttackOutput],
    epsilons: Sequence[float],
    **params: object,
) -> list[float]:
    """The fraction of images still classified as their label after an untargeted attack, per ε.

    Each ε attacks the whole batch once, with `labels` as the classes to push away from and
    `params` passed through to `attack_fn` (an ε attack of the registry).

    Shape:
        images: (N, C, H, W) in [0, 1]; labels: (N,). Returns one accuracy per ε.
    """
    accuracies = []
    for value in epsilons:
        eps = torch.full(labels.shape, value, dtype=images.dtype, device=images.device)
        adversarial = attack_fn(model, images, labels, targets=None, eps=eps, **params).adversarial
        with torch.no_grad():
            accuracies.append((model(adversarial).argmax(dim=1) == labels).double().mean())
    # One host transfer for the whole curve.
    return [float(a) for a in torch.stack(accuracies).tolist()] if accuracies else []
