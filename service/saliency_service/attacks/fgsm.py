"""Fast Gradient Sign Method.

Goodfellow, Shlens and Szegedy, "Explaining and Harnessing Adversarial Examples", ICLR 2015,
https://arxiv.org/abs/1412.6572.
"""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor, nn

from saliency_service.attacks._common import loss_gradient, per_image
from saliency_service.attacks._params import LINF_EPS
from saliency_service.attacks.base import AttackOutput, AttackSpec


def fgsm(
    model: nn.Module,
    images: Tensor,
    labels: Tensor,
    *,
    targets: Tensor | None,
    eps: Tensor,
) -> AttackOutput:
    """One step of size ε along the sign of the loss gradient: x + ε·sign(∇ₓL), clipped to [0, 1].

    Untargeted it climbs the cross-entropy at `labels`; targeted it descends the cross-entropy at
    `targets` (x − ε·sign(∇ₓL(x, t))).

    Shape:
        images: (N, C, H, W) in [0, 1]; labels, targets, eps: (N,).
        Returns adversarial images (N, C, H, W) in [0, 1] and `eps`.
    """
    gradient, _ = loss_gradient(model, images, labels, targets)
    adversarial = images.detach() + per_image(eps) * gradient.sign()
    return AttackOutput(adversarial.clamp(0, 1), eps=eps)


def _one_step(_params: Mapping[str, object]) -> float:
    return 2.0


FGSM = AttackSpec(
    name="fgsm",
    function=fgsm,
    params=(LINF_EPS,),
    description="Fast Gradient Sign Method: one signed-gradient step of size ε (L∞).",
    passes=_one_step,
    autocast=True,
)
