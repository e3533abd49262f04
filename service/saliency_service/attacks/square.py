"""Square Attack (L∞): score-based black-box random search, the fourth attack of AutoAttack.

M. Andriushchenko, F. Croce, N. Flammarion and M. Hein, "Square Attack: a query-efficient
black-box adversarial attack via random search", ECCV 2020, https://arxiv.org/abs/1912.00049,
Algorithm 1 with the L∞ proposals of §3.1. Start from vertical stripes of ±ε; each query
proposes a square window of side ⌊√(p·H·W)⌉ at a random place, filled with ±2ε per channel
(then projected onto the ε-ball and [0, 1]), and keeps it if it lowers the margin loss
f_y(x) − max_{j≠y} f_j(x). The window's share p starts at p_init and halves on a fixed
schedule over the query budget.

Only the model's scores are used, never a gradient: the attack runs on models served from an
ONNX file alone, and the engine runs its forward passes on ONNX Runtime where that is faster.
Every image draws from one generator seeded with `seed` (on the CPU), so an image's queries do
not depend on its batch-mates; an image comes back changed only if it was misclassified.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import cast

import torch
from torch import Tensor, nn

from saliency_service.attacks._common import per_image
from saliency_service.attacks._linf import project_linf
from saliency_service.attacks._params import LINF_EPS
from saliency_service.attacks._survivors import Survivors, misclassified, untargeted_only
from saliency_service.attacks.apgd import RESTARTS, SEED
from saliency_service.attacks.base import AttackOutput, AttackSpec
from saliency_service.params import Param

# The query (in ten-thousandths of the budget) after which the window's share p halves again.
_SCHEDULE = (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)


def square(
    model: nn.Module,
    images: Tensor,
    labels: Tensor,
    *,
    targets: Tensor | None,
    eps: Tensor,
    queries: int = 5000,
    restarts: int = 1,
    p_init: float = 0.8,
    seed: int = 0,
) -> AttackOutput:
    """Up to `queries` forward passes per image and restart; an image stops once misclassified.

    Raises:
        InvalidRequest: `targets` is given (this Square is untargeted, as in AutoAttack).

    Shape:
        images: (N, C, H, W) in [0, 1]; labels, eps: (N,).
        Returns the adversarial images (unchanged where none was found) and `eps`.
    """
    untargeted_only("square", targets)
    survivors = Survivors(model, images, labels)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(restarts):
        index = survivors.index()
        if index.numel() == 0:
            break
        found = _run(model, images[index], labels[index], eps[index], queries, p_init, generator)
        survivors.record(index, found, misclassified(model, found, labels[index]))
    return survivors.output(eps)


def window_share(query: int, queries: int, p_init: float) -> float:
    """The share p of the image a proposal covers at `query` of `queries` (the reference's
    schedule for 10 000 queries, stretched to the budget)."""
    at = int(query / queries * 10000)
    halvings = sum(at > bound for bound in _SCHEDULE)
    return p_init / float(2**halvings)


def _margin(model: nn.Module, images: Tensor, labels: Tensor) -> Tensor:
    """f_y − max_{j≠y} f_j: positive while correctly classified (the loss Square lowers)."""
    with torch.no_grad():
        logits = model(images).clone()
    rows = torch.arange(len(images), device=images.device)
    correct = logits[rows, labels].clone()
    logits[rows, labels] = -math.inf
    result: Tensor = correct - logits.amax(dim=1)
    return result


def _signs(shape: tuple[int, ...], generator: torch.Generator, device: torch.device) -> Tensor:
    return torch.sign(2 * torch.rand(shape, generator=generator) - 1).to(device)


def _run(model: nn.Module, images: Tensor, labels: Tensor, eps: Tensor, queries: int,
         p_init: float, generator: torch.Generator) -> Tensor:
    """One random search; the best point of each image (misclassified where it succeeded)."""
    channels, height, width = images.shape[1:]
    radius = per_image(eps)
    best = (images + radius * _signs((channels, 1, width), generator, images.device)).clamp(0, 1)
    margin = _margin(model, best, labels)
    for query in range(queries):
        alive = (margin > 0).nonzero().squeeze(1)
        if alive.numel() == 0:
            break
        share = window_share(query, queries, p_init)
        side = max(int(round(math.sqrt(share * height * width))), 1)
        top = int((height - side) * torch.rand(1, generator=generator))
        left = int((width - side) * torch.rand(1, generator=generator))
        colour = _signs((channels, 1, 1), generator, images.device)
        proposal = best[alive].clone()
        window = proposal[:, :, top : top + side, left : left + side]
        window += 2 * radius[alive] * colour
        proposal = project_linf(proposal, images[alive], eps[alive])
        proposed = _margin(model, proposal, labels[alive])
        # The reference keeps a proposal that lowers the loss or misclassifies (the same here:
        # the margin is the loss).
        better = (proposed < margin[alive]) | (proposed <= 0)
        best[alive] = torch.where(per_image(better), proposal, best[alive])
        margin[alive] = torch.where(better, proposed, margin[alive])
    return best


def _square_passes(params: Mapping[str, object]) -> float:
    """A forward pass (a third of a forward+backward) per query and restart, at most."""
    return (cast(int, params["restarts"]) * (cast(int, params["queries"]) + 1) + 2) / 3


SQUARE = AttackSpec(
    name="square",
    function=square,
    params=(
        LINF_EPS,
        Param("queries", "integer", 5000, "forward passes per image and restart, at most",
              minimum=1, maximum=100000),
        RESTARTS,
        Param("p_init", "number", 0.8, "share of the image the first proposals cover",
              minimum=0.0, maximum=1.0),
        SEED,
    ),
    description="Square Attack (Andriushchenko et al. 2020): black-box random search over "
    "square patches of ±2ε on the margin loss (L∞), from the model's scores alone; runs on "
    "ONNX-only models, on ONNX Runtime. AutoAttack's fourth attack.",
    targeted=False,
    passes=_square_passes,
    forward_only=True,
    min_classes=2,
)
