"""Momentum Iterative FGSM.

Dong, Liao, Pang, Su, Zhu, Hu and Li, "Boosting Adversarial Attacks with Momentum", CVPR 2018,
https://arxiv.org/abs/1710.06081.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from saliency_service.attacks._linf import iterate_linf
from saliency_service.attacks._params import ALPHA, EARLY_STOP, LINF_EPS, STEPS
from saliency_service.attacks.base import AttackOutput, AttackSpec
from saliency_service.params import Param


def mi_fgsm(
    model: nn.Module,
    images: Tensor,
    labels: Tensor,
    *,
    targets: Tensor | None,
    eps: Tensor,
    alpha: float = 2 / 255,
    steps: int = 10,
    decay: float = 1.0,
    early_stop: bool = False,
) -> AttackOutput:
    """BIM whose step follows the sign of an accumulated gradient g ← μ·g + ∇/‖∇‖₁ (Alg. 1).

    The L1 normalisation divides by the mean absolute gradient per image, as torchattacks does:
    that is the paper's ‖∇‖₁ divided by the pixel count D, so every accumulated term, and the
    momentum, is D times the paper's and its sign (the step) is the same.
    The paper steps with α = ε/T; here α is a parameter, as in torchattacks.

    Shape:
        images: (N, C, H, W) in [0, 1]; labels, targets, eps: (N,).
        Returns adversarial images (N, C, H, W) in [0, 1] and `eps`.
    """
    momentum = torch.zeros_like(images)

    def accumulate(gradient: Tensor) -> Tensor:
        nonlocal momentum
        # The floor keeps a vanishing gradient (a saturated softmax) from dividing 0 by 0.
        scale = gradient.abs().mean(dim=(1, 2, 3), keepdim=True).clamp_min(1e-30)
        momentum = decay * momentum + gradient / scale
        return momentum.sign()

    adversarial = iterate_linf(
        model,
        images,
        labels,
        targets,
        start=images,
        eps=eps,
        alpha=torch.full_like(eps, alpha),
        steps=torch.full_like(labels, steps),
        early_stop=early_stop,
        direction=accumulate,
    )
    return AttackOutput(adversarial, eps=eps)


MI_FGSM = AttackSpec(
    name="mi_fgsm",
    function=mi_fgsm,
    params=(
        LINF_EPS,
        ALPHA,
        STEPS,
        Param("decay", "number", 1.0, "momentum decay μ", minimum=0.0, maximum=10.0),
        EARLY_STOP,
    ),
    description="Momentum Iterative FGSM: BIM stepping along an L1-normalised momentum (L∞).",
    autocast=True,
)
