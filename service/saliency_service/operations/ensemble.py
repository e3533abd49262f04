"""Evaluate's `autoattack`: robust accuracy under attacks run in turn, as leaderboards report it.

Croce and Hein (ICML 2020, https://arxiv.org/abs/2003.01690) count an image as robust only if
every attack of the ensemble fails on it; each attack therefore runs on the images all earlier
ones left correctly classified (cheaper, and the same answer). By default the attacks are
AutoAttack's standard four: APGD-CE, APGD-T, FAB-T and Square. Each attack at each ε is an
ordinary attack stage of the report, batched, priced and preemptible like any Attack request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from saliency_service.attacks.autoattack import COMPONENTS
from saliency_service.errors import InvalidRequest
from saliency_service.models.loading import LoadedModel
from saliency_service.operations.attack import AttackPlan, attacker, plan_attack
from saliency_service.operations.attack_batch import AttackOutcome
from saliency_service.operations.calls import AttackCall, AttackItem, EnsembleCall
from saliency_service.params import resolve_params

MAX_ENSEMBLE_ATTACKS = 8
MAX_ENSEMBLE_EPSILONS = 8
# Runs one attack at one ε on the images at the given indices of the report.
AttackStage = Callable[[AttackPlan, list[int], float], Awaitable[list[AttackOutcome]]]


@dataclass
class EnsembleStage:
    attack: str
    attacked: int
    broken: int
    robust_accuracy: float


@dataclass
class EnsembleResult:
    """Per image, in request order: `robust` under every attack, and `broken_by` the attack that
    broke it ("" where none did, or the clean image was already wrong)."""

    eps: float
    robust_accuracy: float
    onnx_robust_accuracy: float
    stages: list[EnsembleStage] = field(default_factory=list)
    robust: list[bool] = field(default_factory=list)
    broken_by: list[str] = field(default_factory=list)
    clean_predictions: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class EnsemblePlan:
    attacks: list[AttackPlan]
    epsilons: list[float]

    @property
    def stages(self) -> int:
        return len(self.attacks) * len(self.epsilons)

    def seconds(self, images: int) -> float:
        """Device-seconds if every attack ran on every image (the worst case)."""
        return images * sum(
            plan.price(AttackItem(b"", eps=eps), (1, 1)).seconds
            for plan in self.attacks
            for eps in self.epsilons
        )


def plan_ensemble(
    model: LoadedModel,
    call: EnsembleCall | None,
    epsilons: Sequence[float],
    row_seconds: float,
    max_pixels: int,
) -> EnsemblePlan | None:
    """Check the ensemble's attacks (each with an ε budget that holds every ε) and its ε list.

    Raises:
        InvalidRequest, UnsupportedMethod: what is wrong, before any work.
    """
    if call is None:
        return None
    chosen = call.attacks or [(spec.name, {}) for spec in COMPONENTS]
    if len(chosen) > MAX_ENSEMBLE_ATTACKS:
        raise InvalidRequest(f"autoattack takes at most {MAX_ENSEMBLE_ATTACKS} attacks")
    chosen_epsilons = list(call.epsilons) or ([max(epsilons)] if epsilons else [])
    if not 1 <= len(chosen_epsilons) <= MAX_ENSEMBLE_EPSILONS:
        raise InvalidRequest(
            f"autoattack needs 1 to {MAX_ENSEMBLE_EPSILONS} epsilons (its own, or the report's)"
        )
    plans = []
    for method, params in chosen:
        budget = attacker(method).eps
        if budget is None:
            raise InvalidRequest(f"attack {method!r} has no ε budget, so it cannot join autoattack")
        for eps in chosen_epsilons:
            resolve_params(method, (budget,), {"eps": eps})
        plans.append(plan_attack(model, AttackCall(model.config.name, method, [], params),
                                 row_seconds, max_pixels))
    return EnsemblePlan(plans, chosen_epsilons)


async def run_ensemble(
    plan: EnsemblePlan, eps: float, labels: Sequence[int], attack: AttackStage
) -> AsyncIterator[str | EnsembleResult]:
    """Each attack in turn on the images still correct; yields each stage's name before it
    runs, then the result."""
    count = len(labels)
    robust = [True] * count
    onnx_robust = [True] * count
    broken_by = [""] * count
    result = EnsembleResult(eps, 0.0, 0.0)
    for index, stage in enumerate(plan.attacks):
        remaining = [i for i in range(count) if robust[i]]
        if not remaining:
            result.stages.append(EnsembleStage(stage.spec.name, 0, 0, 0.0))
            continue
        yield f"autoattack: {stage.spec.name} at eps={eps:g}"
        outcomes = await attack(stage, remaining, eps)
        broken = 0
        if index == 0:
            result.clean_predictions = [outcome.label_before for outcome in outcomes]
        for i, outcome in zip(remaining, outcomes, strict=True):
            onnx_robust[i] = onnx_robust[i] and outcome.label_after_onnx == labels[i]
            if index == 0 and outcome.label_before != labels[i]:
                # Wrong before any attack: not robust, broken by none.
                robust[i] = onnx_robust[i] = False
            elif outcome.label_after_torch != labels[i]:
                robust[i], broken_by[i] = False, stage.spec.name
                broken += 1
        result.stages.append(
            EnsembleStage(stage.spec.name, len(remaining), broken, sum(robust) / count)
        )
    result.robust, result.broken_by = robust, broken_by
    result.robust_accuracy = sum(robust) / count
    result.onnx_robust_accuracy = sum(onnx_robust) / count
    yield result


async def run_ensembles(plan: EnsemblePlan | None, labels: Sequence[int],
                        attack_rows: AttackStage) -> AsyncIterator[str | EnsembleResult]:
    """`run_ensemble` at every ε of the plan in turn (nothing without a plan)."""
    if plan is None:
        return
    for eps in plan.epsilons:
        async for message in run_ensemble(plan, eps, labels, attack_rows):
            yield message
