"""Basic Iterative Method (iterative FGSM).

Kurakin, Goodfellow and Bengio, "Adversarial Examples in the Physical World", 2016,
https://arxiv.org/abs/1607.02533.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import cast

import torch
from torch import Tensor, nn

from saliency_service.attacks._linf import iterate_linf
from saliency_service.attacks._params import ALPHA, EARLY_STOP, LINF_EPS
from saliency_service.attacks.base import AttackOutput, AttackSpec
from saliency_service.params import Param


def kurakin_steps(eps: Tensor) -> Tensor:
    """The paper's number of iterations, min(ε·255 + 4, 1.25·ε·255) rounded down (§2.2).

    ε·255 gets 1e-4 of slack before rounding down, so that ε = k/255 stored in float32 gives the
    same count as the exact fraction (torchattacks' BIM computes it in float64 Python floats).

    Shape:
        eps: (N,); returns (N,) int64.
    """
    levels = eps.double() * 255
    return torch.floor(torch.minimum(levels + 4, 1.25 * levels) + 1e-4).long()


def bim(
    model: nn.Module,
    images: Tensor,
    labels: Tensor,
    *,
    targets: Tensor | None,
    eps: Tensor,
    alpha: float = 2 / 255,
    steps: int = 10,
    early_stop: bool = False,
) -> AttackOutput:
    """BIM: PGD's loop from the clean image, `steps` signed steps of size α clipped to the ε-ball.

    `steps` = 0 chooses each image's count from its own ε with `kurakin_steps`, as torchattacks'
    BIM does for steps=0 (the paper's α = 1/255 is not imposed; `alpha` stays as given).

    Shape:
        images: (N, C, H, W) in [0, 1]; labels, targets, eps: (N,).
        Returns adversarial images (N, C, H, W) in [0, 1] and `eps`.
    """
    counts = kurakin_steps(eps).to(labels.device) if steps == 0 else torch.full_like(labels, steps)
    adversarial = iterate_linf(
        model,
        images,
        labels,
        targets,
        start=images,
        eps=eps,
        alpha=torch.full_like(eps, alpha),
        steps=counts,
        early_stop=early_stop,
    )
    return AttackOutput(adversarial, eps=eps)


def _bim_passes(params: Mapping[str, object]) -> float:
    """Given steps, or the automatic count for the request's ε: min(ε·255 + 4, 1.25·ε·255)."""
    steps = cast(int, params["steps"])
    if not steps:
        eps = 255 * cast(float, params["eps"])
        steps = max(1, math.ceil(min(eps + 4, 1.25 * eps)))
    return steps + 1.0


BIM = AttackSpec(
    name="bim",
    function=bim,
    params=(
        LINF_EPS,
        ALPHA,
        Param(
            "steps",
            "integer",
            10,
            "number of iterations; 0 picks min(ε·255 + 4, 1.25·ε·255) per image",
            minimum=0,
            maximum=1000,
        ),
        EARLY_STOP,
    ),
    description="Basic Iterative Method: FGSM steps of size α clipped to the ε-ball (L∞).",
    passes=_bim_passes,
    autocast=True,
)
