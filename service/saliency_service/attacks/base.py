"""What every attack returns, and how the attack registry describes one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor

from saliency_service.params import Param


@dataclass
class AttackOutput:
    """An attack's result for a batch; row i belongs to images[i].

    Shape:
        adversarial: (N, C, H, W) in [0, 1].
        eps: (N,) the ε each image was attacked with, for attacks that have one; for
            minimal_epsilon the smallest ε found, +inf where even the largest searched ε fails.
            None for DeepFool and CW, which have no budget.
    """

    adversarial: Tensor
    eps: Tensor | None = None


@dataclass(frozen=True)
class AttackSpec:
    """A registry entry.

    `function(model, images, labels, *, targets, **params) -> AttackOutput`, with `images`
    (N, C, H, W) in [0, 1] and `labels` (N,) the true (or predicted) classes. `targets` is None
    for an untargeted attack, else (N,) the classes to reach; `targeted` False means the method
    only accepts None. A parameter named `eps` arrives as a (N,) tensor, so one batch can carry
    a different ε per image; every other parameter arrives as its resolved value.
    """

    name: str
    function: Callable[..., AttackOutput]
    params: tuple[Param, ...]
    description: str
    targeted: bool = True
