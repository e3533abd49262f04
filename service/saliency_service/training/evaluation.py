"""Clean and robust accuracy of a model over a data set, with the project's own attacks.

Robust accuracy under PGD follows the SAT paper's protocol: L∞ PGD with 5 steps (step 2.5·ε/5,
Madry et al.'s rule) from a random start. AutoAttack is `attacks.autoattack`: an image counts
only if all four of its attacks fail.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from saliency_service.attacks.autoattack import autoattack
from saliency_service.attacks.pgd import pgd
from saliency_service.training.data import LabelledImages, in_order
from saliency_service.training.steps import attacking

PAPER_PGD_STEPS = 5


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def accuracy(model: nn.Module, images: LabelledImages, batch_size: int = 256,
             limit: int | None = None) -> float:
    """Top-1 accuracy on the first `limit` images (all by default), in eval mode."""
    model.eval()
    device, correct, count = _device(model), 0, 0
    with torch.no_grad():
        for batch in in_order(images, batch_size, limit=limit):
            predicted = model(batch.images.to(device)).argmax(dim=1).cpu()
            correct += int((predicted == batch.labels).sum())
            count += len(batch.labels)
    return correct / max(count, 1)


def pgd_accuracy(model: nn.Module, images: LabelledImages, eps: float,
                 steps: int = PAPER_PGD_STEPS, batch_size: int = 256, limit: int | None = None,
                 seed: int = 0) -> float:
    """Accuracy on L∞ PGD adversarial examples: `steps` steps of 2.5·ε/steps, random start."""
    def attack(x: Tensor, y: Tensor, budget: Tensor) -> Tensor:
        return pgd(model, x, y, targets=None, eps=budget, alpha=2.5 * eps / steps, steps=steps,
                   random_start=True, seed=seed).adversarial

    return _under_attack(model, images, eps, attack, batch_size, limit)


def autoattack_accuracy(model: nn.Module, images: LabelledImages, eps: float, steps: int = 100,
                        target_count: int = 9, queries: int = 5000, batch_size: int = 256,
                        limit: int | None = None, seed: int = 0) -> float:
    """Accuracy under AutoAttack (APGD-CE, APGD-T, FAB-T, Square in turn) at ε."""
    def attack(x: Tensor, y: Tensor, budget: Tensor) -> Tensor:
        return autoattack(model, x, y, targets=None, eps=budget, steps=steps,
                          target_count=target_count, queries=queries, seed=seed).adversarial

    return _under_attack(model, images, eps, attack, batch_size, limit)


def _under_attack(model: nn.Module, images: LabelledImages, eps: float,
                  attack: Callable[[Tensor, Tensor, Tensor], Tensor], batch_size: int,
                  limit: int | None) -> float:
    device, correct, count = _device(model), 0, 0
    with attacking(model):
        for batch in in_order(images, batch_size, limit=limit):
            x, y = batch.images.to(device), batch.labels.to(device)
            adversarial = attack(x, y, torch.full((len(y),), eps, device=device))
            with torch.no_grad():
                correct += int((model(adversarial).argmax(dim=1) == y).sum())
            count += len(y)
    model.eval()
    return correct / max(count, 1)
