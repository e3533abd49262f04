"""Every RPC's work as the transport calls it: plan (validate once) → price → admit → batch.

Transport converts protobuf to the calls of calls.py and back; this is the only thing it calls.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from saliency_service.attacks import ATTACKS
from saliency_service.attacks.base import AttackSpec
from saliency_service.config import ServerConfig
from saliency_service.engine.engine import Engine
from saliency_service.errors import InvalidRequest, SaliencyError
from saliency_service.explainers import EXPLAINERS
from saliency_service.explainers.base import ExplainerSpec
from saliency_service.metrics import Metrics
from saliency_service.models.loading import LoadedModel
from saliency_service.models.repository import Entry, ModelRepository
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
from saliency_service.operations.lifecycle import Change, ModelLifecycle
from saliency_service.operations.predict import ClassScore, plan_predict
from saliency_service.operations.probes import ForwardEngines
from saliency_service.operations.runner import Plan, RequestRunner
from saliency_service.params import Param

UNKNOWN = "unknown"
T = TypeVar("T")


@dataclass(frozen=True)
class Answer(Generic[T]):
    """Per image its output or its own error, and the model version that computed them."""

    results: list[T | SaliencyError]
    version: str


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
        self,
        repository: ModelRepository,
        engine: Engine,
        config: ServerConfig,
        metrics: Metrics,
        lifecycle: ModelLifecycle,
    ) -> None:
        self.repository = repository
        self.lifecycle = lifecycle
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

    def models(self) -> list[Entry]:
        """Every version of every model, serving or not (ListModels)."""
        return self.repository.entries()

    def model(self, name: str, version: str = "") -> LoadedModel:
        """Raises UnknownModel (its message quotes `name` cut short), ModelNotReady."""
        return self.repository.get(name, version)

    def is_default(self, model: LoadedModel) -> bool:
        return self.repository.get(model.config.name).key == model.key

    def row_seconds(self, model: LoadedModel) -> float:
        """Measured seconds per forward+backward row of `model` (pricing's unit)."""
        return self.engine.times.row_seconds(model.key)

    async def reload(self, names: Sequence[str]) -> list[Change]:
        """Apply the repository's changes now (lifecycle.py)."""
        return await self.lifecycle.reload(names)

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

    async def predict(self, call: PredictCall, caller: Caller) -> Answer[list[ClassScore]]:
        return await self._answer(
            call.model, call.version, call.images, caller,
            lambda model, seconds, pixels: plan_predict(model, call.top_k, seconds, pixels),
        )

    async def explain(self, call: ExplainCall, caller: Caller) -> Answer[ExplainOutput]:
        return await self._answer(
            call.model, call.version, call.items, caller,
            lambda model, seconds, pixels: explain_op.plan_explain(model, call, seconds, pixels),
        )

    async def attack(self, call: AttackCall, caller: Caller) -> Answer[AttackOutcome]:
        return await self._answer(
            call.model, call.version, call.items, caller,
            lambda model, seconds, pixels: attack_op.plan_attack(model, call, seconds, pixels),
        )

    async def _answer(
        self,
        name: str,
        version: str,
        items: Sequence[Any],
        caller: Caller,
        plan: Callable[[LoadedModel, float, int], Plan[Any]],
    ) -> Answer[Any]:
        """Plan on the model version the call names (held until answered), then run it."""
        with self.lifecycle.using(name, version) as model:
            self._check_count(len(items))
            planned = plan(model, self.row_seconds(model), self.config.max_image_pixels)
            results = (await self.runner.run(planned, items, caller)).results
            return Answer(results, model.config.version)

    async def evaluate(
        self, call: EvaluateCall, caller: Caller
    ) -> AsyncIterator[Progress | Report]:
        with self.lifecycle.using(call.model, call.version) as model:
            self._check_count(len(call.images))
            if len(call.labels) != len(call.images):
                raise InvalidRequest("every image of an evaluation needs its label")
            plan = plan_evaluate(
                model, call, self.row_seconds(model), self.config.max_image_pixels
            )
            async for message in evaluate(plan, self.runner, caller):
                yield message

    async def assess(
        self, call: AssessCall, caller: Caller
    ) -> AsyncIterator[Progress | AssessReport]:
        with self.lifecycle.using(call.model, call.version) as model:
            self._check_count(len(call.items))
            plan = plan_assess(model, call, self.row_seconds(model), self.config.max_image_pixels)
            async for message in assess(plan, self.runner, self.engines, caller):
                yield message

    def _check_count(self, count: int) -> None:
        if count == 0:
            raise InvalidRequest("the request has no images")
        if count > self.config.max_items_per_request:
            raise InvalidRequest(
                f"the request has {count} images; the limit is {self.config.max_items_per_request}"
            )
