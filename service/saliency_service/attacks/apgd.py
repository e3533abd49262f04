"""Auto-PGD (L∞): APGD-CE and APGD-T, the first two attacks of AutoAttack.

F. Croce and M. Hein, "Reliable evaluation of adversarial robustness with an ensemble of diverse
parameter-free attacks", ICML 2020, https://arxiv.org/abs/2003.01690, Algorithm 1: PGD with
momentum (0.75) whose step size starts at 2ε and halves, image by image, at checkpoints where
the loss rose in fewer than ρ of the steps since the last one (condition 1) or where the best
loss did not improve since the last checkpoint and the step was not halved there (condition 2);
after a halving the image restarts from its best point. Checkpoints come at 22 % of the steps,
then ever closer (each gap 3 % of the steps shorter, at least 6 %).

APGD-CE climbs the cross-entropy; APGD-T the targeted DLR loss (eq. 7) towards each of the
`target_count` classes the clean image scores highest after its label, in turn. Each restart
and target runs only on the images still classified correctly, and an image comes back changed
only if some iterate was misclassified: then it is the last such iterate, as in the reference.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import cast

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from saliency_service.attacks._common import per_image
from saliency_service.attacks._linf import project_linf
from saliency_service.attacks._params import LINF_EPS
from saliency_service.attacks._survivors import Survivors, start_noise, untargeted_only
from saliency_service.attacks.base import AttackOutput, AttackSpec
from saliency_service.params import Param

# Per-image loss of the logits at the labels (and targets, for APGD-T); higher is better.
Loss = Callable[[Tensor, Tensor], Tensor]
MOMENTUM = 0.75


def apgd_ce(
    model: nn.Module,
    images: Tensor,
    labels: Tensor,
    *,
    targets: Tensor | None,
    eps: Tensor,
    steps: int = 100,
    restarts: int = 1,
    rho: float = 0.75,
    seed: int = 0,
) -> AttackOutput:
    """APGD on the cross-entropy: `restarts` runs of `steps` steps, each from a random point.

    Raises:
        InvalidRequest: `targets` is given (APGD-CE is untargeted).

    Shape:
        images: (N, C, H, W) in [0, 1]; labels, eps: (N,).
        Returns the adversarial images (unchanged where no run succeeded) and `eps`.
    """
    untargeted_only("apgd_ce", targets)
    survivors = Survivors(model, images, labels)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(restarts):
        index = survivors.index()
        if index.numel() == 0:
            break
        noise = start_noise(images.shape[1:], generator, images.device)
        found, fooled = _run(model, images[index], labels[index], eps[index], noise,
                             _cross_entropy, steps, rho)
        survivors.record(index, found, fooled)
    return survivors.output(eps)


def apgd_t(
    model: nn.Module,
    images: Tensor,
    labels: Tensor,
    *,
    targets: Tensor | None,
    eps: Tensor,
    steps: int = 100,
    restarts: int = 1,
    target_count: int = 9,
    rho: float = 0.75,
    seed: int = 0,
) -> AttackOutput:
    """APGD on the targeted DLR loss, towards the 2nd, 3rd, … highest-scoring clean classes.

    Raises:
        InvalidRequest: `targets` is given (APGD-T picks its own targets).

    Shape:
        images: (N, C, H, W) in [0, 1]; labels, eps: (N,); the model has ≥ 4 classes.
        Returns the adversarial images (unchanged where no run succeeded) and `eps`.
    """
    untargeted_only("apgd_t", targets)
    survivors = Survivors(model, images, labels)
    ranking = survivors.clean_logits.argsort(dim=1)
    generator = torch.Generator().manual_seed(seed)
    for rank in range(2, min(target_count, ranking.shape[1] - 1) + 2):
        for _ in range(restarts):
            index = survivors.index()
            if index.numel() == 0:
                return survivors.output(eps)
            noise = start_noise(images.shape[1:], generator, images.device)
            goal = ranking[index, -rank]

            def loss(logits: Tensor, y: Tensor, goal: Tensor = goal) -> Tensor:
                return _targeted_dlr(logits, y, goal)

            found, fooled = _run(model, images[index], labels[index], eps[index], noise, loss,
                                 steps, rho)
            survivors.record(index, found, fooled)
    return survivors.output(eps)


def _cross_entropy(logits: Tensor, labels: Tensor) -> Tensor:
    return F.cross_entropy(logits, labels, reduction="none")


def _targeted_dlr(logits: Tensor, labels: Tensor, goal: Tensor) -> Tensor:
    """−(z_y − z_t) / (z_π1 − (z_π3 + z_π4)/2): the targeted Difference of Logits Ratio (eq. 7),
    invariant to shifting and scaling the logits."""
    ordered = logits.sort(dim=1).values
    rows = torch.arange(len(logits), device=logits.device)
    margin = logits[rows, labels] - logits[rows, goal]
    spread = ordered[:, -1] - 0.5 * ordered[:, -3] - 0.5 * ordered[:, -4] + 1e-12
    return -margin / spread


def _value_and_gradient(model: nn.Module, images: Tensor, labels: Tensor,
                        loss: Loss) -> tuple[Tensor, Tensor, Tensor]:
    """Per-image losses, their gradient with respect to the images, and the predictions."""
    with torch.enable_grad():
        leaf = images.detach().requires_grad_(True)
        logits = model(leaf)
        values = loss(logits, labels)
        (gradient,) = torch.autograd.grad(values.sum(), leaf)
    return values.detach(), gradient, logits.detach().argmax(dim=1)


def _run(model: nn.Module, images: Tensor, labels: Tensor, eps: Tensor, noise: Tensor,
         loss: Loss, steps: int, rho: float) -> tuple[Tensor, Tensor]:
    """One APGD run from x + ε·noise/‖noise‖∞: the last misclassified iterate of each image and
    whether there was one."""
    radius = per_image(eps)
    x = (images + radius * noise / noise.abs().max()).clamp(0, 1)
    values, gradient, predicted = _value_and_gradient(model, x, labels, loss)
    fooled = predicted != labels
    found = x.clone()
    best_x, best_gradient, best_loss = x.clone(), gradient.clone(), values.clone()
    step = 2 * radius
    schedule = _Checkpoints(steps, rho, best_loss)
    previous = x.clone()
    for i in range(steps):
        with torch.no_grad():
            momentum = x - previous
            previous = x
            weight = MOMENTUM if i > 0 else 1.0
            z = project_linf(x + step * gradient.sign(), images, eps)
            x = project_linf(x + (z - x) * weight + momentum * (1 - weight), images, eps)
        values, gradient, predicted = _value_and_gradient(model, x, labels, loss)
        wrong = predicted != labels
        fooled |= wrong
        found = torch.where(per_image(wrong), x, found)
        better = values > best_loss
        best_x = torch.where(per_image(better), x, best_x)
        best_gradient = torch.where(per_image(better), gradient, best_gradient)
        best_loss = torch.where(better, values, best_loss)
        halve = schedule.after_step(i, values, best_loss)
        if halve is not None:
            step = torch.where(per_image(halve), step / 2, step)
            x = torch.where(per_image(halve), best_x, x)
            gradient = torch.where(per_image(halve), best_gradient, gradient)
    return found, fooled


class _Checkpoints:
    """When to check, and which images halve their step there (conditions 1 and 2)."""

    def __init__(self, steps: int, rho: float, best_loss: Tensor) -> None:
        self.steps, self.rho = steps, rho
        self.gap = max(int(0.22 * steps), 1)
        self.shrink, self.minimum = max(int(0.03 * steps), 1), max(int(0.06 * steps), 1)
        self.since = 0
        # Loss after each step. Like the reference, the step before the first is read from the
        # last row (still zero then), so the first checkpoint counts the first step against 0.
        self.history = torch.zeros(steps, len(best_loss), device=best_loss.device)
        self.best_at_last = best_loss.clone()
        self.halved_at_last = torch.ones_like(best_loss, dtype=torch.bool)

    def after_step(self, i: int, values: Tensor, best_loss: Tensor) -> Tensor | None:
        self.history[i] = values
        self.since += 1
        if self.since < self.gap:
            return None
        rows = [(i - back) % self.steps for back in range(self.gap)]
        before = [(i - back - 1) % self.steps for back in range(self.gap)]
        increases = (self.history[rows] > self.history[before]).sum(dim=0)
        oscillating = increases <= self.gap * self.rho
        stalled = ~self.halved_at_last & (self.best_at_last >= best_loss)
        halve = oscillating | stalled
        self.halved_at_last, self.best_at_last = halve, best_loss.clone()
        self.since = 0
        self.gap = max(self.gap - self.shrink, self.minimum)
        return halve


def _apgd_passes(params: Mapping[str, object]) -> float:
    """Each run: one forward+backward per step and one at its start."""
    return cast(int, params["restarts"]) * (cast(int, params["steps"]) + 1.0) + 1 / 3


def _apgd_t_passes(params: Mapping[str, object]) -> float:
    return cast(int, params["target_count"]) * _apgd_passes(params)


STEPS = Param("steps", "integer", 100, "iterations of each run", minimum=1, maximum=10000)
RESTARTS = Param("restarts", "integer", 1, "runs from new random starts, on the images the "
                 "earlier runs left correct", minimum=1, maximum=100)
TARGET_COUNT = Param("target_count", "integer", 9, "target classes tried in turn, the clean "
                     "image's highest-scoring first after its label (at most classes − 1)",
                     minimum=1, maximum=1000)
SEED = Param("seed", "integer", 0, "seeds the random starts (the same for every image)",
             minimum=0, maximum=2**31 - 1)
_RHO = Param("rho", "number", 0.75, "a checkpoint halves the step when the loss rose in fewer "
             "than this share of the steps since the last one", minimum=0.0, maximum=1.0)

APGD_CE = AttackSpec(
    name="apgd_ce",
    function=apgd_ce,
    params=(LINF_EPS, STEPS, RESTARTS, _RHO, SEED),
    description="APGD-CE (Croce & Hein 2020): PGD with momentum and a step size that adapts "
    "per image, on the cross-entropy (L∞). AutoAttack's first attack.",
    targeted=False,
    passes=_apgd_passes,
    autocast=True,
    min_classes=2,
)
APGD_T = AttackSpec(
    name="apgd_t",
    function=apgd_t,
    params=(LINF_EPS, STEPS, RESTARTS, TARGET_COUNT, _RHO, SEED),
    description="APGD-T (Croce & Hein 2020): APGD on the targeted DLR loss towards each of the "
    "clean image's highest-scoring other classes in turn (L∞; models with at least 4 classes).",
    targeted=False,
    passes=_apgd_t_passes,
    autocast=True,
    min_classes=4,
)
