"""DeepFool, the multi-class linearised minimal L2 attack.

Moosavi-Dezfooli, Fawzi and Frossard, "DeepFool: a simple and accurate method to fool deep
neural networks", CVPR 2016, https://arxiv.org/abs/1511.04599 (Algorithm 2).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

import torch
from torch import Tensor, nn

from saliency_service.attacks._common import per_image
from saliency_service.attacks.base import AttackOutput, AttackSpec
from saliency_service.errors import InvalidRequest
from saliency_service.params import Param


def _candidate_classes(logits: Tensor, labels: Tensor, count: int) -> Tensor:
    """The `count` classes other than the label with the highest clean logits, in class order.

    Class order makes ties in the step's argmin go to the lowest class, as in torchattacks.

    Shape:
        logits: (N, num_classes); labels: (N,); returns (N, count).
    """
    others = logits.scatter(1, labels[:, None], float("-inf"))
    return others.topk(count, dim=1).indices.sort(dim=1).values


def _linearised_step(
    model: nn.Module, images: Tensor, labels: Tensor, candidates: Tensor, overshoot: float
) -> tuple[Tensor, Tensor]:
    """One DeepFool step for each image, and whether it is already misclassified.

    For every candidate k, w'_k = ∇(f_k − f_label) and f'_k = f_k − f_label; the step goes to the
    nearest linearised boundary, r = |f'_l| w'_l / ‖w'_l‖² with l = argmin_k |f'_k| / ‖w'_k‖
    (eq. 8–9), lengthened by 1 + overshoot and clipped to [0, 1] at every step, as torchattacks
    does (the paper applies the overshoot once, to the summed perturbation).

    Shape:
        images: (M, C, H, W); labels: (M,); candidates: (M, K).
        Returns the stepped images (M, C, H, W) and (M,) bool "misclassified".
    """
    count, num = candidates.shape[1], images.shape[0]
    # One forward over K copies of each image gives all K gradients in a single backward pass,
    # each copy's graph carrying one logit difference; it costs K forwards but no Python loop.
    copies = images.repeat_interleave(count, dim=0).requires_grad_(True)
    logits = model(copies).view(num, count, -1)
    differences = logits.gather(2, candidates[:, :, None]).squeeze(2) - logits.gather(
        2, labels[:, None, None].expand(num, count, 1)
    ).squeeze(2)
    (gradients,) = torch.autograd.grad(differences.sum(), copies)
    gradients = gradients.view(num, count, -1)
    # The floor keeps a flat logit difference (w' = 0) from producing NaN; its step is then 0.
    norms = gradients.square().sum(dim=2).sqrt().clamp_min(1e-12)
    nearest = (differences.detach().abs() / norms).argmin(dim=1)
    rows = torch.arange(num, device=images.device)
    length = differences.detach()[rows, nearest].abs() / norms[rows, nearest] ** 2
    step = (per_image(length) * gradients[rows, nearest].view_as(images)).detach()
    misclassified = logits[:, 0].detach().argmax(dim=1) != labels
    return (images + (1 + overshoot) * step).clamp(0, 1), misclassified


def deepfool(
    model: nn.Module,
    images: Tensor,
    labels: Tensor,
    *,
    targets: Tensor | None,
    steps: int = 50,
    overshoot: float = 0.02,
    candidates: int = 10,
) -> AttackOutput:
    """Step each image towards its nearest linearised decision boundary until it is misclassified.

    Batched over images: each step computes the gradients of every still-correct image at once
    and drops images from the batch once they are misclassified (one host sync per step, cheaper
    than computing finished images). Only the `candidates` classes with the highest clean logits
    besides the label are considered, as in the authors' implementation; `candidates` ≥
    num_classes − 1 uses every class, as torchattacks does.

    Raises:
        InvalidRequest: `targets` is given; DeepFool is untargeted.

    Shape:
        images: (N, C, H, W) in [0, 1]; labels: (N,).
        Returns adversarial images (N, C, H, W) in [0, 1]; `eps` is None.
    """
    if targets is not None:
        raise InvalidRequest("deepfool is untargeted; use target_mode 'none'")
    images = images.detach()
    with torch.no_grad():
        clean_logits = model(images)
    classes = _candidate_classes(clean_logits, labels, min(candidates, clean_logits.shape[1] - 1))
    adversarial = images.clone()
    active = torch.ones_like(labels, dtype=torch.bool)
    for _ in range(steps):
        index = active.nonzero().squeeze(1)
        if index.numel() == 0:
            break
        stepped, misclassified = _linearised_step(
            model, adversarial[index], labels[index], classes[index], overshoot
        )
        adversarial[index] = torch.where(per_image(misclassified), adversarial[index], stepped)
        active[index] = ~misclassified
    return AttackOutput(adversarial)


def _deepfool_passes(params: Mapping[str, object]) -> float:
    """Each step is one forward+backward over the label and every candidate class."""
    return cast(int, params["steps"]) * (cast(int, params["candidates"]) + 1.0)


DEEPFOOL = AttackSpec(
    name="deepfool",
    function=deepfool,
    params=(
        Param("steps", "integer", 50, "maximum iterations", minimum=1, maximum=1000),
        Param(
            "overshoot",
            "number",
            0.02,
            "lengthens each step by 1 + overshoot",
            minimum=0.0,
            maximum=1.0,
        ),
        Param(
            "candidates",
            "integer",
            10,
            "classes besides the label considered, by highest clean logit",
            minimum=1,
            maximum=100000,
        ),
    ),
    description="DeepFool: steps to the nearest linearised decision boundary (L2, untargeted).",
    targeted=False,
    passes=_deepfool_passes,
)
