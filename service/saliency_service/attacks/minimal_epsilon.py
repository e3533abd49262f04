"""The smallest L∞ budget at which an attack flips each image: a batched bisection over ε.

The question of the lecture notes (§4–5), "how do I efficiently change the prediction?", asked
of FGSM (Goodfellow et al. 2015), BIM (Kurakin et al. 2016) or PGD (Madry et al. 2018).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import cast

import torch
from torch import Tensor, nn

from saliency_service.attacks._common import per_image, reached
from saliency_service.attacks._params import SEED
from saliency_service.attacks.base import AttackOutput, AttackSpec
from saliency_service.attacks.fgsm import fgsm
from saliency_service.attacks.pgd import pgd
from saliency_service.params import Param

INNER_ATTACKS = ("fgsm", "bim", "pgd")


def _inner_attack(
    model: nn.Module,
    images: Tensor,
    labels: Tensor,
    targets: Tensor | None,
    attack: str,
    steps: int,
    seed: int,
) -> Callable[[Tensor], Tensor]:
    """The wrapped attack as a function of the per-image ε.

    BIM and PGD step with α = 2.5·ε/steps (Madry et al., §C), so that every ε is reachable in
    `steps` steps; PGD's random start is the same unit noise for every ε, so the whole
    function is deterministic in ε.
    """
    if attack == "fgsm":
        return lambda eps: fgsm(model, images, labels, targets=targets, eps=eps).adversarial
    if attack not in INNER_ATTACKS:
        raise ValueError(f"attack must be one of {', '.join(INNER_ATTACKS)}; got '{attack}'")

    def iterative(eps: Tensor) -> Tensor:
        return pgd(
            model,
            images,
            labels,
            targets=targets,
            eps=eps,
            alpha=2.5 * eps / steps,
            steps=steps,
            random_start=attack == "pgd",
            seed=seed,
        ).adversarial

    return iterative


def minimal_epsilon(
    model: nn.Module,
    images: Tensor,
    labels: Tensor,
    *,
    targets: Tensor | None,
    attack: str = "bim",
    steps: int = 10,
    precision: float = 1 / 255,
    max_eps: float = 64 / 255,
    seed: int = 0,
) -> AttackOutput:
    """Per image, the smallest ε on the grid k·precision (k = 0, 1, …, up to max_eps) that flips it.

    All images bisect together: each step attacks the whole batch once, every image at the
    midpoint of its own interval, for 1 + ⌈log₂(max_eps/precision)⌉ attacks in all and no host
    sync. The search keeps, per image, a grid point lo where the attack fails and hi where it
    succeeds (misclassified, or at the target), so at the returned ε the attack succeeds and at
    ε − precision it fails. When success is monotone in ε (usual, not guaranteed) that ε is the
    smallest; otherwise it is the first success at the end of some failing stretch. An image
    already misclassified (or at its target) gets ε = 0 and comes back unchanged; one the attack
    cannot flip even at max_eps gets ε = +inf and the adversarial made at max_eps.

    Raises:
        ValueError: `attack` is not one of INNER_ATTACKS.

    Shape:
        images: (N, C, H, W) in [0, 1]; labels, targets: (N,).
        Returns adversarial images (N, C, H, W) in [0, 1] at the found ε, and that ε (N,).
    """
    images = images.detach()
    run = _inner_attack(model, images, labels, targets, attack, steps, seed)
    # The 1e-6 keeps max_eps = k·precision from gaining a level to float rounding.
    levels = max(math.ceil(max_eps / precision - 1e-6), 1)

    def grid(level: Tensor) -> Tensor:
        return (level.to(images.dtype) * precision).clamp(max=max_eps)

    def succeeds(adversarial: Tensor) -> Tensor:
        with torch.no_grad():
            return reached(model(adversarial), labels, targets)

    hi = torch.full_like(labels, levels)
    strongest = run(grid(hi))
    clean_success, top_success = succeeds(images), succeeds(strongest)
    never = ~clean_success & ~top_success
    hi = torch.where(clean_success, 0, hi)
    # Images with nothing to search get lo = hi, and their reruns change nothing.
    lo = torch.where(never, levels, 0)
    best = torch.where(per_image(clean_success), images, strongest)
    for _ in range((levels - 1).bit_length()):
        middle = (lo + hi) // 2
        adversarial = run(grid(middle))
        success = succeeds(adversarial)
        hi = torch.where(success, middle, hi)
        lo = torch.where(success, lo, middle)
        best = torch.where(per_image(success), adversarial, best)
    eps = torch.where(never, torch.full_like(grid(hi), math.inf), grid(hi))
    return AttackOutput(best, eps=eps)


def _minimal_epsilon_passes(params: Mapping[str, object]) -> float:
    """A bisection of ε over [0, max_eps] to `precision`, each probe a whole attack."""
    probes = 2 + math.ceil(math.log2(max(cast(float, params["max_eps"]), 1e-12)
                                     / cast(float, params["precision"])))
    return max(probes, 1) * (cast(int, params["steps"]) + 1.0)


MINIMAL_EPSILON = AttackSpec(
    name="minimal_epsilon",
    function=minimal_epsilon,
    params=(
        Param("attack", "text", "bim", "the L∞ attack whose ε is searched", choices=INNER_ATTACKS),
        Param("steps", "integer", 10, "iterations of bim/pgd", minimum=1, maximum=1000),
        Param(
            "precision",
            "number",
            1 / 255,
            "resolution of the ε found",
            minimum=1e-4,
            maximum=1.0,
        ),
        Param("max_eps", "number", 64 / 255, "largest ε searched", minimum=0.0, maximum=1.0),
        SEED,
    ),
    description="The smallest L∞ ε (per image) at which FGSM, BIM or PGD flips the label.",
    passes=_minimal_epsilon_passes,
)
