"""Assess: how far each method's maps can be trusted, run as ordinary batches.

The whole assessment is priced and admitted before any image is decoded (assess_plan.py). Then,
for each method: its maps of the images (an Explain job); the maps the explained metrics need
(noisy copies, other classes: more Explain jobs of the same method, so they batch with any other
request's); the randomised models' maps (a job that randomises a private copy of the instance on
the worker, operations/randomised.py); and the forward-only metrics' perturbed copies, scored
as probes in short batches (operations/probes.py). Every stage runs under the caller's
priority, deadline and tenant, preemptible between passes and cancelled with the call; progress
is reported between stages. Metrics are computed from their inputs on the decode threads.

Like Evaluate, one bad image fails the request: a report over part of its images would mean
something else.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from saliency_service.assessment.base import (
    ExplainedMetric,
    ForwardMetric,
    MapMetric,
    MaskMetric,
    Params,
    RandomisationMetric,
    Result,
    Scores,
    integer,
)
from saliency_service.assessment.localisation import boxes_mask
from saliency_service.assessment.randomisation import checkpoint_count
from saliency_service.errors import InvalidRequest
from saliency_service.images import header_size, resize
from saliency_service.operations.assess_plan import AssessPlan
from saliency_service.operations.assess_report import (
    AssessReport,
    MethodOutcome,
    method_outcome,
    metric_outcome,
)
from saliency_service.operations.calls import AssessItem, Caller
from saliency_service.operations.evaluate import Progress
from saliency_service.operations.explain import FORWARD, ExplainPlan
from saliency_service.operations.explain_batch import ExplainInput, ExplainOutput
from saliency_service.operations.inputs import model_input
from saliency_service.operations.probes import ForwardEngines, Probe, ProbeScore
from saliency_service.operations.randomised import RandomisedMaps, randomisation_job
from saliency_service.operations.runner import RequestRunner, computed

# Noisy copies explained at once, at most: they are materialised (images × samples) before
# they are queued, so larger sample counts go in waves.
WAVE_IMAGES = 256


@dataclass
class _Inputs:
    """The decoded request: images at the model's size, masks (empty where none was given),
    targets (−1: the predicted class, until the first method's maps say which it is)."""

    images: Tensor
    masks: Tensor
    targets: list[int]


@dataclass
class _Method:
    """One method's run: its maps, the classes they explain, each metric's result so far."""

    plan: ExplainPlan
    heatmaps: Tensor = field(default_factory=lambda: torch.empty(0))
    targets: list[int] = field(default_factory=list)
    results: dict[int, Result] = field(default_factory=dict)
    # Randomised models' maps by (seed, checkpoints): one cascade serves every similarity.
    randomised: dict[tuple[int, int], list[RandomisedMaps]] = field(default_factory=dict)


Step = Callable[[_Method], Coroutine[Any, Any, None]]


async def assess(
    plan: AssessPlan, runner: RequestRunner, engines: ForwardEngines, caller: Caller
) -> AsyncIterator[Progress | AssessReport]:
    """Run the assessment: progress between stages, then the report."""
    name, seconds = plan.model.config.name, plan.seconds()
    for index, item in enumerate(plan.call.items):
        header_size(item.image, f"image {index}", runner.config.max_image_pixels)
    runner.check_caps(name, seconds, plan.reply_bytes())
    ticket = runner.admit(name, caller, len(plan.call.items), seconds)
    try:
        inputs = await runner.engine.pool.decode(_decode_all, plan, runner.config.max_image_pixels)
        run = _Run(plan, runner, engines, caller, inputs)
        steps = [(method, run.steps()) for method in plan.methods]
        total, done = sum(len(s) for _, s in steps), 0
        outcomes: list[MethodOutcome] = []
        for method, method_steps in steps:
            state = _Method(method)
            for label, step in method_steps:
                yield Progress(done / total, f"{method.spec.name}: {label}")
                await step(state)
                done += 1
            inputs.targets = state.targets
            outcomes.append(await runner.engine.pool.decode(run.outcome, state))
    finally:
        runner.engine.admission.release(ticket)
    yield Progress(1.0, "done")
    yield AssessReport(inputs.targets, outcomes, plan.model.config.version)


class _Run:
    """The stages of one assessment, shared by its methods."""

    def __init__(self, plan: AssessPlan, runner: RequestRunner, engines: ForwardEngines,
                 caller: Caller, inputs: _Inputs) -> None:
        self.plan, self.runner, self.engines, self.caller = plan, runner, engines, caller
        self.inputs = inputs
        self.size = (plan.model.config.height, plan.model.config.width)

    def steps(self) -> list[tuple[str, Step]]:
        """The stages of a method, in order: its maps, then what its metrics need."""
        steps: list[tuple[str, Step]] = [("maps", self._maps)]
        forward: list[tuple[int, ForwardMetric]] = []
        for index, metric in enumerate(self.plan.metrics):
            spec = metric.spec
            if isinstance(spec, ExplainedMetric):
                steps.append((spec.name, self._explained(index, spec, metric.params)))
            elif isinstance(spec, RandomisationMetric):
                steps.append((spec.name, self._randomised(index, spec, metric.params)))
            elif isinstance(spec, ForwardMetric):
                forward.append((index, spec))
        if forward:
            steps.append((", ".join(spec.name for _, spec in forward), self._forward(forward)))
        return steps

    async def _explain(self, method: ExplainPlan, images: Tensor, targets: Sequence[int],
                       ) -> list[ExplainOutput]:
        items = [ExplainInput(image, self.size, (target,) if target >= 0 else (), 0)
                 for image, target in zip(images, targets, strict=True)]
        cost = self.plan.explain_seconds(method)
        return computed(await self.runner.batch(method.job, items, [cost] * len(items),
                                                self.caller))

    async def _maps(self, state: _Method) -> None:
        outputs = await self._explain(state.plan, self.inputs.images, self.inputs.targets)
        state.heatmaps = torch.stack([o.maps[0].heatmap for o in outputs])
        state.targets = [o.maps[0].target for o in outputs]

    def _explained(self, index: int, spec: ExplainedMetric, params: Params) -> Step:
        async def step(state: _Method) -> None:
            samples = spec.samples(params)
            images, targets = self.inputs.images, torch.tensor(state.targets)
            classes = self.plan.model.config.num_classes
            wave = max(1, WAVE_IMAGES // len(images))
            maps: list[Tensor] = []
            for start in range(0, samples, wave):
                drawn = [spec.inputs(images, targets, classes, params, k)
                         for k in range(start, min(start + wave, samples))]
                wanted = [int(c) for _, classes_k in drawn for c in classes_k.tolist()]
                outputs = await self._explain(state.plan, torch.cat([x for x, _ in drawn]),
                                              wanted)
                heatmaps = torch.stack([o.maps[0].heatmap for o in outputs])
                maps += list(heatmaps.view(len(drawn), len(images), *self.size).unbind())
            state.results[index] = await self._decode(
                spec.summarise, images, state.heatmaps, torch.stack(maps, dim=1), targets,
                params)

        return step

    def _randomised(self, index: int, spec: RandomisationMetric, params: Params) -> Step:
        async def step(state: _Method) -> None:
            key = (integer(params, "seed"), integer(params, "checkpoints"))
            if key not in state.randomised:
                job = randomisation_job(state.plan, *key)
                items = [ExplainInput(image, self.size, (target,), 0) for image, target
                         in zip(self.inputs.images, state.targets, strict=True)]
                maps_each = checkpoint_count(self.plan.model.classifier.network, params) + 1
                cost = maps_each * self.plan.explain_seconds(state.plan)
                state.randomised[key] = computed(
                    await self.runner.batch(job, items, [cost] * len(items), self.caller))
            outputs = state.randomised[key]
            original = torch.stack([o.original for o in outputs])
            maps = torch.stack([o.maps for o in outputs])
            state.results[index] = await self._decode(spec.summarise, original, maps,
                                                      outputs[0].layers, params)

        return step

    def _forward(self, metrics: list[tuple[int, ForwardMetric]]) -> Step:
        async def step(state: _Method) -> None:
            probes, counts = await self._decode(self._probes, state, metrics)
            cost = FORWARD * state.plan.row_seconds
            scores: list[ProbeScore] = computed(await self.runner.batch(
                self.engines.job(self.plan.model.key), probes, [cost] * len(probes),
                self.caller))
            n = len(self.inputs.images)
            clean = _scores(scores[:n], state.targets, 1)
            clean = Scores(*(getattr(clean, f)[:, 0] for f in _FIELDS))
            offset = n
            for (index, spec), count in zip(metrics, counts, strict=True):
                part = _scores(scores[offset : offset + n * count], state.targets, count)
                offset += n * count
                state.results[index] = await self._decode(
                    spec.summarise, self.inputs.images, state.heatmaps, clean, part,
                    self.plan.metrics[index].params)

        return step

    def _probes(self, state: _Method, metrics: list[tuple[int, ForwardMetric]],
                ) -> tuple[list[Probe], list[int]]:
        """The clean images' probes, then each metric's, image by image."""
        images, targets = self.inputs.images, state.targets
        probes = [Probe(image.clone, target) for image, target in zip(images, targets,
                                                                      strict=True)]
        counts = []
        for index, spec in metrics:
            params = self.plan.metrics[index].params
            per_image = [spec.inputs(image, heatmap, params)
                         for image, heatmap in zip(images, state.heatmaps, strict=True)]
            probes += [Probe(build, target) for built, target in zip(per_image, targets,
                                                                      strict=True)
                       for build in built]
            counts.append(len(per_image[0]))
        return probes, counts

    async def _decode(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await self.runner.engine.pool.decode(fn, *args)

    def outcome(self, state: _Method) -> MethodOutcome:
        """Every metric of the method, in the request's order (the map-only ones computed
        now)."""
        outcomes = []
        for index, metric in enumerate(self.plan.metrics):
            spec = metric.spec
            if isinstance(spec, MapMetric):
                result = spec.score(state.heatmaps, metric.params)
            elif isinstance(spec, MaskMetric):
                result = spec.score(state.heatmaps, self.inputs.masks, metric.params)
            else:
                result = state.results[index]
            outcomes.append(metric_outcome(metric, result))
        return method_outcome(state.plan, outcomes)


_FIELDS = ("target", "logit", "probability", "predicted")


def _scores(scores: Sequence[ProbeScore], targets: Sequence[int], count: int) -> Scores:
    """Probe scores laid out image by image, `count` per image, as (N, count) tensors."""
    shape = (len(targets), count)
    return Scores(
        torch.tensor(targets)[:, None].expand(shape),
        torch.tensor([s.logit for s in scores], dtype=torch.float64).view(shape),
        torch.tensor([s.probability for s in scores], dtype=torch.float64).view(shape),
        torch.tensor([s.predicted for s in scores]).view(shape),
    )


def _decode_all(plan: AssessPlan, max_pixels: int) -> _Inputs:
    config = plan.model.config
    images, masks = [], []
    for index, item in enumerate(plan.call.items):
        try:
            pixels, size = model_input(plan.model, item.image, max_pixels)
            masks.append(_mask(item, size, (config.height, config.width)))
        except InvalidRequest as error:
            message = str(error)
            raise InvalidRequest(message if message.startswith("image ") else
                                 f"image {index}: {message}") from None
        images.append(pixels)
    targets = [-1 if item.target is None else item.target for item in plan.call.items]
    return _Inputs(torch.stack(images), torch.stack(masks), targets)


def _mask(item: AssessItem, size: tuple[int, int], model_size: tuple[int, int]) -> Tensor:
    """The item's ground truth at the model's input size: a pixel is on the object when at
    least half of the area it covers in the sent image is (empty when none was given)."""
    height, width = size
    mask = torch.zeros(size, dtype=torch.bool)
    if isinstance(item.mask, InvalidRequest):
        raise item.mask
    if item.mask is not None:
        if tuple(item.mask.shape) != size:
            raise InvalidRequest(f"mask is {tuple(item.mask.shape)}; the image is {size}")
        mask |= torch.from_numpy(item.mask != 0)
    for x0, y0, x1, y1 in item.boxes:
        if x1 > width or y1 > height:
            raise InvalidRequest(f"box {(x0, y0, x1, y1)} lies outside the {width}×{height} "
                                 "image")
    if item.boxes:
        mask |= boxes_mask(list(item.boxes), height, width)
    return resize(mask.float(), *model_size) >= 0.5
