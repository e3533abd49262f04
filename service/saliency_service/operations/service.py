"""Every RPC's work as the transport calls it: plan (validate once) → price → admit → batch.

Transport converts protobuf to the calls of calls.py and back; this is the only thing it calls.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from saliency_service.attacks import ATTACKS
from saliency_service.attacks.base import AttackSpec
from saliency_service.config import ServerConfig
from saliency_service.engine.engine import Engine
from saliency_service.errors import InvalidRequest, SaliencyError
from saliency_service.explainers import EXPLAINERS
from saliency_service.explainers.base import ExplainerSpec
from saliency_service.metrics import Metrics
from saliency_service.models.loading import LoadedModel
from saliency_service.models.repository import ModelRepository
from saliency_service.operations import attack as attack_op
from saliency_service.operations import explain as explain_op
from saliency_service.operations.assess import assess
from saliency_service.operations.assess_plan import MetricEntry, metric_entries, plan_assess
from saliency_service.operations.assess_report import AssessReport
from saliency_service.operations.attack_batch import AttackOutcome
from saliency_service.operations.calls import (
    AssessCall,
    AttackCall,
    Caller,
    EvaluateCall,
    ExplainCall,
    PredictCall,
)
from saliency_service.operations.evaluate import Progress, Report, evaluate, plan_evaluate
from saliency_service.operations.explain_batch import ExplainOutput
from saliency_service.operations.predict import ClassScore, plan_predict
from saliency_service.operations.probes import ForwardEngines
from saliency_service.operations.runner import RequestRunner
from saliency_service.params import Param

UNKNOWN = "unknown"


@dataclass(frozen=True)
class Limits:
    """The per-request caps and the admission limits, as ListMethods and GetModel show them."""

    max_items_per_request: int
    max_request_seconds: float
    max_message_bytes: int
    max_image_pixels: int
    max_queue_size: int
    max_queued_seconds: float
    tenant_share: float
    slice_ms: float


@dataclass(frozen=True)
class Catalogue:
    """Every method with its parameters (the method's own, then the common ones)."""

    explainers: list[tuple[ExplainerSpec, tuple[Param, ...]]]
    attacks: list[tuple[AttackSpec, tuple[Param, ...]]]
    limits: Limits
    metrics: list[MetricEntry]


class Operations:
    """The service's operations over one repository and one engine."""

    def __init__(
        self, repository: ModelRepository, engine: Engine, config: ServerConfig, metrics: Metrics
    ) -> None:
        self.repository = repository
        self.engine = engine
        self.config = config
        self.runner = RequestRunner(engine, config, metrics)
        self.engines = ForwardEngines()
        self.limits = Limits(
            config.max_items_per_request,
            config.max_request_seconds,
            config.max_message_bytes,
            config.max_image_pixels,
            config.max_queue_size,
            config.max_queued_seconds,
            config.tenant_share,
            config.slice_ms,
        )

    def models(self) -> list[LoadedModel]:
        return [self.repository.get(name) for name in self.repository.names()]

    def not_ready(self) -> dict[str, str]:
        """The models that failed to load, each with its reason."""
        return self.repository.not_ready()

    def model(self, name: str) -> LoadedModel:
        """Raises UnknownModel (its message quotes `name` cut short)."""
        return self.repository.get(name)

    def row_seconds(self, name: str) -> float:
        """Measured seconds per forward+backward row of model `name` (pricing's unit)."""
        return self.engine.times.row_seconds(name)

    def label(self, name: str) -> str:
        """`name` if the server has such a model, else "unknown": metric labels stay bounded."""
        return name if self.repository.has(name) else UNKNOWN

    def catalogue(self) -> Catalogue:
        return Catalogue(
            [(s, (*s.params, *explain_op.COMMON_PARAMS)) for s in EXPLAINERS.values()],
            [(s, (*s.params, *attack_op.COMMON_PARAMS)) for s in ATTACKS.values()],
            self.limits,
            metric_entries(),
        )

    async def predict(
        self, call: PredictCall, caller: Caller
    ) -> list[list[ClassScore] | SaliencyError]:
        model = self.model(call.model)
        self._check_count(len(call.images))
        plan = plan_predict(
            model, call.top_k, self.row_seconds(model.config.name), self.config.max_image_pixels
        )
        return (await self.runner.run(plan, call.images, caller)).results

    async def explain(
        self, call: ExplainCall, caller: Caller
    ) -> list[ExplainOutput | SaliencyError]:
        model = self.model(call.model)
        self._check_count(len(call.items))
        plan = explain_op.plan_explain(
            model, call, self.row_seconds(model.config.name), self.config.max_image_pixels
        )
        return (await self.runner.run(plan, call.items, caller)).results

    async def attack(
        self, call: AttackCall, caller: Caller
    ) -> list[AttackOutcome | SaliencyError]:
        model = self.model(call.model)
        self._check_count(len(call.items))
        plan = attack_op.plan_attack(
            model, call, self.row_seconds(model.config.name), self.config.max_image_pixels
        )
        return (await self.runner.run(plan, call.items, caller)).results

    async def evaluate(
        self, call: EvaluateCall, caller: Caller
    ) -> AsyncIterator[Progress | Report]:
        model = self.model(call.model)
        self._check_count(len(call.images))
        if len(call.labels) != len(call.images):
            raise InvalidRequest("every image of an evaluation needs its label")
        plan = plan_evaluate(
            model, call, self.row_seconds(model.config.name), self.config.max_image_pixels
        )
        async for message in evaluate(plan, self.runner, caller):
            yield message

    async def assess(
        self, call: AssessCall, caller: Caller
    ) -> AsyncIterator[Progress | AssessReport]:
        model = self.model(call.model)
        self._check_count(len(call.items))
        plan = plan_assess(
            model, call, self.row_seconds(model.config.name), self.config.max_image_pixels
        )
        async for message in assess(plan, self.runner, self.engines, caller):
            yield message

    def _check_count(self, count: int) -> None:
        if count == 0:
            raise InvalidRequest("the request has no images")
        if count > self.config.max_items_per_request:
            raise InvalidRequest(
                f"the request has {count} images; the limit is {self.config.max_items_per_request}"
            )
