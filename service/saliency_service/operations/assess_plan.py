"""Assess, validated and priced: the methods, the metrics with their settings, the whole cost.

Everything about the request that is not one image's is checked here, before anything is
queued; the whole assessment is priced (every explanation, every forward pass of every metric)
so that it is refused at once when it exceeds a cap or the server's admission.
"""

from __future__ import annotations

from dataclasses import dataclass

from saliency_service.assessment import METRICS
from saliency_service.assessment.base import (
    ExplainedMetric,
    ForwardMetric,
    MaskMetric,
    MetricSpec,
    RandomisationMetric,
)
from saliency_service.assessment.randomisation import checkpoint_count
from saliency_service.errors import InvalidRequest
from saliency_service.models.loading import LoadedModel
from saliency_service.operations.calls import AssessCall, ExplainCall, ExplainItem
from saliency_service.operations.explain import (
    FORWARD,
    ExplainPlan,
    check_forward_only,
    plan_explain,
)
from saliency_service.params import Param, ParamValue, resolve_params

MAX_METHODS = 24
MAX_METRICS = 32
# Bytes of one metric's result beyond its numbers (names, settings, framing), generously.
RESULT_OVERHEAD_BYTES = 1024


def metric(name: str) -> MetricSpec:
    """The registry record of metric `name`.

    Raises:
        InvalidRequest: no such metric; the message lists the valid ones.
    """
    spec = METRICS.get(name)
    if spec is None:
        raise InvalidRequest(
            f"metric {name!r} is unset or unknown; valid: {', '.join(sorted(METRICS))}"
        )
    return spec


@dataclass(frozen=True)
class MetricEntry:
    """A metric as ListMethods describes it."""

    name: str
    family: str
    description: str
    params: tuple[Param, ...]
    higher_is_better: bool
    needs_ground_truth: bool
    per_map: bool


def metric_entries() -> list[MetricEntry]:
    return [
        MetricEntry(spec.name, spec.family, spec.description, spec.params,
                    spec.higher_is_better, isinstance(spec, MaskMetric), spec.per_map)
        for spec in METRICS.values()
    ]


@dataclass(frozen=True)
class MetricPlan:
    spec: MetricSpec
    params: dict[str, ParamValue]


@dataclass(frozen=True)
class AssessPlan:
    """A validated assessment: its methods (Explain plans), metrics, and the call."""

    model: LoadedModel
    methods: list[ExplainPlan]
    metrics: list[MetricPlan]
    call: AssessCall

    @property
    def pixels(self) -> int:
        return self.model.config.height * self.model.config.width

    def explain_seconds(self, method: ExplainPlan) -> float:
        """Estimated device-seconds of one map by `method`."""
        size = (self.model.config.height, self.model.config.width)
        return method.price(ExplainItem(b""), size).seconds

    def maps_per_image(self) -> int:
        """Maps each method makes of an image: its own, the explained metrics' inputs', and
        the randomised models' (one original and one per checkpoint, shared by the metrics
        that randomise alike)."""
        count = 1
        cascades = set()
        for m in self.metrics:
            if isinstance(m.spec, ExplainedMetric):
                count += m.spec.samples(m.params)
            elif isinstance(m.spec, RandomisationMetric):
                cascades.add((m.params["seed"], m.params["checkpoints"]))
        for _, checkpoints in cascades:
            count += checkpoint_count(self.model.classifier.network, {"checkpoints":
                                                                      checkpoints}) + 1
        return count

    def probes_per_image(self) -> int:
        """Forward passes the forward-only metrics make of an image (and its clean pass)."""
        count = sum(m.spec.rows(m.params, self.pixels) for m in self.metrics
                    if isinstance(m.spec, ForwardMetric))
        return count + 1 if count else 0

    def seconds(self) -> float:
        """Estimated device-seconds of the whole assessment."""
        maps, probes = self.maps_per_image(), self.probes_per_image()
        per_image = sum(maps * self.explain_seconds(method) + probes * FORWARD * method.row_seconds
                        for method in self.methods)
        return per_image * len(self.call.items)

    def reply_bytes(self) -> int:
        """The report's size: per method and metric, a value and a curve point per image."""
        points = 1
        for m in self.metrics:
            if isinstance(m.spec, ForwardMetric):
                points += m.spec.rows(m.params, self.pixels) + 1
            elif isinstance(m.spec, RandomisationMetric):
                points += checkpoint_count(self.model.classifier.network, m.params)
        per_method = len(self.metrics) * RESULT_OVERHEAD_BYTES + 9 * points * len(self.call.items)
        return len(self.methods) * per_method


def plan_assess(
    model: LoadedModel, call: AssessCall, row_seconds: float, max_pixels: int
) -> AssessPlan:
    """Check the methods (as Explain would), the metrics and their parameters, the targets.

    Raises:
        InvalidRequest, UnsupportedMethod, InvalidLayer: what is wrong, before any work.
    """
    if not 1 <= len(call.methods) <= MAX_METHODS:
        raise InvalidRequest(f"give 1 to {MAX_METHODS} methods, got {len(call.methods)}")
    if not 1 <= len(call.metrics) <= MAX_METRICS:
        raise InvalidRequest(f"give 1 to {MAX_METRICS} metrics, got {len(call.metrics)}")
    methods = []
    for name, params in call.methods:
        method = plan_explain(model, ExplainCall(model.config.name, name, [], params),
                              row_seconds, max_pixels)
        if method.spec.name == "class_model_visualization":
            raise InvalidRequest("class_model_visualization makes an image, not a map of the "
                                 "input: there is nothing to assess")
        if method.params["assess"]:
            raise InvalidRequest("leave the method's `assess` parameter unset in Assess")
        methods.append(method)
    pixels = model.config.height * model.config.width
    metrics = []
    for name, given in call.metrics:
        spec = metric(name)
        # Randomisation re-initialises the torch network's layers: an ONNX-only model has none.
        check_forward_only(model, spec.name, not isinstance(spec, RandomisationMetric), "metric")
        params = resolve_params(spec.name, spec.params, given)
        spec.check(params, pixels)
        metrics.append(MetricPlan(spec, params))
    classes = model.config.num_classes
    for index, item in enumerate(call.items):
        if item.target is not None and not 0 <= item.target < classes:
            raise InvalidRequest(f"image {index}: target {item.target} is not in "
                                 f"0..{classes - 1}")
        for box in item.boxes:
            x0, y0, x1, y1 = box
            if not (0 <= x0 < x1 and 0 <= y0 < y1):
                raise InvalidRequest(f"image {index}: box {box} is empty or negative")
    if any(isinstance(m.spec, MaskMetric) for m in metrics) and not any(
        item.mask is not None or item.boxes for item in call.items
    ):
        raise InvalidRequest("localisation metrics need a mask or boxes for at least one image")
    return AssessPlan(model, methods, metrics, call)
