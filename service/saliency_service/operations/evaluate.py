"""Evaluate: a robustness report over a labelled batch, run as ordinary batches.

Accuracy under attack is the curve of Kurakin et al. (2016, Fig. 2), judged by torch and by ONNX
Runtime. Stability follows the lecture notes' §4.1: for each image an attack flips at the largest
ε, compare the map of the predicted class before with the map of the predicted class after
(Spearman rank correlation and SSIM) — what a user would see next to each prediction.

Every stage is a job of the same kinds as Attack and Explain requests, through the same runner:
the whole report is priced and admitted before any image is decoded, and every stage runs under
the caller's priority, deadline and tenant, preemptible between passes and cancelled with the
call. Progress is reported between stages.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from saliency_service.assessment.similarity import spearman_rank_correlation, ssim
from saliency_service.errors import InvalidRequest
from saliency_service.images import header_size
from saliency_service.models.loading import LoadedModel
from saliency_service.operations.attack import AttackPlan, attacker, plan_attack
from saliency_service.operations.attack_batch import AttackInput, AttackOutcome
from saliency_service.operations.calls import (
    AttackCall,
    AttackItem,
    Caller,
    EvaluateCall,
    ExplainCall,
    ExplainItem,
)
from saliency_service.operations.ensemble import (
    EnsemblePlan,
    EnsembleResult,
    plan_ensemble,
    run_ensembles,
)
from saliency_service.operations.explain import ExplainPlan, plan_explain
from saliency_service.operations.explain_batch import ExplainInput, ExplainOutput
from saliency_service.operations.inputs import model_input
from saliency_service.operations.runner import RequestRunner, computed
from saliency_service.params import resolve_params

MAX_EPSILONS = 32


@dataclass
class Curve:
    attack: str
    epsilons: list[float]
    accuracy: list[float]
    onnx_accuracy: list[float]


@dataclass
class Stability:
    method: str
    attack: str
    eps: float
    spearman: list[float] = field(default_factory=list)
    ssim: list[float] = field(default_factory=list)
    # The images (indices into the evaluated batch) the figures belong to: those flipped.
    images: list[int] = field(default_factory=list)


@dataclass
class Report:
    clean_accuracy: float
    curves: list[Curve]
    stability: list[Stability]
    model_version: str = ""
    autoattack: list[EnsembleResult] = field(default_factory=list)


@dataclass(frozen=True)
class Progress:
    fraction: float
    stage: str


@dataclass(frozen=True)
class EvaluatePlan:
    """A validated report: its attacks, ε list and stability methods, and the labelled images."""

    model: LoadedModel
    attacks: list[AttackPlan]
    epsilons: list[float]
    explainers: list[ExplainPlan]
    call: EvaluateCall
    ensemble: EnsemblePlan | None = None

    @property
    def stages(self) -> int:
        ensemble = self.ensemble.stages if self.ensemble else 0
        return len(self.attacks) * (len(self.epsilons) + len(self.explainers)) + ensemble

    def seconds(self) -> float:
        """Estimated device-seconds of the whole report (stability on every image, at most)."""
        size = (self.model.config.height, self.model.config.width)
        total = 0.0
        for plan in self.attacks:
            for eps in self.epsilons:
                total += plan.price(AttackItem(b"", eps=eps), size).seconds
            for explainer in self.explainers:
                total += 2 * explainer.price(ExplainItem(b""), size).seconds
        images = len(self.call.images)
        return total * images + (self.ensemble.seconds(images) if self.ensemble else 0.0)


def plan_evaluate(
    model: LoadedModel, call: EvaluateCall, row_seconds: float, max_pixels: int
) -> EvaluatePlan:
    """Check the whole plan: attacks with an ε budget, each ε within every attack's own bounds,
    stability methods that apply to the model, labels in range.

    Raises:
        InvalidRequest, UnsupportedMethod, InvalidLayer: what is wrong, before any work.
    """
    if not call.attacks and call.autoattack is None:
        raise InvalidRequest("an evaluation needs at least one attack, or autoattack")
    if call.attacks and not 1 <= len(call.epsilons) <= MAX_EPSILONS:
        raise InvalidRequest(f"give 1 to {MAX_EPSILONS} epsilons, got {len(call.epsilons)}")
    attacks = []
    for method, params in call.attacks:
        eps = attacker(method).eps
        if eps is None:
            raise InvalidRequest(f"attack {method!r} has no ε budget, so it has no ε curve")
        resolve_params(method, attacker(method).params, params)  # no common parameters here
        for value in call.epsilons:
            resolve_params(method, (eps,), {"eps": value})
        attacks.append(plan_attack(model, AttackCall(model.config.name, method, [], params),
                                   row_seconds, max_pixels))
    explainers = [
        plan_explain(model, ExplainCall(model.config.name, method, []), row_seconds, max_pixels)
        for method in call.stability_methods
    ]
    if not call.images:
        raise InvalidRequest("the evaluation has no labelled images")
    classes = model.config.num_classes
    for index, label in enumerate(call.labels):
        if not 0 <= label < classes:
            raise InvalidRequest(f"image {index}: label {label} is not in 0..{classes - 1}")
    ensemble = plan_ensemble(model, call.autoattack, call.epsilons, row_seconds, max_pixels)
    return EvaluatePlan(model, attacks, list(call.epsilons), explainers, call, ensemble)


async def evaluate(
    plan: EvaluatePlan, runner: RequestRunner, caller: Caller
) -> AsyncIterator[Progress | Report]:
    """Run the report: progress between stages, then the report.

    Unlike Explain, one bad image fails the request: a report over a partial batch would
    silently change what its accuracy figures mean.
    """
    name, seconds = plan.model.config.name, plan.seconds()
    for index, image in enumerate(plan.call.images):
        header_size(image, f"image {index}", runner.config.max_image_pixels)
    runner.check_caps(name, seconds, 0)
    ticket = runner.admit(name, caller, len(plan.call.images), seconds)
    try:
        pixels = await runner.engine.pool.decode(_decode_all, plan, runner.config.max_image_pixels)
        async for message in evaluate_pixels(plan, runner, caller, pixels, plan.call.labels):
            if isinstance(message, Evaluation):
                yield message.report(plan.call.labels, plan.model.config.version)
            else:
                yield message
    finally:
        runner.engine.admission.release(ticket)


@dataclass
class Evaluation:
    """Per image, what the report is made of: the clean prediction, each attack's labels after
    it at each ε, and the stability of maps on the images the strongest attack flipped (bulk
    jobs keep these per image and make the report over a whole data set)."""

    clean: list[int]
    # Per attack of the plan, in order: its name and, per ε, every image's outcome.
    attacks: list[tuple[str, list[tuple[float, list[AttackOutcome]]]]]
    stability: list[Stability]
    # The ensemble's result at each of its ε (robust only where every attack failed).
    ensemble: list[EnsembleResult] = field(default_factory=list)

    def report(self, labels: Sequence[int], model_version: str) -> Report:
        curves = [
            Curve(
                name,
                [eps for eps, _ in runs],
                [_share([o.label_after_torch for o in run], labels) for _, run in runs],
                [_share([o.label_after_onnx for o in run], labels) for _, run in runs],
            )
            for name, runs in self.attacks
        ]
        return Report(_share(self.clean, labels), curves, self.stability, model_version,
                      self.ensemble)


async def evaluate_pixels(
    plan: EvaluatePlan,
    runner: RequestRunner,
    caller: Caller,
    pixels: Sequence[torch.Tensor],
    labels: Sequence[int],
) -> AsyncIterator[Progress | Evaluation]:
    """Every stage of the plan over decoded, labelled images: progress between stages, then
    the per-image evaluation. Each stage is a batch through the runner (admitted by the caller
    of this function)."""
    evaluation = Evaluation([], [], [])
    stage = 0
    strongest_eps = max(plan.epsilons, default=math.nan)
    for attack in plan.attacks:
        strongest: list[AttackOutcome] = []
        runs: list[tuple[float, list[AttackOutcome]]] = []
        evaluation.attacks.append((attack.spec.name, runs))
        for eps in plan.epsilons:
            yield Progress(stage / plan.stages, f"{attack.spec.name} at eps={eps:g}")
            outcomes = await _attack(attack, runner, caller, pixels, labels, eps)
            evaluation.clean = evaluation.clean or [o.label_before for o in outcomes]
            runs.append((eps, outcomes))
            if eps == strongest_eps:
                strongest = outcomes
            stage += 1
        for explainer in plan.explainers:
            what = f"{explainer.spec.name} stability under {attack.spec.name}"
            yield Progress(stage / plan.stages, what)
            stability = await _stability(explainer, runner, caller, pixels, strongest,
                                         attack.spec.name)
            stability.eps = strongest_eps
            evaluation.stability.append(stability)
            stage += 1

    def attack_rows(attack: AttackPlan, rows: list[int], eps: float) -> Any:
        return _attack(attack, runner, caller, [pixels[i] for i in rows],
                       [labels[i] for i in rows], eps)

    async for message in run_ensembles(plan.ensemble, labels, attack_rows):
        if isinstance(message, EnsembleResult):
            evaluation.ensemble.append(message)
            evaluation.clean = evaluation.clean or message.clean_predictions
        else:
            yield Progress(stage / plan.stages, message)
            stage += 1
    yield Progress(1.0, "done")
    yield evaluation


def _decode_all(plan: EvaluatePlan, max_pixels: int) -> list[torch.Tensor]:
    pixels = []
    for index, image in enumerate(plan.call.images):
        try:
            pixels.append(model_input(plan.model, image, max_pixels)[0])
        except InvalidRequest as error:
            message = str(error)
            raise InvalidRequest(message if message.startswith("image ") else
                                 f"image {index}: {message}") from None
    return pixels


async def _attack(plan: AttackPlan, runner: RequestRunner, caller: Caller,
                  pixels: Sequence[torch.Tensor], labels: Sequence[int],
                  eps: float) -> list[AttackOutcome]:
    items = [AttackInput(p, label, None, eps) for p, label in zip(pixels, labels, strict=True)]
    seconds = plan.price(AttackItem(b"", eps=eps), (1, 1)).seconds
    return computed(await runner.batch(plan.job, items, [seconds] * len(items), caller))


async def _stability(plan: ExplainPlan, runner: RequestRunner, caller: Caller,
                     pixels: Sequence[torch.Tensor], outcomes: Sequence[AttackOutcome],
                     attack: str) -> Stability:
    """Maps of the class predicted before and after, for the images the attack flipped."""
    result = Stability(plan.spec.name, attack, math.nan)
    flipped = [(i, o) for i, o in enumerate(outcomes) if o.label_before != o.label_after_torch]
    if not flipped:
        return result
    size = (plan.model.config.height, plan.model.config.width)
    items = [ExplainInput(pixels[i], size, (o.label_before,), 0) for i, o in flipped]
    items += [ExplainInput(o.adversarial, size, (o.label_after_torch,), 0) for _, o in flipped]
    seconds = plan.price(ExplainItem(b""), size).seconds
    maps = computed(await runner.batch(plan.job, items, [seconds] * len(items), caller))
    heatmaps = torch.stack([_heatmap(m) for m in maps])
    before, after = heatmaps[: len(flipped)], heatmaps[len(flipped) :]
    result.spearman = [float(v) for v in spearman_rank_correlation(before, after).tolist()]
    result.ssim = [float(v) for v in ssim(before, after).tolist()]
    result.images = [i for i, _ in flipped]
    return result


def _heatmap(output: ExplainOutput) -> torch.Tensor:
    return output.maps[0].heatmap.float()


def _share(predicted: Sequence[int], labels: Sequence[int]) -> float:
    if not labels:
        return math.nan
    return sum(p == y for p, y in zip(predicted, labels, strict=True)) / len(labels)
