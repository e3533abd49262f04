"""How the attack registry describes one attack."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from saliency_service.params import Param


@dataclass(frozen=True)
class AttackSpec:
    """A registry entry.

    `function(model, images, labels, *, targets, **params) -> Tensor` returns adversarial images
    (N, C, H, W) in [0, 1]. `labels` are the true (or predicted) classes; `targets` is None for an
    untargeted attack, else the classes to reach. A parameter named `eps` arrives as a (N,)
    tensor, so one batch can carry a different ε per image.
    """

    name: str
    function: Callable[..., object]
    params: tuple[Param, ...]
    description: str
