"""Run a metric of each kind in one process: forward passes and explanations as callables.

The service runs the same records through its engine (operations/assess.py), spreading the
forward passes over batches; these functions run them in place, chunk by chunk, for an Explain
request's per-map diagnostics, for tests and for benchmarks.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from saliency_service.assessment.base import (
    Builder,
    ExplainedMetric,
    ForwardMetric,
    Params,
    RandomisationMetric,
    Result,
    Scores,
    integer,
)
from saliency_service.assessment.randomisation import cascade

# images (M, C, H, W) → logits (M, classes)
Forward = Callable[[Tensor], Tensor]
# images (M, C, H, W), targets (M,) → heatmaps (M, H, W)
Explain = Callable[[Tensor, Tensor], Tensor]
# a model, images, targets → heatmaps of that model
ExplainWith = Callable[[nn.Module, Tensor, Tensor], Tensor]


def score(forward: Forward, builders: Sequence[Builder], targets: Sequence[int],
          chunk_size: int | None = None) -> Scores:
    """Build and score every input, `chunk_size` at a time (None: all at once).

    Shape:
        returns Scores of shape (len(builders),).
    """
    size = chunk_size or max(len(builders), 1)
    parts: list[Scores] = []
    for start in range(0, len(builders), size):
        batch = torch.stack([build() for build in builders[start : start + size]])
        wanted = torch.tensor(targets[start : start + size], device=batch.device)
        with torch.no_grad():
            parts.append(Scores.of(forward(batch), wanted))
    return Scores(*(torch.cat([getattr(p, f) for p in parts]) for f in
                    ("target", "logit", "probability", "predicted")))


def forward_metric(
    spec: ForwardMetric,
    forward: Forward,
    images: Tensor,
    heatmaps: Tensor,
    targets: Tensor,
    params: Params,
    chunk_size: int | None = None,
) -> Result:
    """`spec` over a batch: the clean images and every perturbed copy scored by `forward`.

    Shape:
        images: (N, C, H, W); heatmaps: (N, H, W); targets: (N,).
    """
    wanted = [int(t) for t in targets]
    clean = score(forward, [images[i].clone for i in range(len(images))], wanted, chunk_size)
    builders = [spec.inputs(image, heatmap, params) for image, heatmap in zip(images, heatmaps,
                                                                              strict=True)]
    count = len(builders[0])
    flat = score(forward, [b for per_image in builders for b in per_image],
                 [t for t in wanted for _ in range(count)], chunk_size)
    per_image = Scores(*(getattr(flat, f).view(len(images), count) for f in
                         ("target", "logit", "probability", "predicted")))
    return spec.summarise(images, heatmaps, clean, per_image, params)


def explained_metric(
    spec: ExplainedMetric,
    explain: Explain,
    images: Tensor,
    heatmaps: Tensor,
    targets: Tensor,
    classes: int,
    params: Params,
) -> Result:
    """`spec` over a batch: its inputs explained by `explain`, one sample at a time."""
    maps = [explain(*spec.inputs(images, targets, classes, params, k))
            for k in range(spec.samples(params))]
    return spec.summarise(images, heatmaps, torch.stack(maps, dim=1), targets, params)


def randomised_maps(
    model: nn.Module,
    network: Callable[[nn.Module], nn.Module],
    explain: ExplainWith,
    images: Tensor,
    targets: Tensor,
    seed: int,
    checkpoints: int,
) -> tuple[Tensor, Tensor, list[str]]:
    """Maps of a private copy of `model`, before and after each randomisation checkpoint.

    The copy is made here, randomised in place layer by layer (`network(copy)` holds the
    layers), and dropped on return: `model` is never changed and no copy outlives the call.

    Returns:
        the original maps (N, H, W), the maps at each checkpoint (N, L, H, W), and the name of
        the last layer randomised at each.
    """
    randomised = copy.deepcopy(model)
    try:
        original = explain(randomised, images, targets)
        maps, names = [], []
        for name in cascade(network(randomised), seed, checkpoints):
            maps.append(explain(randomised, images, targets))
            names.append(name)
        return original, torch.stack(maps, dim=1), names
    finally:
        del randomised


def randomisation_metric(
    spec: RandomisationMetric,
    model: nn.Module,
    network: Callable[[nn.Module], nn.Module],
    explain: ExplainWith,
    images: Tensor,
    targets: Tensor,
    params: Params,
) -> Result:
    """`spec` over a batch, randomising a copy of `model`."""
    original, maps, names = randomised_maps(
        model, network, explain, images, targets, integer(params, "seed"),
        integer(params, "checkpoints"),
    )
    return spec.summarise(original, maps, names, params)
