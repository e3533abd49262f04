"""What every attack returns, and how the attack registry describes one."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import cast

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


def steps_passes(params: Mapping[str, object]) -> float:
    """One forward+backward pass per step, plus the clean and final forward passes."""
    return float(cast(int, params["steps"])) + 1.0


@dataclass(frozen=True)
class AttackSpec:
    """A registry record: everything the engine and the transport know of an attack.

    `function(model, images, labels, *, targets, **params) -> AttackOutput`, with `images`
    (N, C, H, W) in [0, 1] and `labels` (N,) the true (or predicted) classes. `targets` is None
    for an untargeted attack, else (N,) the classes to reach; `targeted` False means the method
    only accepts None. A parameter named `eps` arrives as a (N,) tensor, so one batch can carry
    a different ε per image; every other parameter arrives as its resolved value.

    `passes(params)` prices one image in forward+backward passes (operations/cost.py);
    `autocast`: its result survives mixed precision (L∞ attacks keep only the gradient's sign);
    `forward_only`: a black-box attack, which queries the model's scores and needs no gradient,
    so it also runs on models served from an ONNX file alone (and on ONNX Runtime where that
    is faster); `min_classes`: the fewest classes its loss needs (APGD-T's DLR reads the
    fourth-highest logit).
    """

    name: str
    function: Callable[..., AttackOutput]
    params: tuple[Param, ...]
    description: str
    targeted: bool = True
    passes: Callable[[Mapping[str, object]], float] = steps_passes
    autocast: bool = False
    forward_only: bool = False
    min_classes: int = 1

    @property
    def eps(self) -> Param | None:
        """The ε budget parameter (its bounds bound per-image ε too), None if it has none."""
        return next((p for p in self.params if p.name == "eps"), None)
