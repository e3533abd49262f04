"""What every metric returns, and the registry records that describe the four kinds of metric.

A metric is judged on maps the service made: each image's heatmap (H, W) at the model's input
size, for one target class. The kinds differ in what they need beyond the map:

- `MapMetric`: the map alone (complexity); `MaskMetric`: the map and a ground-truth mask
  (localisation);
- `ForwardMetric`: forward passes of perturbed copies of the image (deletion, insertion, ROAD,
  infidelity, faithfulness correlation). `inputs` lists the copies, each built lazily (on the
  worker that scores it), and `summarise` turns their scores into the metric;
- `ExplainedMetric`: maps of other inputs or classes made by the same method (max-sensitivity,
  local Lipschitz estimate, random-logit test);
- `RandomisationMetric`: maps of the same input by the model with its layers re-initialised
  (model parameter randomisation).

All randomness comes from generators seeded with the metric's `seed`: sample k of every image
draws from `sample_generator(seed, k)`, on the CPU in float64, so an image gets the same draws
in any batch, at any precision, on any device.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import cast

import torch
from torch import Tensor

from saliency_service.params import Param

Params = Mapping[str, object]
Builder = Callable[[], Tensor]
FAMILIES = ("faithfulness", "randomisation", "robustness", "localisation", "complexity")


@dataclass
class Result:
    """A metric over a batch of maps.

    Shape:
        values: (N,) one score per image (NaN where it is undefined, e.g. no mask).
        curves: (N, K) the curve behind each score, sampled at `curve_x` (fractions of pixels,
            or checkpoints named by `curve_labels`); None for metrics without one.
    """

    values: Tensor
    curves: Tensor | None = None
    curve_x: list[float] = field(default_factory=list)
    curve_labels: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Scores:
    """What forward passes said about inputs: the explained class (`target`), its logit and
    softmax probability, and the predicted class.

    Shape:
        each: (N,) for one input per image, (N, K) for K per image.
    """

    target: Tensor
    logit: Tensor
    probability: Tensor
    predicted: Tensor

    @classmethod
    def of(cls, logits: Tensor, targets: Tensor) -> Scores:
        """Scores of `logits` (M, classes) for `targets` (M,), in float64."""
        rows = torch.arange(len(targets), device=logits.device)
        logits = logits.double()
        return cls(
            targets,
            logits[rows, targets],
            logits.softmax(dim=1)[rows, targets],
            logits.argmax(dim=1),
        )


def sample_generator(seed: int, sample: int) -> torch.Generator:
    """The CPU generator of sample `sample` for a metric seeded with `seed` (distinct pairs give
    distinct seeds for fewer than 2**20 samples)."""
    return torch.Generator().manual_seed(seed * 2**20 + sample)


@dataclass(frozen=True)
class MetricSpec:
    """What every registry record has.

    `params` are resolved and checked by `params.resolve_params` before any work; `check(params,
    pixels)` refuses combinations that cannot apply to maps of `pixels` pixels (raises
    InvalidRequest). `per_map`: it may be asked for in an Explain request's `assess` parameter,
    its value landing in each explanation's diagnostics as `diagnostic`.
    """

    name: str
    family: str
    params: tuple[Param, ...]
    description: str
    higher_is_better: bool
    check: Callable[[Params, int], None]
    per_map: bool

    @property
    def diagnostic(self) -> str:
        return f"{self.name}_auc" if self.name in ("deletion", "insertion") else self.name


@dataclass(frozen=True)
class MapMetric(MetricSpec):
    """`score(heatmaps (N, H, W), params) -> Result`: the map alone (complexity)."""

    score: Callable[[Tensor, Params], Result]


@dataclass(frozen=True)
class MaskMetric(MetricSpec):
    """`score(heatmaps (N, H, W), masks (N, H, W) bool, params) -> Result`: the map against
    the object's ground truth (localisation); NaN for an image whose mask is empty."""

    score: Callable[[Tensor, Tensor, Params], Result]


@dataclass(frozen=True)
class ForwardMetric(MetricSpec):
    """`inputs(image (C, H, W), heatmap (H, W), params)` builds the perturbed copies to score;
    `summarise(images, heatmaps, clean Scores (N,), Scores (N, K), params) -> Result`, where
    `clean` scores the unperturbed images; `rows(params, pixels)` counts the copies per image."""

    inputs: Callable[[Tensor, Tensor, Params], list[Builder]]
    summarise: Callable[[Tensor, Tensor, Scores, Scores, Params], Result]
    rows: Callable[[Params, int], int]


@dataclass(frozen=True)
class ExplainedMetric(MetricSpec):
    """`inputs(images (N, C, H, W), targets (N,), classes, params, k)` gives sample k's
    (images, targets) to explain by the same method; `summarise(images, heatmaps (N, H, W),
    maps (N, S, H, W) of the S samples, targets, params) -> Result`; `samples(params)` is S."""

    inputs: Callable[[Tensor, Tensor, int, Params, int], tuple[Tensor, Tensor]]
    summarise: Callable[[Tensor, Tensor, Tensor, Tensor, Params], Result]
    samples: Callable[[Params], int]


@dataclass(frozen=True)
class RandomisationMetric(MetricSpec):
    """`summarise(original (N, H, W), randomised (N, L, H, W), layer names, params) -> Result`
    over the maps after each of L re-initialisation checkpoints."""

    summarise: Callable[[Tensor, Tensor, Sequence[str], Params], Result]


def no_check(_params: Params, _pixels: int) -> None:
    """Every combination of valid parameter values applies."""


def nan_values(count: int) -> Tensor:
    return torch.full((count,), math.nan, dtype=torch.float64)


def number(params: Params, name: str) -> float:
    """A resolved number parameter (`params.resolve_params` checked its type)."""
    return float(cast(float, params[name]))


def integer(params: Params, name: str) -> int:
    """A resolved integer parameter."""
    return int(cast(int, params[name]))


def text(params: Params, name: str) -> str:
    """A resolved text parameter."""
    return str(params[name])
