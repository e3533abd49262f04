"""The model parameter randomisation test's maps, made on the worker that runs the batch.

The batch's instance (the replica as loaded, batch norms unfolded) is copied, its copy's layers
re-initialised top-down (assessment/randomisation.py), and the method's maps of every item taken
at each checkpoint; the copy is dropped when the batch ends. It is never shared, never served,
never written anywhere. The copy keeps the instance's forward pre-hooks, among them the engine's
pass guard (engine/guard.py), so deadlines, cancellation and preemption act between its passes
as between the instance's own.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import cast

import torch
from torch import Tensor, nn

from saliency_service.assessment.running import randomised_maps
from saliency_service.engine.placement import stack_on
from saliency_service.engine.work import BatchKey, Job, params_key
from saliency_service.models.classifier import Classifier
from saliency_service.models.loading import LoadedModel
from saliency_service.operations.explain import ExplainPlan
from saliency_service.operations.explain_batch import ExplainInput, method_arguments


@dataclass(frozen=True)
class RandomisedMaps:
    """One image's original map (H, W), its maps at each checkpoint (L, H, W), and the last
    layer re-initialised at each."""

    original: Tensor
    maps: Tensor
    layers: list[str]


def randomisation_job(plan: ExplainPlan, seed: int, checkpoints: int) -> Job:
    """Items are ExplainInputs with one target each; they batch with items of the same method,
    parameters, seed and checkpoints (so one randomised copy serves the whole batch)."""
    spec, params = plan.spec, plan.params
    key = params_key({**params, "randomisation seed": seed, "checkpoints": checkpoints})
    return Job(
        BatchKey(plan.model.key, "randomisation", spec.name, key),
        lambda instance, items, rows: randomised(instance, plan, items, seed, checkpoints, rows),
        chunking="inside" if spec.chunks else "passes",
        foldable=False,
    )


def randomised(
    instance: LoadedModel,
    plan: ExplainPlan,
    items: list[ExplainInput],
    seed: int,
    checkpoints: int,
    rows: int | None,
) -> list[RandomisedMaps]:
    """Maps of `items` by a randomised copy of `instance` (see the module docstring)."""
    spec, params = plan.spec, plan.params
    images = stack_on(instance.device, [item.pixels for item in items])
    targets = torch.tensor([item.targets[0] for item in items], device=instance.device)

    def explain(model: nn.Module, x: Tensor, t: Tensor) -> Tensor:
        copy = dataclasses.replace(instance, classifier=cast(Classifier, model))
        own = method_arguments(copy, spec, params, rows)
        return spec.function(model, x, t, **own).heatmap.float()

    original, maps, layers = randomised_maps(
        instance.classifier, _network, explain, images, targets, seed, checkpoints
    )
    return [RandomisedMaps(original[i].cpu(), maps[i].cpu(), layers) for i in range(len(items))]


def _network(model: nn.Module) -> nn.Module:
    """The network inside the classifier: its layers are the ones randomised (the pixel
    normalisation outside them is not a learnt layer)."""
    return model.network if isinstance(model, Classifier) else model
