"""FAB-T: the targeted Fast Adaptive Boundary attack (L∞), the third attack of AutoAttack.

F. Croce and M. Hein, "Minimally distorted Adversarial Examples with a Fast Adaptive Boundary
Attack", ICML 2020, https://arxiv.org/abs/1907.02044, Algorithm 1, with the targeted variant of
"Reliable evaluation of adversarial robustness ...", ICML 2020 (§3.2). Each step linearises the
decision boundary between the label y and the target t at the current point x,
{z : ∇(f_t − f_y)·(z − x) + f_t(x) − f_y(x) = 0}, projects both x and the original image onto it
within the box [0, 1] (eq. 5), moves by the convex combination of the two projections biased
towards the original (eq. 8, α ≤ α_max), overshooting by η; once the point is adversarial it
steps back towards the original by the factor β, so it ends near the smallest perturbation.

FAB minimises the perturbation: an image counts as broken only if the smallest adversarial
found lies within its ε; otherwise it comes back unchanged, as in the reference.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

import torch
from torch import Tensor, nn

from saliency_service.attacks._common import per_image
from saliency_service.attacks._params import LINF_EPS
from saliency_service.attacks._survivors import (
    Survivors,
    misclassified,
    start_noise,
    untargeted_only,
)
from saliency_service.attacks.apgd import RESTARTS, SEED, STEPS, TARGET_COUNT
from saliency_service.attacks.base import AttackOutput, AttackSpec
from saliency_service.params import Param

# The smallest norm of a projection counted in the step's convex combination (reference).
TINY = 1e-8


def fab_t(
    model: nn.Module,
    images: Tensor,
    labels: Tensor,
    *,
    targets: Tensor | None,
    eps: Tensor,
    steps: int = 100,
    restarts: int = 1,
    target_count: int = 9,
    alpha_max: float = 0.1,
    eta: float = 1.05,
    beta: float = 0.9,
    seed: int = 0,
) -> AttackOutput:
    """FAB towards the 2nd, 3rd, … highest-scoring clean classes in turn; the first run of each
    target starts at the image itself, later restarts at a random point at ε/2.

    Raises:
        InvalidRequest: `targets` is given (FAB-T picks its own targets).

    Shape:
        images: (N, C, H, W) in [0, 1]; labels, eps: (N,).
        Returns the adversarial images (unchanged where none was found within ε) and `eps`.
    """
    untargeted_only("fab_t", targets)
    survivors = Survivors(model, images, labels)
    ranking = survivors.clean_logits.argsort(dim=1)
    generator = torch.Generator().manual_seed(seed)
    for rank in range(2, min(target_count, ranking.shape[1] - 1) + 2):
        for restart in range(restarts):
            index = survivors.index()
            if index.numel() == 0:
                return survivors.output(eps)
            start = images[index]
            if restart > 0:
                noise = start_noise(images.shape[1:], generator, images.device)
                shift = per_image(eps[index]) * noise / noise.abs().max() * 0.5
                start = (start + shift).clamp(0, 1)
            found = _run(model, images[index], labels[index], ranking[index, -rank], start,
                         steps, alpha_max, eta, beta)
            distance = (found - images[index]).flatten(1).abs().amax(dim=1)
            fooled = misclassified(model, found, labels[index]) & (distance <= eps[index])
            survivors.record(index, found, fooled)
    return survivors.output(eps)


def _run(model: nn.Module, images: Tensor, labels: Tensor, goal: Tensor, start: Tensor,
         steps: int, alpha_max: float, eta: float, beta: float) -> Tensor:
    """One FAB run: the adversarial point of smallest L∞ distance found (the image itself where
    none was)."""
    n = len(images)
    origin = images.flatten(1)
    x = start.clone()
    best, best_distance = images.clone(), torch.full((n,), 1e10, device=images.device)
    for _ in range(steps):
        difference, gradient = _boundary(model, x, labels, goal)
        normal = gradient.flatten(1)
        offset = -difference + (normal * x.flatten(1)).sum(dim=1)
        moves = project_to_hyperplane(torch.cat((x.flatten(1), origin)),
                                      torch.cat((normal, normal)), torch.cat((offset, offset)))
        from_x, from_origin = moves[:n].view_as(x), moves[n:].view_as(x)
        lengths = moves.abs().amax(dim=1).clamp_min(TINY)
        near, far = lengths[:n], lengths[n:]
        alpha = (near / (near + far)).clamp(0.0, alpha_max)
        x = ((x + eta * from_x) * per_image(1 - alpha)
             + (images + from_origin * eta) * per_image(alpha)).clamp(0, 1)
        wrong = misclassified(model, x, labels)
        distance = (x - images).flatten(1).abs().amax(dim=1)
        closer = wrong & (distance < best_distance)
        best = torch.where(per_image(closer), x, best)
        best_distance = torch.where(closer, distance, best_distance)
        x = torch.where(per_image(wrong), images + (x - images) * beta, x)
    return best


def _boundary(model: nn.Module, x: Tensor, labels: Tensor, goal: Tensor) -> tuple[Tensor, Tensor]:
    """f_t(x) − f_y(x) and its gradient with respect to x."""
    rows = torch.arange(len(x), device=x.device)
    with torch.enable_grad():
        leaf = x.detach().requires_grad_(True)
        logits = model(leaf)
        difference = logits[rows, goal] - logits[rows, labels]
        (gradient,) = torch.autograd.grad(difference.sum(), leaf)
    return difference.detach(), gradient


def project_to_hyperplane(points: Tensor, normal: Tensor, offset: Tensor) -> Tensor:
    """The smallest L∞ move d with normal·(p + d) = offset and p + d in [0, 1] (FAB, eq. 5).

    Moving coordinate i by at most λ towards the side that brings normal·p to the offset changes
    normal·p by |normal_i|·min(λ, room_i), where room_i is its distance to that side's bound, so
    the reach g(λ) = Σ |normal_i|·min(λ, room_i) is piecewise linear and increasing: sort the
    rooms, find the piece where g crosses the gap |normal·p − offset|, and solve for λ there.
    Where even the whole box does not reach the hyperplane, every coordinate moves to its bound.

    Shape:
        points, normal: (M, D); offset: (M,); returns (M, D).
    """
    gap = (normal * points).sum(dim=1) - offset
    # Move so as to lower sign(gap)·normal·p: up where that product's coefficient is negative.
    coefficient = normal * torch.where(gap >= 0, 1.0, -1.0).unsqueeze(1)
    up = coefficient < 0
    room = torch.where(up, 1 - points, points)
    weight = coefficient.abs()
    rooms, order = room.sort(dim=1)
    weights = weight.gather(1, order)
    saturated = torch.cumsum(weights * rooms, dim=1)  # Σ_{j ≤ k} |n|·room, rooms ascending
    free = weights.sum(dim=1, keepdim=True) - torch.cumsum(weights, dim=1)  # Σ_{j > k} |n|
    reach = saturated + rooms * free  # g at λ = rooms[k]
    pieces = (reach < gap.abs().unsqueeze(1)).sum(dim=1, keepdim=True)  # rooms it saturates
    zero = torch.zeros_like(gap).unsqueeze(1)
    before = torch.cat((zero, saturated), dim=1).gather(1, pieces)
    left = torch.cat((weights.sum(dim=1, keepdim=True), free), dim=1).gather(1, pieces)
    feasible = left > 0
    lam = ((gap.abs().unsqueeze(1) - before) / torch.where(feasible, left, 1.0)).clamp_min(0)
    step = torch.where(feasible, torch.minimum(lam, room), room)
    return torch.where(up, step, -step) * (normal != 0)


def _fab_t_passes(params: Mapping[str, object]) -> float:
    """Per run: a forward+backward and a forward per step, and the final check."""
    runs = cast(int, params["target_count"]) * cast(int, params["restarts"])
    return runs * (cast(int, params["steps"]) * (1 + 1 / 3) + 1 / 3) + 1 / 3


FAB_T = AttackSpec(
    name="fab_t",
    function=fab_t,
    params=(
        LINF_EPS,
        STEPS,
        RESTARTS,
        TARGET_COUNT,
        Param("alpha_max", "number", 0.1, "largest weight of the projection of the original "
              "image in each step", minimum=0.0, maximum=1.0),
        Param("eta", "number", 1.05, "overshoot of each projection", minimum=1.0, maximum=10.0),
        Param("beta", "number", 0.9, "step back towards the original once adversarial",
              minimum=0.0, maximum=1.0),
        SEED,
    ),
    description="FAB-T (Croce & Hein 2020): minimal L∞ perturbation by projections onto the "
    "linearised boundary with each of the top other classes in turn; counts where it lies "
    "within ε. AutoAttack's third attack.",
    targeted=False,
    passes=_fab_t_passes,
    min_classes=2,
)
