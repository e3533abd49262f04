"""What Assess reports: per method, each metric's per-image values, curves and their means."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from saliency_service.assessment.base import Result
from saliency_service.operations.assess_plan import MetricPlan
from saliency_service.operations.explain import ExplainPlan
from saliency_service.params import ParamValue


@dataclass
class MetricOutcome:
    """One metric of one method: per image (request order), and averaged over the images
    where it is defined."""

    name: str
    settings: dict[str, ParamValue]
    higher_is_better: bool
    values: list[float]
    curve_x: list[float] = field(default_factory=list)
    curve_labels: list[str] = field(default_factory=list)
    curves: list[list[float]] = field(default_factory=list)

    @property
    def mean(self) -> float:
        return _nanmean(self.values)

    @property
    def mean_curve(self) -> list[float]:
        return [_nanmean(column) for column in zip(*self.curves, strict=True)]


@dataclass
class MethodOutcome:
    method: str
    params: dict[str, ParamValue]
    metrics: list[MetricOutcome]


@dataclass
class AssessReport:
    """Per image, the class whose maps were assessed; per method, every metric."""

    targets: list[int]
    methods: list[MethodOutcome]
    model_version: str = ""


def metric_outcome(plan: MetricPlan, result: Result) -> MetricOutcome:
    return MetricOutcome(
        name=plan.spec.name,
        settings=dict(plan.params),
        higher_is_better=plan.spec.higher_is_better,
        values=[float(v) for v in result.values.tolist()],
        curve_x=list(result.curve_x),
        curve_labels=list(result.curve_labels),
        curves=[] if result.curves is None else [[float(v) for v in row]
                                                 for row in result.curves.tolist()],
    )


def method_outcome(plan: ExplainPlan, metrics: list[MetricOutcome]) -> MethodOutcome:
    """The method's own parameters as they ran (a layer by its name; tensors left out)."""
    own = {p.name: plan.params[p.name] for p in plan.spec.params
           if plan.params[p.name] is not None and not isinstance(plan.params[p.name], np.ndarray)}
    return MethodOutcome(plan.spec.name, own, metrics)


def _nanmean(values: tuple[float, ...] | list[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return sum(finite) / len(finite) if finite else math.nan
