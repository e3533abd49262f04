"""Per-map assessment metrics on demand in Explain: values land in each map's diagnostics.

An Explain request names them in its `assess` parameter ("deletion,sparseness"); they run with
their default settings inside the Explain batch, on the same worker and model instance, their
forward passes and extra maps chunked like the method's own (and guarded like them: deadlines,
cancellation and preemption act between passes). They are priced with the request.
"""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor

from saliency_service.assessment import METRICS
from saliency_service.assessment.base import (
    ExplainedMetric,
    ForwardMetric,
    MapMetric,
    MetricSpec,
    Result,
)
from saliency_service.assessment.running import explained_metric, forward_metric
from saliency_service.errors import InvalidRequest, quoted
from saliency_service.explainers.base import ExplainerSpec
from saliency_service.models.loading import LoadedModel
from saliency_service.params import resolve_params

FORWARD = 1 / 3
PER_MAP = tuple(name for name, spec in METRICS.items() if spec.per_map)


def names(text: str) -> list[str]:
    """The metrics an `assess` parameter names, in order, without repeats.

    Raises:
        InvalidRequest: a name that is not a per-map metric; the message lists those that are.
    """
    wanted: list[str] = []
    for name in (part.strip() for part in text.split(",")):
        if not name or name in wanted:
            continue
        if name not in PER_MAP:
            raise InvalidRequest(f"assess: {quoted(name)} is not a per-map metric; valid: "
                                 f"{', '.join(PER_MAP)} (Assess computes every metric)")
        wanted.append(name)
    return wanted


def _defaults(spec: MetricSpec) -> dict[str, object]:
    return dict(resolve_params(spec.name, spec.params, {}))


def passes(text: str, pixels: int, method_passes: float) -> float:
    """Extra passes per map, in forward+backward units, for pricing."""
    total = 0.0
    for name in names(text):
        spec = METRICS[name]
        if isinstance(spec, ForwardMetric):
            total += (spec.rows(_defaults(spec), pixels) + 1) * FORWARD
        elif isinstance(spec, ExplainedMetric):
            total += spec.samples(_defaults(spec)) * method_passes
    return total


def diagnostics(
    text: str,
    model: LoadedModel,
    method: ExplainerSpec,
    own: Mapping[str, object],
    images: Tensor,
    targets: Tensor,
    heatmaps: Tensor,
    chunk_size: int | None,
) -> dict[str, Tensor]:
    """Each named metric's value per row, keyed by its diagnostic name ("deletion_auc").

    Shape:
        images: (R, C, H, W); targets: (R,); heatmaps: (R, H, W) at the model's size.
    """

    def explain(x: Tensor, t: Tensor) -> Tensor:
        return method.function(model.classifier, x, t, **own).heatmap

    values: dict[str, Tensor] = {}
    for name in names(text):
        spec = METRICS[name]
        params = _defaults(spec)
        result: Result
        if isinstance(spec, ForwardMetric):
            result = forward_metric(spec, model.classifier, images, heatmaps, targets, params,
                                    chunk_size)
        elif isinstance(spec, ExplainedMetric):
            result = explained_metric(spec, explain, images, heatmaps, targets,
                                      model.config.num_classes, params)
        elif isinstance(spec, MapMetric):
            result = spec.score(heatmaps, params)
        else:
            raise InvalidRequest(f"{name} is not a per-map metric")
        values[spec.diagnostic] = result.values
    return values
