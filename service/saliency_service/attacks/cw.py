"""Carlini–Wagner L2 attack.

Carlini and Wagner, "Towards Evaluating the Robustness of Neural Networks", IEEE S&P 2017,
https://arxiv.org/abs/1608.04644 (§V.A, the L2 attack with a fixed c; no binary search on c).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from saliency_service.attacks._common import per_image, reached
from saliency_service.attacks.base import AttackOutput, AttackSpec
from saliency_service.params import Param


def _margin(logits: Tensor, classes: Tensor, kappa: float, targeted: bool) -> Tensor:
    """The paper's f₆: how far each image is from success, floored at −κ.

    Untargeted: max(Z_y − max_{j≠y} Z_j, −κ); targeted: max(max_{j≠t} Z_j − Z_t, −κ).
    torchattacks picks these logits with a 0/1 mask multiplied in, which reads a masked-out 0 as
    a logit whenever the logits are negative; masking with −inf avoids that.

    Shape:
        logits: (N, num_classes); classes: (N,); returns (N,).
    """
    own = logits.gather(1, classes[:, None]).squeeze(1)
    other = logits.scatter(1, classes[:, None], float("-inf")).amax(dim=1)
    gap = other - own if targeted else own - other
    return gap.clamp(min=-kappa)


def cw_l2(
    model: nn.Module,
    images: Tensor,
    labels: Tensor,
    *,
    targets: Tensor | None,
    c: float = 1.0,
    kappa: float = 0.0,
    steps: int = 50,
    lr: float = 0.01,
) -> AttackOutput:
    """Minimise ‖x' − x‖₂² + c·f₆(x') over x' = (tanh(w) + 1)/2 with Adam; keep each image's best.

    The best adversarial is the successful iterate (misclassified, or at the target) with the
    smallest L2 distance; an image that never succeeds comes back unchanged. As in torchattacks,
    every max(steps/10, 1) steps an image whose cost went up stops (its best is final); here each
    image stops on its own cost, where torchattacks stops the whole batch on the summed cost, so a
    result does not depend on the batch it ran in. Pixels at exactly 0 or 1 start at
    atanh(±(1 − 1e-6)), finite as in the authors' code, where torchattacks starts them at ±∞.

    Shape:
        images: (N, C, H, W) in [0, 1]; labels, targets: (N,).
        Returns adversarial images (N, C, H, W) in [0, 1]; `eps` is None.
    """
    images = images.detach()
    classes = labels if targets is None else targets
    w = torch.atanh((2 * images - 1).clamp(-1 + 1e-6, 1 - 1e-6)).requires_grad_(True)
    optimizer = torch.optim.Adam([w], lr=lr)
    best = images.clone()
    best_distance = torch.full_like(labels, float("inf"), dtype=images.dtype)
    previous_cost = torch.full_like(best_distance, float("inf"))
    active = torch.ones_like(labels, dtype=torch.bool)
    check_every = max(steps // 10, 1)
    for step in range(steps):
        adversarial = (torch.tanh(w) + 1) / 2
        distance = (adversarial - images).square().flatten(1).sum(dim=1)
        logits = model(adversarial)
        cost = distance + c * _margin(logits, classes, kappa, targets is not None)
        # Gradient for w only, so the model's parameters accumulate nothing.
        (w.grad,) = torch.autograd.grad(cost.sum(), w)
        optimizer.step()
        distance, cost = distance.detach(), cost.detach()
        improved = active & reached(logits.detach(), labels, targets) & (distance < best_distance)
        best_distance = torch.where(improved, distance, best_distance)
        best = torch.where(per_image(improved), adversarial.detach(), best)
        if step % check_every == 0:
            active = active & ~(cost > previous_cost)
            previous_cost = cost
            # A host sync only every `check_every` steps, to end once every image has stopped.
            if not bool(active.any()):
                break
    return AttackOutput(best)


CW_L2 = AttackSpec(
    name="cw_l2",
    function=cw_l2,
    params=(
        Param("c", "number", 1.0, "weight of the misclassification term", minimum=0.0, maximum=1e6),
        Param("kappa", "number", 0.0, "confidence margin κ", minimum=0.0, maximum=1e6),
        Param("steps", "integer", 50, "Adam iterations", minimum=1, maximum=10000),
        Param("lr", "number", 0.01, "Adam learning rate", minimum=1e-6, maximum=10.0),
    ),
    description="Carlini–Wagner L2: Adam on a tanh-space image, smallest successful kept.",
)
